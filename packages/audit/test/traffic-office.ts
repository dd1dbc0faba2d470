/**
 * A small office LAN for the policy, replay, report and export tests: a hardened file server
 * (share `office`, decision log), staff alice and guest carol, sessions over the hardened channel
 * and over the plain share (packages/share/SPEC.md frames), and the node's real decision log
 * (openDecisionLog) with one entry per connection and operation, at the flows' times and ports.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDecisionLog } from '@peerguard/decision-log'
import { generateKeyPair } from '@peerguard/identity'
import { pcap, tcpConversation } from './traffic-helpers.js'

export const T0 = 1_767_000_000
export const SERVER = '10.1.0.2'
export const ALICE = '10.1.0.10'
export const CAROL = '10.1.0.50'

export const INVENTORY = {
  peers: [
    {
      name: 'fileserver.office.lan',
      peerId: 'pg-fileserver',
      groups: ['servers'],
      addresses: [SERVER],
      share: 'office',
      hardened: true
    },
    { name: 'alice.office.lan', peerId: 'pg-alice', groups: ['staff'], addresses: [ALICE] },
    { name: 'carol.guest.lan', peerId: 'pg-carol', groups: ['guests'], addresses: [CAROL] }
  ]
}

export const POLICY = `
version: 1
peers:
  alice: { name: alice.office.lan }
  carol: { name: carol.guest.lan }
groups:
  staff: [alice]
  guests: [carol]
resources:
  "share:office/docs/**":
    require: [encrypted]
rules:
  - id: staff-all
    allow: [read, write]
    peers: [staff]
    resources: ["share:office"]
  - id: guests-read-public
    allow: [read]
    peers: [guests]
    resources: ["share:office/", "share:office/public/**"]
`

/** The same office, with guests allowed to write to public/ and staff no longer deleting. */
export const PROPOSED_POLICY = `
version: 1
peers:
  alice: { name: alice.office.lan }
  carol: { name: carol.guest.lan }
groups:
  staff: [alice]
  guests: [carol]
resources:
  "share:office/docs/**":
    require: [encrypted]
rules:
  - id: staff-all
    allow: [read, write]
    peers: [staff]
    resources: ["share:office"]
  - id: staff-no-delete
    deny: [delete]
    peers: [staff]
    resources: ["share:office/**"]
  - id: guests-public
    allow: [read, write]
    peers: [guests]
    resources: ["share:office/", "share:office/public/**"]
`

function request(id: number, body: Record<string, unknown>): Buffer {
  const json = Buffer.from(JSON.stringify(body))
  const h = Buffer.alloc(9)
  h.writeUInt32BE(5 + json.length, 0)
  h[4] = 1
  h.writeUInt32BE(id, 5)
  return Buffer.concat([h, json])
}

function plain(client: string, port: number, ops: Record<string, unknown>[]): Buffer[] {
  const toServer = ops.map((op, i) => (i === 0 ? Buffer.concat([Buffer.from('PGSHARE1'), request(1, op)]) : request(i + 1, op)))
  return tcpConversation(client, SERVER, port, 7700, toServer, [Buffer.from('PGSHARE1')])
}

function hardened(client: string, port: number): Buffer[] {
  const msg1 = Buffer.concat([Buffer.from([0, 32]), Buffer.alloc(32, 0x5a)])
  const msg2 = Buffer.concat([Buffer.from([0, 200]), Buffer.alloc(200, 0x33)])
  return tcpConversation(client, SERVER, port, 7443, [msg1, Buffer.alloc(300, 0x44)], [msg2])
}

export interface OfficeSession {
  who: 'alice' | 'carol'
  port: number
  kind: 'hardened' | 'plain'
  /** Seconds after T0. */
  at: number
  /** Plain share requests (SPEC §4) or, for hardened sessions, the operations the node logged. */
  ops: { op: string; path?: string; from?: string; to?: string; allowed?: boolean; verb?: string; resource?: string }[]
  /** Leave this session out of the decision log. */
  unlogged?: boolean
}

/** The default office day. */
export const SESSIONS: OfficeSession[] = [
  // carol's legitimate hardened session: she reads public/readme.txt
  {
    who: 'carol',
    port: 50001,
    kind: 'hardened',
    at: 0,
    ops: [{ op: 'read', verb: 'get', resource: 'share:office/public/readme.txt', allowed: true }]
  },
  // the same guest writes to public/ over the plain share: the policy forbids it
  { who: 'carol', port: 50002, kind: 'plain', at: 60, ops: [{ op: 'write', path: 'public/notes.txt' }] },
  // alice reads a document over the plain share: docs must be encrypted
  { who: 'alice', port: 50003, kind: 'plain', at: 120, ops: [{ op: 'read', path: 'docs/q3.pdf' }] },
  // alice works on public/ over the plain share: allowed
  {
    who: 'alice',
    port: 50004,
    kind: 'plain',
    at: 180,
    ops: [
      { op: 'write', path: 'public/notice.txt' },
      { op: 'delete', path: 'public/old.txt' }
    ]
  },
  // alice over the hardened channel: docs, allowed; a denial the node enforced
  {
    who: 'alice',
    port: 50005,
    kind: 'hardened',
    at: 240,
    ops: [
      { op: 'read', verb: 'get', resource: 'share:office/docs/q4.pdf', allowed: true },
      { op: 'delete', verb: 'delete', resource: 'share:office/docs/q1.pdf', allowed: true }
    ]
  },
  // carol over the hardened channel: the node denied docs
  {
    who: 'carol',
    port: 50006,
    kind: 'hardened',
    at: 300,
    ops: [{ op: 'read', verb: 'get', resource: 'share:office/docs/q4.pdf', allowed: false }]
  }
]

const ADDR = { alice: ALICE, carol: CAROL }
const ID = { alice: 'pg-alice', carol: 'pg-carol' }
const NAME = { alice: 'alice.office.lan', carol: 'carol.guest.lan' }
const GROUPS = { alice: ['staff'], carol: ['guests'] }

export interface Office {
  dir: string
  capture: string
  log: string
}

/** Write the capture and the node's decision log for `sessions` into a fresh folder. */
export async function makeOffice(sessions: OfficeSession[] = SESSIONS): Promise<Office> {
  const dir = mkdtempSync(join(tmpdir(), 'pg-office-'))
  const records: { data: Buffer; ts: number }[] = []
  for (const s of sessions) {
    const frames =
      s.kind === 'plain'
        ? plain(
            ADDR[s.who],
            s.port,
            s.ops.map(({ op, path, from, to }) => ({
              op,
              ...(path === undefined ? {} : { path }),
              ...(from === undefined ? {} : { from }),
              ...(to === undefined ? {} : { to })
            }))
          )
        : hardened(ADDR[s.who], s.port)
    for (const [i, data] of frames.entries()) records.push({ data, ts: T0 + s.at + i * 0.01 })
  }
  const capture = join(dir, 'office.pcap')
  writeFileSync(capture, pcap(records))
  const log = join(dir, 'decisions.jsonl')
  let now = 0
  const node = await openDecisionLog({ path: log, identity: generateKeyPair(), clock: { now: () => now } })
  for (const s of sessions) {
    if (s.unlogged === true) continue
    now = (T0 + s.at) * 1000 + 5
    const peer = {
      ...(s.kind === 'hardened' ? { peerId: ID[s.who], name: NAME[s.who], groups: GROUPS[s.who] } : {}),
      address: `${ADDR[s.who]}:${s.port}`
    }
    await node.append({ kind: 'connection', event: 'accepted', code: 'allow', reason: s.kind, peer, mode: s.kind })
    if (s.kind !== 'hardened') continue
    for (const op of s.ops) {
      now += 2
      await node.append({
        kind: 'operation',
        allowed: op.allowed === true,
        code: op.allowed === true ? 'allow' : 'deny-default',
        reason: 'test',
        peer,
        action: op.verb === 'get' || op.verb === 'list' ? 'read' : 'write',
        verb: op.verb as string,
        resource: op.resource as string
      })
    }
  }
  await node.close()
  return { dir, capture, log }
}
