// @ts-check
// The peerguard share server of the share benchmarks, run as a daemon in its own Node process
// (as sshd and smbd are): hardened (Noise channel with certificate checks, the policy below, a
// decision log appended before every operation) or plain (TCP, no identities). Also the peers'
// credentials, passed to processes as JSON (seed, chain, CA root, CRL; base64).
//   startShareServer(...)           spawns this file with --serve-child and returns its address
//   node bench/share-server.js --serve-child <mode> <root> <creds.json> [maxConcurrentPerPeer]
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { openDecisionLog } from '@peerguard/decision-log'
import { keyPairFromSeed } from '@peerguard/identity'
import { createTrustStore } from '@peerguard/pki'
import { loadPolicy } from '@peerguard/policy'
import { channelTransport, createShareServer, policyAuthorizer } from '@peerguard/share'

/** Every peer of the benchmarks is in group staff (ou:staff), which may read and write the share. */
export const POLICY = `version: 1
groups:
  staff: ["ou:staff"]
rules:
  - id: staff-all
    allow: [read, write]
    peers: [staff]
    resources: ["share:bench/**"]
`

/** @typedef {{ seed: string, chain: string[], root: string, crl: string }} Creds */

/**
 * A new peer identity with a certificate from `ca` (group staff), as JSON-ready credentials.
 * @param {import('@peerguard/pki').CertificateAuthority} ca @param {string} name @returns {Promise<Creds>}
 */
export async function issueCreds(ca, name) {
  const seed = randomBytes(32)
  const identity = keyPairFromSeed(seed)
  const cert = await ca.issuePeer({ publicKey: identity.publicKey, name, groups: ['staff'] })
  return {
    seed: seed.toString('base64'),
    chain: cert.chain.map((x) => Buffer.from(x).toString('base64')),
    root: Buffer.from(ca.certificate).toString('base64'),
    crl: Buffer.from((await ca.crl()).der).toString('base64')
  }
}

/** The channel options for `creds`: identity, chain and its own trust store. @param {Creds} creds */
export function credsChannelOptions(creds) {
  const identity = keyPairFromSeed(Buffer.from(creds.seed, 'base64'))
  const trust = createTrustStore({ roots: [Buffer.from(creds.root, 'base64')], crls: [Buffer.from(creds.crl, 'base64')] })
  return { identity, chain: creds.chain.map((c) => Buffer.from(c, 'base64')), trust }
}

/** The hardened share transport for `creds`. @param {Creds} creds */
export function credsTransport(creds) {
  const options = credsChannelOptions(creds)
  return { identity: options.identity, transport: channelTransport(options) }
}

/**
 * Start the server in a child process. `stop()` closes it (waiting for running operations) and
 * resolves to its peak RSS and the CPU seconds it used.
 * @param {{ mode: 'hardened' | 'plain', root: string, dir: string, creds: Creds, nodeArgs?: string[], maxConcurrentPerPeer?: number }} o
 * @returns {Promise<{ addr: { host: string, port: number }, stop: () => Promise<{ maxRssMB: number, cpuSeconds: number }> }>}
 */
export async function startShareServer(o) {
  const credsFile = join(o.dir, `server-creds-${o.mode}.json`)
  await writeFile(credsFile, JSON.stringify(o.creds), { mode: 0o600 })
  const args = [fileURLToPath(import.meta.url), '--serve-child', o.mode, o.root, credsFile]
  if (o.maxConcurrentPerPeer !== undefined) args.push(String(o.maxConcurrentPerPeer))
  const child = spawn(process.execPath, [...(o.nodeArgs ?? []), ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
  /** @type {any[]} */
  const lines = []
  let buf = ''
  /** @type {((line: any) => void)[]} */
  const waiters = []
  child.stdout.on('data', (d) => {
    buf += d
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = JSON.parse(buf.slice(0, i))
      buf = buf.slice(i + 1)
      const w = waiters.shift()
      if (w) w(line)
      else lines.push(line)
    }
  })
  /** @returns {Promise<any>} */
  const next = () =>
    lines.length > 0
      ? Promise.resolve(lines.shift())
      : new Promise((resolve, reject) => {
          waiters.push(resolve)
          child.once('exit', (code) => reject(new Error(`share server exited ${code}`)))
        })
  const addr = await next()
  return {
    addr,
    stop: async () => {
      child.stdin.end()
      return next()
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--serve-child') {
  const [, , , mode, rootArg, credsFile, maxArg] = process.argv
  const root = String(rootArg)
  /** @type {Creds} */
  const creds = JSON.parse(await readFile(String(credsFile), 'utf8'))
  const { identity, transport } = credsTransport(creds)
  const log = mode === 'hardened' ? await openDecisionLog({ path: join(root, '..', 'decisions.jsonl'), identity }) : undefined
  const server = createShareServer({
    root,
    shareName: 'bench',
    ...(maxArg === undefined ? {} : { maxConcurrentPerPeer: Number(maxArg) }),
    ...(mode === 'hardened' ? { transport, authorize: policyAuthorizer(loadPolicy(POLICY)), log } : {})
  })
  const addr = await server.listen({ host: '127.0.0.1', port: 0 })
  process.stdout.write(`${JSON.stringify(addr)}\n`)
  process.stdin.resume()
  process.stdin.on('end', async () => {
    await server.close()
    await log?.close()
    const cpu = process.cpuUsage()
    const cpuSeconds = (cpu.user + cpu.system) / 1e6
    process.stdout.write(`${JSON.stringify({ maxRssMB: process.resourceUsage().maxRSS / 1024, cpuSeconds })}\n`)
    process.exit(0)
  })
}
