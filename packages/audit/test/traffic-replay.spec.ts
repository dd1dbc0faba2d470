/** `replayPolicy` / `peerguard audit replay`: what a proposed policy changes on observed operations, by whom. */
import { describe, expect, it } from '@jest/globals'
import { type ClassifiedFlow, createTrafficAuditor, inventoryFromObject, readDecisionLog, replayPolicy } from '@peerguard/audit'
import { loadPolicy } from '@peerguard/policy'
import { INVENTORY, makeOffice, POLICY, PROPOSED_POLICY } from './traffic-office.js'

async function flowsOf(capture: string): Promise<ClassifiedFlow[]> {
  let flows: ClassifiedFlow[] = []
  const a = createTrafficAuditor({ postChecks: [(e) => void (flows = e.classified)] })
  await a.readFile(capture)
  a.finish()
  return flows
}

describe('audit replay', () => {
  it('lists the observed operations a proposed policy would deny or newly allow, by whom', async () => {
    const office = await makeOffice()
    const log = await readDecisionLog(office.log)
    const r = replayPolicy({
      proposed: loadPolicy(PROPOSED_POLICY),
      current: loadPolicy(POLICY),
      inventory: inventoryFromObject(INVENTORY),
      flows: await flowsOf(office.capture),
      entries: log.entries
    })
    const show = (list: typeof r.newlyDenied) =>
      list.map((o) => `${o.peer.name} ${o.verb} ${o.resource} (${o.source}, was ${o.before.code}, now ${o.after.code})`)
    // staff may no longer delete: alice's plain delete of public/old.txt and her logged delete of docs/q1.pdf.
    expect(show(r.newlyDenied)).toEqual([
      'alice.office.lan delete share:office/public/old.txt (traffic, was allow, now deny-rule)',
      'alice.office.lan delete share:office/docs/q1.pdf (decision-log, was allow, now deny-rule)'
    ])
    expect(r.newlyDenied[0]!.after.rule).toBe('staff-no-delete')
    // guests may write to public/: carol's plain write, denied today, would be allowed.
    expect(show(r.newlyAllowed)).toEqual([
      'carol.guest.lan put share:office/public/notes.txt (traffic, was deny-default, now allow)'
    ])
    expect(r.byPeer).toEqual({
      'alice.office.lan': { newlyDenied: 2, newlyAllowed: 0 },
      'carol.guest.lan': { newlyDenied: 0, newlyAllowed: 1 }
    })
    // carol's denied read of docs stays denied; her public read and alice's other work stay allowed.
    expect(r.unchanged).toBe(r.operations - 3)
    expect(r.unjudged).toBe(0)
  })

  it('the same policy changes nothing; without a current policy plain operations count as allowed', async () => {
    const office = await makeOffice()
    const flows = await flowsOf(office.capture)
    const entries = (await readDecisionLog(office.log)).entries
    const inventory = inventoryFromObject(INVENTORY)
    const same = replayPolicy({ proposed: loadPolicy(POLICY), current: loadPolicy(POLICY), inventory, flows, entries })
    expect(same.newlyDenied).toEqual([])
    expect(same.newlyAllowed).toEqual([])
    const observed = replayPolicy({ proposed: loadPolicy(POLICY), inventory, flows, entries })
    // What happened in clear but the policy denies shows as newly denied: carol's write, and
    // alice's read of docs/ without encryption (docs require it).
    expect(observed.newlyDenied.map((o) => `${o.peer.name} ${o.verb} ${o.resource} ${o.before.code} → ${o.after.code}`)).toEqual([
      'carol.guest.lan put share:office/public/notes.txt observed → deny-default',
      'alice.office.lan get share:office/docs/q3.pdf observed → deny-requirement'
    ])
  })

  it('without an inventory, operations seen in clear cannot be attributed: counted as unjudged', async () => {
    const office = await makeOffice()
    const r = replayPolicy({ proposed: loadPolicy(PROPOSED_POLICY), flows: await flowsOf(office.capture) })
    expect(r.operations).toBe(0)
    expect(r.unjudged).toBe(4)
    expect(() => replayPolicy({ proposed: {} as never, flows: [] })).toThrow(
      expect.objectContaining({ code: 'invalid-argument' })
    )
  })
})
