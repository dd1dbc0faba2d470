/**
 * Shared parts of the share adversary specs (test/adversary/share-*.spec.ts): a hardened share
 * server on 127.0.0.1 over real Noise channels with real certificates and a real policy, clients
 * for named peers, a slow upload an attacker can hold open, and disk snapshots that prove nothing
 * outside the root (or under a denied path) was read, created, changed or removed.
 */
import { createHash } from 'node:crypto'
import { lstat, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises'
import { readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadPolicy } from '@peerguard/policy'
import {
  channelTransport,
  connectShare,
  createShareServer,
  policyAuthorizer,
  type ShareClient,
  type ShareServer
} from '@peerguard/share'
import { makeTestPki, type TestPki } from '@peerguard/test-utils'

export interface Served {
  readonly server: ShareServer
  readonly port: number
  /** A client for a peer of the fixture PKI (closed by `stop`). */
  connect(name: string): Promise<ShareClient>
  /** The decision log as appended (operation records only). */
  readonly decisions: Array<Record<string, unknown>>
  stop(): Promise<void>
}

/** One PKI per spec file: a server identity and the named peers with their groups (certificate OU). */
export function makePki(peers: Array<{ name: string; groups: string[] }>): Promise<TestPki> {
  return makeTestPki({ peers: [{ name: 'server', groups: [] }, ...peers] })
}

/** A fresh directory with `root/` (the share) and `outside/` (must never be touched). */
export async function makeWorld(
  prefix: string
): Promise<{ dir: string; root: string; outside: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `pg-adv-${prefix}-`))
  const { mkdir } = await import('node:fs/promises')
  await mkdir(join(dir, 'root'))
  await mkdir(join(dir, 'outside'))
  return {
    dir,
    root: join(dir, 'root'),
    outside: join(dir, 'outside'),
    remove: () => rm(dir, { recursive: true, force: true, maxRetries: 5 })
  }
}

/** Serve `root` as share `shareName` under `policy` (YAML text), over the hardened transport. */
export async function serve(pki: TestPki, root: string, policy: string, shareName = 'office'): Promise<Served> {
  const server = pki.peers.server!
  const decisions: Array<Record<string, unknown>> = []
  const share = createShareServer({
    root,
    shareName,
    transport: channelTransport({ identity: server.identity, chain: server.chain, trust: pki.trust }),
    authorize: policyAuthorizer(loadPolicy(policy)),
    log: {
      append: async (r) => {
        if ((r as { kind: string }).kind === 'operation') decisions.push(r as unknown as Record<string, unknown>)
      }
    },
    maxConcurrentPerPeer: 32
  })
  const { port } = await share.listen()
  const clients: ShareClient[] = []
  return {
    server: share,
    port,
    decisions,
    async connect(name) {
      const p = pki.peers[name]!
      const c = await connectShare(
        { host: '127.0.0.1', port },
        { transport: channelTransport({ identity: p.identity, chain: p.chain, trust: pki.trust, expectedPeerId: server.peerId }) }
      )
      clients.push(c)
      return c
    },
    async stop() {
      for (const c of clients) c.close()
      await share.close()
    }
  }
}

/**
 * An upload source the test controls: it yields `first`, then waits for `release()` before
 * yielding `rest`. `sent` resolves once `first` has gone out (the generator was pulled again).
 */
export function slowSource(
  first: Buffer,
  rest: Buffer
): { source: AsyncIterable<Uint8Array>; sent: Promise<void>; release(): void; size: number } {
  let release!: () => void
  const gate = new Promise<void>((r) => {
    release = r
  })
  let markSent!: () => void
  const sent = new Promise<void>((r) => {
    markSent = r
  })
  async function* gen(): AsyncGenerator<Uint8Array> {
    yield first
    markSent()
    await gate
    yield rest
  }
  return { source: gen(), sent, release, size: first.length + rest.length }
}

/** Code of a rejected operation, or 'ok'. */
export async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'ok'
  } catch (err) {
    return (err as { code?: string }).code ?? String(err)
  }
}

/**
 * Everything under `dir`, without following links: relative path → type, size, inode, mode,
 * mtime and (for files) the SHA-256 of the content, (for links) the target. Equal snapshots mean
 * nothing was created, changed, removed or replaced — and reading is proven by atime not being
 * part of it but by the file contents reaching no client (asserted by the specs).
 */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(dir, rel))).sort()) {
      const p = rel === '' ? name : `${rel}/${name}`
      const st = await lstat(join(dir, p))
      if (st.isSymbolicLink()) out[p] = `link ${await readlink(join(dir, p))} ino=${st.ino}`
      else if (st.isDirectory()) {
        out[p] = `dir ino=${st.ino} mode=${st.mode.toString(8)} mtime=${st.mtimeMs}`
        await walk(p)
      } else {
        const sum = createHash('sha256')
          .update(await readFile(join(dir, p)))
          .digest('hex')
        out[p] = `file ino=${st.ino} size=${st.size} mode=${st.mode.toString(8)} mtime=${st.mtimeMs} sha=${sum}`
      }
    }
  }
  await walk('')
  return out
}

/** Paths of server temporary files left anywhere under `dir`. */
export async function leftovers(dir: string): Promise<string[]> {
  const found: string[] = []
  const walk = async (rel: string): Promise<void> => {
    for (const d of await readdir(join(dir, rel), { withFileTypes: true })) {
      const p = rel === '' ? d.name : `${rel}/${d.name}`
      if (d.name.startsWith('.pgtmp-')) found.push(p)
      if (d.isDirectory()) await walk(p)
    }
  }
  await walk('')
  return found
}

/** Open descriptors of this process right now. */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length
}
