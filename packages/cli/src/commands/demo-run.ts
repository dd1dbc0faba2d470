import { cp, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDecisionLog } from '@peerguard/decision-log'
import { peerIdFromPublicKey } from '@peerguard/identity'
import { channelTransport, createShareServer, policyAuthorizer, type ShareServer } from '@peerguard/share'
import { type AddStep, setUpOffice, type Step } from './demo-office.js'
import { bobOnHardened, checkLog, malloryOnHardened, onPlain } from './demo-steps.js'

export interface DemoResult {
  steps: Step[]
  ok: boolean
  log: { path: string; entries: number; checkpoints: number; ok: boolean; signer: string; tamperedLine?: number }
  workspace: string
  seconds: number
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
