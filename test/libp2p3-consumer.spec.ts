/**
 * Issue #16's "done when" for libp2p: a new project installs `libp2p@3` and the packed peerguard
 * packages, and two nodes talk through the peerguard encrypter with per-protocol policy on Node 24.
 *
 * The project is made in a temporary folder OUTSIDE the repository by the recipe in
 * packages/libp2p/README.md, run verbatim (its shell block, then its app.mjs): npm resolves from a
 * registry on 127.0.0.1 that serves the packed `@peerguard/*` packages and, for everything else, the
 * versions package-lock.json pins (tarballs from npm's cache; nothing leaves the machine), and the
 * app runs on Node 24 (`PEERGUARD_NODE24`, set by .ci/run, or the running Node when it is 24).
 * A TypeScript consumer of the same API is type-checked with the repository's tsc against
 * libp2p 3's own types, without casts.
 */
import { execFile, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, expect, it } from '@jest/globals'
import { needs, node24Binary } from '@peerguard/test-utils'
import { packedMap, packPublicPackages, REPO_LOCK, ROOT } from './packaging-packs.js'
import { startLoopbackRegistry } from './packaging-registry.js'

const execFileAsync = promisify(execFile)
const README = join(ROOT, 'packages', 'libp2p', 'README.md')
const ECHO = '/app/echo/1.0.0'
const ADMIN = '/app/admin/1.0.0'

/** A TypeScript consumer of the whole libp2p-facing API: type-checked only (strict, no casts). */
const TS_CONSUMER = `import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { openDecisionLog } from '@peerguard/decision-log'
import { generateKeyPair } from '@peerguard/identity'
import {
  createPeerDirectory,
  guardHandler,
  libp2pPrivateKeyFromIdentity,
  type PeerguardExtensions,
  peerguardEncrypter,
  peerguardGater,
  peerOf,
  refuseStockNoise
} from '@peerguard/libp2p'
import { createCertificateAuthority, createTrustStore } from '@peerguard/pki'
import { loadPolicy } from '@peerguard/policy'
import { createLibp2p } from 'libp2p'

const ca = await createCertificateAuthority({ name: 'Office CA' })
const trust = createTrustStore({ roots: [ca.certificate], crls: [(await ca.crl()).der] })
const identity = generateKeyPair()
const { chain } = await ca.issuePeer({ publicKey: identity.publicKey, name: 'alice', groups: ['staff'] })
const policy = loadPolicy('version: 1\\nrules: []\\n')
const log = await openDecisionLog({ path: 'typed.jsonl', identity })
const peers = createPeerDirectory()
const node = await createLibp2p({
  privateKey: libp2pPrivateKeyFromIdentity(identity),
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [peerguardEncrypter({ chain, trust, peers, log }), refuseStockNoise({ log })],
  streamMuxers: [yamux()],
  connectionGater: peerguardGater(policy, { peers, log })
})
await node.handle(
  '/app/echo/1.0.0',
  guardHandler(
    policy,
    (stream, connection) => {
      const peer: PeerguardExtensions | undefined = peerOf(connection)
      const groups: readonly string[] = peer?.groups ?? []
      stream.addEventListener('message', (evt) => stream.send(evt.data))
      console.log(peer?.name, groups, connection.remotePeer.toString())
    },
    { log, onRefused: (err, peer) => console.log(err.code, peer?.peerId) }
  )
)
for (const connection of node.getConnections()) console.log(peerOf(connection)?.peerId)
await node.stop()
`

/** The fenced block after `<!-- recipe:NAME -->` in the libp2p README. */
function recipe(name: string): string {
  const text = readFileSync(README, 'utf8')
  const at = text.indexOf(`<!-- recipe:${name} -->`)
  if (at < 0) throw new Error(`packages/libp2p/README.md has no <!-- recipe:${name} --> block`)
  const block = /```[a-z]*\n([\s\S]*?)```/.exec(text.slice(at))
  if (block === null) throw new Error(`packages/libp2p/README.md: no code block after <!-- recipe:${name} -->`)
  return block[1] as string
}

const gate = needs('node24', 'a fresh libp2p 3 project with the packed packages, run on Node 24')

let work: string | undefined
let app: string
let node24: string
/** The app's run: its output lines, and the decision log it left. */
let run: { status: number | null; stdout: string; stderr: string; lines: string[] }

gate.describe('a fresh project: npm install libp2p@3 and the packed packages, two nodes on Node 24', () => {
  beforeAll(async () => {
    node24 = node24Binary() as string
    work = mkdtempSync(join(tmpdir(), 'pg-libp2p3-'))
    const packs = packPublicPackages(work)
    const registry = await startLoopbackRegistry(REPO_LOCK, packedMap(packs))
    // npm reads its options from the environment too: the recipe's commands stay as a user types them
    const env = {
      ...process.env,
      npm_config_registry: registry.url,
      npm_config_prefer_offline: 'true',
      npm_config_ignore_scripts: 'true',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
      npm_config_loglevel: 'error'
    }
    try {
      // asynchronously: the registry answers from this process
      await execFileAsync('sh', ['-e', '-c', recipe('install')], { cwd: work, env, timeout: 900_000 })
      app = join(work, 'p2p-app')
      // for the TypeScript consumer (not part of the recipe): Node's types at the repository's version
      const types = REPO_LOCK.packages['node_modules/@types/node']?.version as string
      await execFileAsync('npm', ['install', '--save-dev', `@types/node@${types}`], { cwd: app, env, timeout: 600_000 })
    } finally {
      await registry.close()
    }
    writeFileSync(join(app, 'app.mjs'), recipe('app.mjs'))
    const r = spawnSync(node24, ['app.mjs'], { cwd: app, encoding: 'utf8', timeout: 300_000 })
    run = { status: r.status, stdout: r.stdout, stderr: r.stderr, lines: r.stdout.split('\n').filter((l) => l !== '') }
  }, 1_800_000)

  afterAll(() => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true, maxRetries: 5 })
  })

  it('installed libp2p 3 and the tarballs into the project, and runs Node 24', () => {
    const version = (pkg: string): string =>
      (JSON.parse(readFileSync(join(app, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version
    expect(version('libp2p')).toMatch(/^3\./)
    expect(version('@libp2p/tcp')).toMatch(/^11\./)
    expect(version('@chainsafe/libp2p-yamux')).toMatch(/^8\./)
    expect(version('@peerguard/libp2p')).toBe('0.1.0')
    // installed copies (from the tarballs), not links into the repository
    for (const pkg of ['libp2p', 'identity', 'pki', 'policy', 'decision-log', 'channel', 'interface'])
      expect(realpathSync(join(app, 'node_modules/@peerguard', pkg))).toBe(
        join(realpathSync(app), 'node_modules/@peerguard', pkg)
      )
    expect(spawnSync(node24, ['--version'], { encoding: 'utf8' }).stdout).toMatch(/^v2[4-9]\./)
  })

  it('the app runs: echo works, admin is refused with libp2p-protocol-denied, peerOf names the peer', () => {
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    const [, aliceId, bobId] = /^alice is (\S+), bob is (\S+)$/.exec(run.lines[0] ?? '') ?? []
    expect([aliceId, bobId]).toEqual([expect.stringMatching(/^[A-Z0-9-]{20,}$/), expect.stringMatching(/^[A-Z0-9-]{20,}$/)])
    expect(aliceId).not.toBe(bobId)
    expect(run.lines).toEqual([
      `alice is ${aliceId}, bob is ${bobId}`,
      // peerOf(connection) in alice's handler: bob's certificate name, peer ID and groups
      `alice: echo for bob (${bobId}), groups staff`,
      'bob: echo says hello',
      // onRefused: the typed error the admin stream was aborted with
      'alice: refused bob: libp2p-protocol-denied',
      // bob's side of it: the stream is reset (StreamResetError)
      expect.stringMatching(/^bob: admin failed: \w+Error$/),
      expect.stringMatching(/^alice's decisions: alice-decisions-\d+\.jsonl$/)
    ])
  })

  it("alice's decision log: the connection, echo allowed by its rule, admin denied by default", () => {
    const logPath = (run.lines.at(-1) ?? '').replace("alice's decisions: ", '')
    const entries = readFileSync(join(app, logPath), 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(entries.filter((e) => e.kind === 'operation')).toEqual([
      expect.objectContaining({ allowed: true, verb: 'open-stream', resource: `protocol:${ECHO}`, rule: { id: 'staff-echo' } }),
      expect.objectContaining({ allowed: false, code: 'deny-default', resource: `protocol:${ADMIN}` })
    ])
    expect(entries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'connection', event: 'accepted', peer: expect.objectContaining({ name: 'bob' }) })
      ])
    )
  })

  it("a TypeScript consumer type-checks against libp2p 3's types with no casts; a wrong use does not", () => {
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          target: 'es2024',
          strict: true,
          noEmit: true,
          types: ['node'],
          skipLibCheck: false
        },
        files: ['consumer.ts']
      })
    )
    writeFileSync(join(app, 'consumer.ts'), TS_CONSUMER)
    // skipLibCheck is off, so our published declarations are checked against libp2p 3's interface too;
    // @chainsafe/libp2p-yamux 8's own declarations do not check (its uint8arraylist is not
    // @libp2p/interface 3's), which is why applications set skipLibCheck: only ours and the consumer count.
    const ours = (out: string): string[] => out.split('\n').filter((l) => /^(consumer\.ts|node_modules\/@peerguard\/)/.test(l))
    const tsc = (): { status: number | null; out: string } => {
      const r = spawnSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', app], { cwd: app, encoding: 'utf8' })
      return { status: r.status, out: r.stdout + r.stderr }
    }
    const good = tsc()
    expect(ours(good.out)).toEqual([])
    expect(good.out).not.toMatch(/error TS2307|error TS2305/) // every module and name resolved
    // the check has teeth: a gater is not an encrypter, a handler's stream is libp2p's
    writeFileSync(
      join(app, 'consumer.ts'),
      TS_CONSUMER.replace('connectionEncrypters: [', 'connectionEncrypters: [peerguardGater(policy), ')
    )
    expect(ours(tsc().out)).toEqual([expect.stringMatching(/^consumer\.ts\(\d+,\d+\): error TS2322/)])
    writeFileSync(join(app, 'consumer.ts'), TS_CONSUMER.replace('stream.send(evt.data)', 'stream.send(42)'))
    expect(ours(tsc().out)).toEqual([expect.stringMatching(/^consumer\.ts\(\d+,\d+\): error TS2345/)])
  }, 600_000)
})
