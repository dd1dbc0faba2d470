import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { saveIdentity } from '@peerguard/identity'
import { loadPolicy } from '@peerguard/policy'
import { pemEncode } from '@peerguard/pki'
import type { ConnectionDecision, ProxyConfig } from '@peerguard/proxy'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'

/** Family may `get` service:echo; everyone else falls to the default deny. */
export const POLICY = `version: 1
groups:
  fam: ["ou:family"]
rules:
  - id: family-echo
    allow: [get]
    peers: [fam]
    resources: ["service:echo"]
`

let shared: TestPki | undefined
export async function testPki(): Promise<TestPki> {
  shared ??= await makeTestPki({
    peers: [
      { name: 'alice', groups: ['family'] },
      { name: 'bob', groups: ['friends'] },
      { name: 'nas', groups: ['servers'] },
      { name: 'mallory', groups: ['family'] }
    ]
  })
  return shared
}

export function configOf(peer: TestPeer, pki: TestPki, policy = POLICY): ProxyConfig {
  return { identity: peer.identity, chain: peer.chain, trust: pki.trust, policy: loadPolicy(policy) }
}

/** A decision sink that keeps what it was given. */
export function memoryLog(): {
  entries: ConnectionDecision[]
  append(r: ConnectionDecision): Promise<void>
  /** Resolves once the log holds at least `n` entries. */
  holding(n: number): Promise<void>
} {
  const entries: ConnectionDecision[] = []
  const waiting: Array<{ n: number; resolve: () => void }> = []
  return {
    entries,
    append: async (r) => {
      entries.push(r)
      for (const w of waiting.splice(0)) {
        if (entries.length >= w.n) w.resolve()
        else waiting.push(w)
      }
    },
    holding: (n) =>
      new Promise<void>((resolve) => {
        if (entries.length >= n) resolve()
        else waiting.push({ n, resolve })
      })
  }
}

/** A TCP echo server (half-close aware: it ends after the client ended). */
export async function echoServer(): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => {})
    s.pipe(s)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      })
  }
}

/** Send `data` on a fresh connection to `port`, half-close, and collect the answer. */
export function roundTrip(port: number, data: Buffer): Promise<{ bytes: Buffer; outcome: 'end' | 'error' | 'close' }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true })
    let done = false
    const finish = (outcome: 'end' | 'error' | 'close'): void => {
      if (done) return
      done = true
      resolve({ bytes: Buffer.concat(chunks), outcome })
      s.destroy()
    }
    s.on('data', (c: Buffer) => chunks.push(c))
    s.on('end', () => finish('end'))
    s.on('error', () => finish('error'))
    s.on('close', () => finish('close'))
    s.on('connect', () => s.end(data))
  })
}

export const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

/** A free port that nothing listens on (bound, then released). */
export async function deadPort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

/** Write a peer's files (key 0600, cert PEM) and the CA root into a fresh directory. */
export async function peerFiles(
  pki: TestPki,
  peer: TestPeer
): Promise<{ dir: string; key: string; cert: string; root: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'peerguard-proxy-'))
  const key = join(dir, `${peer.name}.key`)
  const cert = join(dir, `${peer.name}.pem`)
  const root = join(dir, 'root.pem')
  await saveIdentity(key, peer.identity)
  await writeFile(cert, peer.chain.map((c) => pemEncode(c, 'CERTIFICATE')).join(''))
  await writeFile(root, pemEncode(pki.ca.certificate, 'CERTIFICATE'))
  return { dir, key, cert, root, cleanup: () => rm(dir, { recursive: true, force: true, maxRetries: 5 }) }
}
