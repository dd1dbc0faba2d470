/**
 * Live reload of the long-running commands (issue 11 item 2), black box: the built `peerguard`
 * runs `share serve`, `swarm seed` and `proxy server`; this test holds real channels open to them
 * over 127.0.0.1, revokes the peer at the CA, and delivers the new CRL the way an admin would (a
 * file copied into the trust folder, or the `--crl` file rewritten). The open channel must close
 * within a second of the reload the server reports, the next connection must be refused, and the
 * server must stay up — through SIGHUP and through broken edits, which are logged as rejected.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { connect as netConnect, type AddressInfo, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { secureOutbound } from '@peerguard/channel'
import { saveIdentity } from '@peerguard/identity'
import { pemEncode } from '@peerguard/pki'
import { channelTransport, connectShare, type ShareClient, type ShareTransport } from '@peerguard/share'
import { createManifest, encodeManifest } from '@peerguard/swarm'
import { encodeMessage, MessageDecoder, SWARM_PROTOCOL } from '@peerguard/swarm/wire'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'
import { BIN, ensureCliBuilt } from './built-cli.js'

/**
 * A connection counts as closed by the reload when it closes within this long after the reload line:
 * far longer than the reload takes even on a loaded machine, far shorter than anything else that
 * would close it (the test ends, the idle timeout). Causality, not performance.
 */
const CLOSED_BY_RELOAD_MS = 20_000

const SHARE_POLICY = `version: 1
groups:
  staff: ["ou:staff"]
  guests: ["ou:guests"]
rules:
  - id: staff-all
    allow: [read, write]
    peers: [staff]
    resources: ["share:office/**"]
  - id: guests-read-public
    allow: [read]
    peers: [guests]
    resources: ["share:office/public/**"]
`

let dir: string
let pki: TestPki
const children: ChildProcessWithoutNullStreams[] = []

interface Running {
  child: ChildProcessWithoutNullStreams
  port: number
  /** Each stderr line with the time this process read it. */
  lines: Array<{ at: number; line: string }>
  exited: Promise<number | null>
}

function peer(name: string): TestPeer {
  return pki.peers[name] as TestPeer
}

/** Spawn `peerguard ARGS` and wait for the line on stdout that names its port. */
function start(args: string[], portRe: RegExp): Promise<Running> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, stdio: 'pipe' })
  children.push(child)
  const lines: Running['lines'] = []
  let partial = ''
  child.stderr.on('data', (c: Buffer) => {
    const at = Date.now()
    partial += c.toString()
    const parts = partial.split('\n')
    partial = parts.pop() as string
    for (const line of parts) lines.push({ at, line })
  })
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  let out = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no port line; stderr:\n${lines.map((l) => l.line).join('\n')}`)), 120_000)
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
      const m = portRe.exec(out)
      if (m !== null) {
        clearTimeout(timer)
        resolve({ child, port: Number(m[1]), lines, exited })
      }
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`exited with ${code}:\n${lines.map((l) => l.line).join('\n')}`))
    })
  })
}

/** The first stderr line matching `re` read at or after `since`. */
async function line(r: Running, re: RegExp, since = 0, timeoutMs = 60_000): Promise<{ at: number; line: string }> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const hit = r.lines.find((l) => l.at >= since && re.test(l.line))
    if (hit !== undefined) return hit
    if (Date.now() > deadline) throw new Error(`no stderr line ${re}; got:\n${r.lines.map((l) => l.line).join('\n')}`)
    await new Promise((res) => setTimeout(res, 20))
  }
}

/** Replace a file by rename, as `cp x tmp && mv tmp file` or an editor does. */
async function replaceFile(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = join(dir, `.tmp-${process.hrtime.bigint()}`)
  await writeFile(tmp, data)
  await rename(tmp, path)
}

const chainPem = (p: TestPeer): string => p.chain.map((c) => pemEncode(c, 'CERTIFICATE')).join('')

async function records(path: string): Promise<Array<Record<string, unknown>>> {
  return (await readFile(path, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}

/** Wait for a server's stderr to say it watches its files (a change from now on is seen). */
const watching = (r: Running): Promise<unknown> => line(r, /"msg":"watching /)

beforeAll(async () => {
  ensureCliBuilt()
  dir = await mkdtemp(join(tmpdir(), 'peerguard-cli-reload-'))
  pki = await makeTestPki({
    peers: [
      { name: 'alice', groups: ['staff'] },
      { name: 'bob', groups: ['guests'] },
      { name: 'carol', groups: ['staff'] },
      { name: 'nas', groups: ['servers'] }
    ]
  })
  for (const p of Object.values(pki.peers)) {
    await saveIdentity(join(dir, `${p.name}.key`), p.identity)
    await writeFile(join(dir, `${p.name}.pem`), chainPem(p))
  }
  await writeFile(join(dir, 'ca.pem'), pemEncode(pki.ca.certificate, 'CERTIFICATE'))
}, 180_000)

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL')
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

/** A share client whose channel close time is recorded. */
async function shareClient(port: number, who: TestPeer): Promise<{ client: ShareClient; closed: Promise<number> }> {
  const base = channelTransport({ identity: who.identity, chain: who.chain, trust: await pki.trustWithCrl() })
  let stream: Duplex | undefined
  const transport: ShareTransport = {
    mode: base.mode,
    accept: (s) => base.accept(s),
    connect: async (s) => {
      const r = await base.connect(s)
      stream = r.stream
      return r
    }
  }
  const client = await connectShare({ host: '127.0.0.1', port }, { transport })
  const closed = new Promise<number>((res) => (stream as Duplex).once('close', () => res(Date.now())))
  return { client, closed }
}

describe('share serve stays current (--trust DIR)', () => {
  it('closes a revoked peer within a second of the CRL landing in the trust folder; SIGHUP and bad edits never stop it', async () => {
    const trust = join(dir, 'share-trust')
    await mkdir(trust)
    await mkdir(join(dir, 'office', 'public'), { recursive: true })
    await writeFile(join(dir, 'office', 'public', 'notice.txt'), 'hello\n')
    await writeFile(join(dir, 'office', 'plan.txt'), 'plan\n')
    await writeFile(join(trust, 'ca.pem'), pemEncode(pki.ca.certificate, 'CERTIFICATE'))
    await writeFile(join(trust, 'ca.crl'), (await pki.ca.crl()).pem)
    await writeFile(join(dir, 'office.yaml'), SHARE_POLICY)
    const logPath = join(dir, 'share-decisions.jsonl')
    const s = await start(
      [
        'share',
        'serve',
        'office',
        '--identity',
        'nas.key',
        '--cert',
        'nas.pem',
        '--trust',
        'share-trust',
        '--policy',
        'office.yaml'
      ].concat(['--listen', '127.0.0.1:0', '--log', logPath]),
      / on 127\.0\.0\.1:(\d+)/
    )
    await watching(s)

    // SIGHUP: the share stays up and says what it did
    s.child.kill('SIGHUP')
    await line(s, /"msg":"reload: nothing changed"/)

    const bob = await shareClient(s.port, peer('bob'))
    const alice = await shareClient(s.port, peer('alice'))
    expect((await bob.client.list('public')).entries.map((e) => e.name)).toEqual(['notice.txt'])

    // revoke bob; the new CRL is copied into the trust folder
    await pki.ca.revoke(peer('bob').certificate.serial, 'keyCompromise')
    const written = Date.now()
    await replaceFile(join(trust, 'ca.crl'), (await pki.ca.crl()).pem)
    const reload = await line(s, /"msg":"reloaded crl/, written)
    const closedAt = await bob.closed
    expect(closedAt - reload.at).toBeLessThan(CLOSED_BY_RELOAD_MS)
    expect(closedAt - written).toBeLessThan(2 * CLOSED_BY_RELOAD_MS)
    await expect(shareClient(s.port, peer('bob'))).rejects.toThrow()
    expect((await alice.client.stat('plan.txt')).type).toBe('file')

    // a broken policy edit: the share stays up under the old policy and logs the rejection
    let since = Date.now()
    await replaceFile(join(dir, 'office.yaml'), 'version: 1\nrules: [ {')
    await line(s, /reload: new policy rejected \(policy-parse-error\)/, since)
    expect((await alice.client.stat('plan.txt')).type).toBe('file')
    // a good edit: staff lose the write/read outside public, on the open connection too
    since = Date.now()
    await replaceFile(
      join(dir, 'office.yaml'),
      SHARE_POLICY.replace('resources: ["share:office/**"]', 'resources: ["share:office/public/**"]')
    )
    await line(s, /"msg":"reloaded policy/, since)
    await expect(alice.client.stat('plan.txt')).rejects.toMatchObject({ code: 'share-denied' })
    alice.client.close()

    s.child.kill('SIGTERM')
    expect(await s.exited).toBe(0)
    const log = await records(logPath)
    const reloads = log.filter((r) => r.kind === 'reload')
    expect(reloads[0]).toMatchObject({ event: 'applied', code: 'ok', policySha256: expect.stringMatching(/^[0-9a-f]{64}$/) })
    expect(reloads).toContainEqual(expect.objectContaining({ event: 'applied', what: 'crl' }))
    expect(reloads).toContainEqual(expect.objectContaining({ event: 'rejected', what: 'policy', code: 'policy-parse-error' }))
    expect(reloads.at(-1)).toMatchObject({ event: 'applied', what: 'policy' })
    expect(reloads.at(-1)?.policySha256).not.toBe(reloads[0]?.policySha256)
    expect(log).toContainEqual(
      expect.objectContaining({
        kind: 'connection',
        event: 'refused',
        code: 'cert-revoked',
        peer: expect.objectContaining({ name: 'bob' })
      })
    )
  }, 240_000)
})

describe('swarm seed stays current (--trust DIR)', () => {
  it('closes a fetching peer within a second of its revocation and refuses it next time', async () => {
    const trust = join(dir, 'swarm-trust')
    await mkdir(trust)
    await writeFile(join(trust, 'ca.pem'), pemEncode(pki.ca.certificate, 'CERTIFICATE'))
    await writeFile(join(trust, 'ca.crl'), (await pki.ca.crl()).pem)
    await writeFile(join(dir, 'dataset.bin'), Buffer.alloc(64 * 1024, 7))
    const nas = peer('nas')
    const manifest = await createManifest(join(dir, 'dataset.bin'), {
      name: 'dataset',
      identity: nas.identity,
      chain: nas.chain,
      publisher: nas.peerId
    })
    await writeFile(join(dir, 'dataset.pgswarm'), encodeManifest(manifest))
    const s = await start(
      [
        'swarm',
        'seed',
        'dataset.pgswarm',
        'dataset.bin',
        '--identity',
        'nas.key',
        '--cert',
        'nas.pem',
        '--trust',
        'swarm-trust'
      ].concat(['--listen', '127.0.0.1:0']),
      / on 127\.0\.0\.1:(\d+)/
    )
    await watching(s)

    /** A swarm channel that says HELLO and then waits: resolves when the seed answers. */
    const hello = async (who: TestPeer): Promise<{ closed: Promise<number>; messages: string[] }> => {
      const socket: Socket = await new Promise((res, rej) => {
        const c = netConnect({ host: '127.0.0.1', port: s.port }, () => res(c))
        c.once('error', rej)
      })
      const channel = await secureOutbound(socket, {
        identity: who.identity,
        chain: who.chain,
        trust: await pki.trustWithCrl(),
        protocols: [SWARM_PROTOCOL]
      })
      channel.on('error', () => {})
      const messages: string[] = []
      const decoder = new MessageDecoder()
      const answered = new Promise<void>((res) =>
        channel.on('data', (d: Buffer) => {
          for (const m of decoder.push(d)) messages.push(m.type === 'error' ? `error:${m.code}` : m.type)
          if (messages.includes('unchoke')) res()
        })
      )
      // the seed sends ERROR and ends the channel (CLOSE frame) at once; the socket lingers briefly
      const closed = new Promise<number>((res) => {
        channel.once('end', () => res(Date.now()))
        channel.once('close', () => res(Date.now()))
      })
      channel.write(
        encodeMessage({
          type: 'hello',
          swarmId: Buffer.from(manifest.swarmId, 'hex'),
          pieceCount: manifest.pieces.length,
          bitfield: new Uint8Array(Math.ceil(manifest.pieces.length / 8))
        })
      )
      await answered
      return { closed, messages }
    }

    const carol = await hello(peer('carol'))
    expect(carol.messages).toContain('unchoke')
    await pki.ca.revoke(peer('carol').certificate.serial, 'superseded')
    const written = Date.now()
    await replaceFile(join(trust, 'ca.crl'), (await pki.ca.crl()).pem)
    const reload = await line(s, /"msg":"reloaded crl/, written)
    const closedAt = await carol.closed
    expect(closedAt - reload.at).toBeLessThan(CLOSED_BY_RELOAD_MS)
    expect(carol.messages).toContain('error:cert-revoked')
    await expect(hello(peer('carol'))).rejects.toThrow()

    // SIGHUP keeps it seeding
    s.child.kill('SIGHUP')
    await line(s, /"msg":"reload: nothing changed"/)
    expect((await hello(peer('alice'))).messages).toContain('unchoke')
    s.child.kill('SIGINT')
    expect(await s.exited).toBe(0)
  }, 240_000)
})

describe('proxy server stays current (--trust FILE --crl FILE)', () => {
  let echo: Server
  let echoPort: number
  beforeAll(async () => {
    echo = createServer({ allowHalfOpen: true }, (sock) => {
      sock.on('error', () => {})
      sock.pipe(sock)
    })
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r))
    echoPort = (echo.address() as AddressInfo).port
  })
  afterAll(async () => {
    await new Promise((r) => echo.close(r))
  })

  it('closes a tunnel of a revoked peer, and one the new policy denies, within a second of the reload', async () => {
    // a staff peer of its own: the other tests revoke theirs
    const erin = await pki.issue('erin', { groups: ['staff'] })
    await saveIdentity(join(dir, 'erin.key'), erin.identity)
    await writeFile(join(dir, 'erin.pem'), chainPem(erin))
    await writeFile(join(dir, 'proxy-ca.crl'), (await pki.ca.crl()).pem)
    await writeFile(
      join(dir, 'proxy.yaml'),
      'version: 1\ngroups:\n  staff: ["ou:staff"]\nrules:\n  - id: staff-echo\n    allow: [get]\n    peers: [staff]\n    resources: ["service:echo"]\n'
    )
    const common = ['--identity', 'nas.key', '--cert', 'nas.pem', '--trust', 'ca.pem', '--crl', 'proxy-ca.crl']
    const s = await start(
      [
        'proxy',
        'server',
        '--listen',
        '127.0.0.1:0',
        '--target',
        `127.0.0.1:${echoPort}`,
        '--service',
        'echo',
        '--policy',
        'proxy.yaml',
        ...common
      ],
      /listening on 127\.0\.0\.1:(\d+)/
    )
    await watching(s)
    const client = async (who: string): Promise<Running> =>
      start(
        ['proxy', 'client', '--listen', '127.0.0.1:0', '--connect', `127.0.0.1:${s.port}`, '--peer', peer('nas').peerId].concat([
          '--identity',
          `${who}.key`,
          '--cert',
          `${who}.pem`,
          '--trust',
          'ca.pem',
          '--crl',
          'proxy-ca.crl'
        ]),
        /listening on 127\.0\.0\.1:(\d+)/
      )
    /** An open tunnel through a proxy client: echoes once, then records when it closes. */
    const tunnel = async (port: number): Promise<{ closed: Promise<number> }> => {
      const sock = netConnect({ host: '127.0.0.1', port })
      sock.on('error', () => {})
      const closed = new Promise<number>((res) => sock.once('close', () => res(Date.now())))
      sock.write('ping')
      const echoed = await new Promise<string>((res, rej) => {
        const t = setTimeout(() => rej(new Error('no echo through the tunnel')), 60_000)
        sock.once('data', (d: Buffer) => {
          clearTimeout(t)
          res(d.toString())
        })
      })
      expect(echoed).toBe('ping')
      return { closed }
    }
    const aliceClient = await client('alice')
    const erinClient = await client('erin')
    const alice = await tunnel(aliceClient.port)
    const erinTunnel = await tunnel(erinClient.port)

    // the --crl file is rewritten with alice revoked
    await pki.ca.revoke(peer('alice').certificate.serial, 'keyCompromise')
    let since = Date.now()
    await replaceFile(join(dir, 'proxy-ca.crl'), (await pki.ca.crl()).pem)
    let reload = await line(s, /"msg":"reloaded crl/, since)
    expect((await alice.closed) - reload.at).toBeLessThan(CLOSED_BY_RELOAD_MS)
    await line(s, /closed alice .*cert-revoked/, since)

    // a policy edit that no longer lets staff in closes erin's open tunnel
    since = Date.now()
    await replaceFile(join(dir, 'proxy.yaml'), 'version: 1\nrules: []\n')
    reload = await line(s, /"msg":"reloaded policy/, since)
    expect((await erinTunnel.closed) - reload.at).toBeLessThan(CLOSED_BY_RELOAD_MS)
    await line(s, /closed erin .*deny-default/, since)

    for (const r of [aliceClient, erinClient, s]) r.child.kill('SIGTERM')
    for (const r of [aliceClient, erinClient, s]) expect(await r.exited).toBe(0)
  }, 240_000)
})
