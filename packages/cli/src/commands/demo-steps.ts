import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { verifyDecisionLog, verifyDecisionLogFile } from '@peerguard/decision-log'
import { secureOutbound } from '@peerguard/channel'
import { channelTransport, connectShare, hardenedTransport } from '@peerguard/share'
import { type AddStep, attempt, type Office } from './demo-office.js'

/*
 * The demo's scenes: what bob and mallory try on the hardened share and on the plain one, and the
 * check of alice's decision log afterwards. Each adds its steps (expected and actual) through `add`.
 */

/** bob (a guest) connects to the hardened share, reads the notice, is denied a write and the salaries. */
export async function bobOnHardened(office: Office, addr: { host: string; port: number }, add: AddStep): Promise<void> {
  const { bob, alice, trust, root, notice } = office
  const bobTransport = channelTransport({ identity: bob.identity, chain: bob.chain, trust, expectedPeerId: alice.peerId })
  const bobClient = await attempt(async () => {
    const c = await connectShare(addr, { transport: bobTransport })
    c.close()
    return `certificate ok, server is ${c.remotePeer?.name ?? '?'}`
  })
  add({
    share: 'hardened',
    who: 'bob',
    action: 'connect (guest certificate)',
    expected: 'accepted',
    result: bobClient.ok ? 'accepted' : `refused: ${bobClient.code}`,
    ok: bobClient.ok
  })
  const bc = await connectShare(addr, { transport: bobTransport })
  try {
    const read = await attempt(async () => {
      const got = (await bc.readFile('public/notice.txt')).toString()
      if (got !== notice) throw new Error('wrong content')
      return undefined
    })
    add({
      share: 'hardened',
      who: 'bob',
      action: 'read public/notice.txt',
      expected: 'allowed',
      result: read.ok ? 'allowed (rule everyone-reads-public)' : `denied: ${read.code}`,
      ok: read.ok
    })
    const write = await attempt(async () => {
      await bc.writeFile('public/notice.txt', 'Lunch is cancelled.\n')
      return undefined
    })
    const unchanged = (await readFile(join(root, 'public', 'notice.txt'), 'utf8')) === notice
    add({
      share: 'hardened',
      who: 'bob',
      action: 'write public/notice.txt',
      expected: 'denied',
      result: write.ok ? 'allowed!' : `denied: ${write.code}${unchanged ? ', file unchanged' : ', FILE CHANGED'}`,
      ok: !write.ok && write.code === 'share-denied' && unchanged
    })
    const secret = await attempt(async () => {
      await bc.readFile('docs/salaries.csv')
      return undefined
    })
    add({
      share: 'hardened',
      who: 'bob',
      action: 'read docs/salaries.csv',
      expected: 'denied',
      result: secret.ok ? 'allowed!' : `denied: ${secret.code}`,
      ok: !secret.ok && secret.code === 'share-denied'
    })
  } finally {
    bc.close()
  }
}

/** mallory has a key but no certificate: refused in the handshake. */
export async function malloryOnHardened(office: Office, addr: { host: string; port: number }, add: AddStep): Promise<void> {
  const { mallory, trust } = office
  const malloryTransport = hardenedTransport({
    inbound: () => Promise.reject(new Error('client only')),
    outbound: (socket) => secureOutbound(socket, { identity: mallory.identity, trust })
  })
  const m = await attempt(async () => {
    const c = await connectShare(addr, { transport: malloryTransport, timeoutMs: 5000 })
    c.close()
    return undefined
  })
  add({
    share: 'hardened',
    who: 'mallory',
    action: 'connect (no certificate)',
    expected: 'refused',
    result: m.ok ? 'accepted!' : `refused at the handshake: ${m.code}`,
    ok: !m.ok
  })
}

/** The same transfers over a plain share: no one asks who is there, so nothing is refused. */
export async function onPlain(office: Office, paddr: { host: string; port: number }, add: AddStep): Promise<void> {
  const { plainRoot, notice } = office
  // bob repeats his transfer: the plain share cannot tell him from anyone, so nothing is refused.
  const pbc = await connectShare(paddr)
  try {
    const read = await attempt(async () => {
      if ((await pbc.readFile('public/notice.txt')).toString() !== notice) throw new Error('wrong content')
      return undefined
    })
    add({
      share: 'plain',
      who: 'bob',
      action: 'read public/notice.txt',
      expected: 'allowed',
      result: read.ok ? 'allowed (no check at all)' : `failed: ${read.code}`,
      ok: read.ok
    })
    const write = await attempt(async () => {
      await pbc.writeFile('public/notice.txt', 'Lunch is cancelled.\n')
      return undefined
    })
    const overwritten = (await readFile(join(plainRoot, 'public', 'notice.txt'), 'utf8')) !== notice
    add({
      share: 'plain',
      who: 'bob',
      action: 'write public/notice.txt',
      expected: 'allowed',
      result: write.ok && overwritten ? 'allowed: notice overwritten' : `not written${write.ok ? '' : `: ${write.code}`}`,
      ok: write.ok && overwritten
    })
  } finally {
    pbc.close()
  }
  // mallory, with no certificate, walks in and reads the private documents.
  const pm = await attempt(async () => {
    const c = await connectShare(paddr)
    try {
      await c.readFile('docs/salaries.csv')
    } finally {
      c.close()
    }
    return undefined
  })
  add({
    share: 'plain',
    who: 'mallory',
    action: 'connect, read docs/salaries.csv',
    expected: 'allowed',
    result: pm.ok ? 'allowed: nobody asked who she is' : `failed: ${pm.code}`,
    ok: pm.ok
  })
}

/** Verify the closed decision log against alice's key, then show that an edited copy is caught. */
export async function checkLog(logPath: string, signer: string, add: AddStep) {
  const report = await verifyDecisionLogFile(logPath, { key: signer })
  add({
    share: 'log',
    who: 'alice',
    action: 'verify the decision log',
    expected: 'verifies',
    result: report.ok
      ? `${report.entries} entries, ${report.checkpoints} signed checkpoint${report.checkpoints === 1 ? '' : 's'}, chain intact`
      : `FAILED: ${report.firstBad?.message ?? 'torn tail'}`,
    ok: report.ok && report.unsignedTail === 0
  })
  // A tampered copy: turn bob's denied write into an allowed one.
  const text = await readFile(logPath, 'utf8')
  const lines = text.split('\n')
  const idx = lines.findIndex((l) => l.includes('"allowed":false') && l.includes('"verb":"put"'))
  let tamperedLine: number | undefined
  if (idx >= 0) {
    lines[idx] = (lines[idx] as string).replace('"allowed":false', '"allowed":true')
    const tampered = verifyDecisionLog(lines.join('\n'), { key: signer })
    tamperedLine = tampered.firstBad?.line
    add({
      share: 'log',
      who: 'anyone',
      action: `edit line ${idx + 1} (bob's denied write)`,
      expected: 'detected',
      result:
        tampered.firstBad === undefined
          ? 'NOT detected'
          : `detected: ${tampered.firstBad.code} at line ${tampered.firstBad.line}`,
      ok: tampered.firstBad?.line === idx + 1
    })
  }
  return { report, tamperedLine }
}
