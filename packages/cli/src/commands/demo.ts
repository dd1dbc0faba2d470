import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Command } from 'commander'
import { openDecisionLog, verifyDecisionLog, verifyDecisionLogFile } from '@peerguard/decision-log'
import { secureOutbound } from '@peerguard/channel'
import { generateKeyPair, peerIdFromPublicKey } from '@peerguard/identity'
import { isPeerguardError } from '@peerguard/interface'
import { createCertificateAuthority, createTrustStore } from '@peerguard/pki'
import { loadPolicy } from '@peerguard/policy'
import {
  channelTransport,
  connectShare,
  createShareServer,
  hardenedTransport,
  policyAuthorizer,
  type ShareServer
} from '@peerguard/share'
import type { CliIO } from '../io.js'
import { wantsJson } from '../common.js'

/** The office policy the demo writes into its workspace. */
export const DEMO_POLICY = `# peerguard demo: an office share. Staff read and write everything;
# guests may only read the public folder. Anything not allowed is denied.
version: 1
description: demo office
groups:
  staff: ["ou:staff"]
  guests: ["ou:guests"]
  everyone: [staff, guests]
rules:
  - id: staff-all
    allow: [read, write]
    peers: [staff]
    resources: ["share:office/**"]
  - id: everyone-reads-public
    allow: [read]
    peers: [everyone]
    resources: ["share:office/public/**"]
`

interface Step {
  n: number
  share: 'hardened' | 'plain' | 'log'
  who: string
  action: string
  expected: string
  result: string
  ok: boolean
}

/** What an attempt came to: `ok` with a note, or the error code. */
async function attempt(
  fn: () => Promise<string | undefined>
): Promise<{ ok: true; note: string } | { ok: false; code: string; message: string }> {
  try {
    return { ok: true, note: (await fn()) ?? '' }
  } catch (err) {
    return {
      ok: false,
      code: isPeerguardError(err) ? err.code : 'internal',
      message: err instanceof Error ? err.message : String(err)
    }
  }
}

export interface DemoResult {
  steps: Step[]
  ok: boolean
  log: { path: string; entries: number; checkpoints: number; ok: boolean; signer: string; tamperedLine?: number }
  workspace: string
  seconds: number
}

type AddStep = (s: Omit<Step, 'n'>) => void

/** The office: a CA whose CRL the trust store holds, alice (staff), bob (guest), mallory (no certificate), the policy and two copies of the folder. */
async function setUpOffice(ws: string) {
  const ca = await createCertificateAuthority({ name: 'Demo Office CA' })
  // Revocation is required: the trust store holds the CA's CRL (signed like `peerguard ca crl`).
  const trust = createTrustStore({ roots: [ca.certificate], crls: [(await ca.crl()).der] })
  const mk = async (name: string, groups: string[]) => {
    const identity = generateKeyPair()
    const cert = await ca.issuePeer({ publicKey: identity.publicKey, name, groups })
    return { identity, chain: cert.chain, peerId: cert.peerId }
  }
  const alice = await mk('alice', ['staff'])
  const bob = await mk('bob', ['guests'])
  const mallory = { identity: generateKeyPair() }
  await writeFile(join(ws, 'office.yaml'), DEMO_POLICY)
  await writeFile(join(ws, 'ca.pem'), ca.certificatePem)
  const policy = loadPolicy({ path: join(ws, 'office.yaml') })

  // Alice's share: a public notice and private documents.
  const root = join(ws, 'office')
  await mkdir(join(root, 'public'), { recursive: true })
  await mkdir(join(root, 'docs'))
  const notice = 'Lunch on Friday at noon.\n'
  await writeFile(join(root, 'public', 'notice.txt'), notice)
  await writeFile(join(root, 'docs', 'salaries.csv'), 'alice,5200\nbob,4100\n')
  const plainRoot = join(ws, 'office-plain')
  await cp(root, plainRoot, { recursive: true })
  return { trust, alice, bob, mallory, policy, root, plainRoot, notice }
}

type Office = Awaited<ReturnType<typeof setUpOffice>>

/** bob (a guest) connects to the hardened share, reads the notice, is denied a write and the salaries. */
async function bobOnHardened(office: Office, addr: { host: string; port: number }, add: AddStep): Promise<void> {
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
async function malloryOnHardened(office: Office, addr: { host: string; port: number }, add: AddStep): Promise<void> {
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
async function onPlain(office: Office, paddr: { host: string; port: number }, add: AddStep): Promise<void> {
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
async function checkLog(logPath: string, signer: string, add: AddStep) {
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

/** Keep only the decision log (and its head file) for inspection, in a directory of its own. */
async function keepLog(logPath: string): Promise<string> {
  const keepDir = await mkdtemp(join(tmpdir(), 'peerguard-demo-log-'))
  const keptLog = join(keepDir, 'decisions.jsonl')
  await cp(logPath, keptLog)
  await cp(`${logPath}.head`, `${keptLog}.head`).catch(() => {})
  return keptLog
}

/**
 * Run the whole demo in a temporary workspace and return what happened. Every server is closed
 * before it returns; the workspace is removed except the decision log (unless `keep`).
 */
export async function runDemo(options: { keep?: boolean } = {}): Promise<DemoResult> {
  const started = Date.now()
  const ws = await mkdtemp(join(tmpdir(), 'peerguard-demo-'))
  const steps: Step[] = []
  const servers: ShareServer[] = []
  let logOpen: { close(): Promise<void> } | undefined
  const add: AddStep = (s) => void steps.push({ n: steps.length + 1, ...s })
  try {
    // 1. A CA, three peers and the office policy; 2. alice's folder.
    const office = await setUpOffice(ws)
    const { alice } = office

    // 3. Alice's hardened share on loopback, with a decision log signed by her key.
    const logPath = join(ws, 'decisions.jsonl')
    const log = await openDecisionLog({ path: logPath, identity: alice.identity, checkpointEvery: 8, checkpointIntervalMs: 0 })
    logOpen = log
    const hardened = createShareServer({
      root: office.root,
      shareName: 'office',
      transport: channelTransport({ identity: alice.identity, chain: alice.chain, trust: office.trust }),
      authorize: policyAuthorizer(office.policy),
      log
    })
    servers.push(hardened)
    const addr = await hardened.listen({ host: '127.0.0.1', port: 0 })
    await bobOnHardened(office, addr, add)
    await malloryOnHardened(office, addr, add)

    // 4. The same transfer over a plain share.
    const plain = createShareServer({ root: office.plainRoot, shareName: 'office' })
    servers.push(plain)
    await onPlain(office, await plain.listen({ host: '127.0.0.1', port: 0 }), add)

    // 5. Close everything, then verify the decision log against alice's key.
    for (const s of servers.splice(0)) await s.close()
    await log.close()
    logOpen = undefined
    const signer = peerIdFromPublicKey(alice.identity.publicKey).toString()
    const { report, tamperedLine } = await checkLog(logPath, signer, add)

    const keptLog = options.keep !== true ? await keepLog(logPath) : logPath
    return {
      steps,
      ok: steps.every((s) => s.ok),
      log: {
        path: keptLog,
        entries: report.entries,
        checkpoints: report.checkpoints,
        ok: report.ok,
        signer,
        ...(tamperedLine === undefined ? {} : { tamperedLine })
      },
      workspace: ws,
      seconds: (Date.now() - started) / 1000
    }
  } finally {
    for (const s of servers) await s.close().catch(() => {})
    await logOpen?.close().catch(() => {})
    if (options.keep !== true) await rm(ws, { recursive: true, force: true })
  }
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length)
}

export function registerDemoCommands(program: Command, io: CliIO): void {
  program
    .command('demo')
    .description('run a hardened and a plain LAN share side by side on loopback and show what each allows')
    .option('--keep', 'keep the temporary workspace (keys, certificates, policy, shares) for inspection')
    .option('--json', 'machine-readable output (JSON on stdout)')
    .addHelpText(
      'after',
      `
In a temporary workspace: a CA, three peers (alice on staff, bob a guest, mallory with no
certificate) and an office policy. alice serves a hardened share on 127.0.0.1; bob reads a public
file and is denied a write; mallory is refused at the handshake; then the same transfer over a
plain share. Exits 1 if any step does not behave as expected.

Example:
  $ peerguard demo
  $ npm start`
    )
    .action(async (opts: { keep?: boolean }, cmd: Command) => {
      const r = await runDemo(opts)
      if (wantsJson(cmd)) {
        io.json(r)
      } else {
        io.out('peerguard demo: one folder shared two ways on 127.0.0.1')
        io.out('')
        const head = ['#', 'share', 'peer', 'action', 'expected', 'what happened', '']
        const rows = r.steps.map((s) => [String(s.n), s.share, s.who, s.action, s.expected, s.result, s.ok ? 'ok' : 'UNEXPECTED'])
        const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)))
        io.out(`  ${head.map((h, i) => pad(h, widths[i] as number)).join('  ')}`.trimEnd())
        for (const row of rows) io.out(`  ${row.map((c, i) => pad(c, widths[i] as number)).join('  ')}`.trimEnd())
        io.out('')
        io.out(`decision log: ${r.log.path}`)
        io.out(
          `  ${r.log.entries} entries, ${r.log.checkpoints} checkpoint${r.log.checkpoints === 1 ? '' : 's'} signed by alice (${r.log.signer})`
        )
        io.out(`  verify it yourself: peerguard audit log verify ${r.log.path} --key ${r.log.signer}`)
        if (opts.keep === true) io.out(`workspace kept: ${r.workspace}`)
        io.out(
          `${r.ok ? 'every step behaved as expected' : 'SOME STEPS DID NOT BEHAVE AS EXPECTED'}; finished in ${r.seconds.toFixed(1)} s, nothing left running`
        )
      }
      if (!r.ok) {
        io.err('peerguard: error: the demo did not behave as expected (see the UNEXPECTED rows)')
        io.setExitCode(1)
      }
    })
}
