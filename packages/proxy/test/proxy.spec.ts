import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { type AddressInfo, connect, createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from '@jest/globals'
import { pemEncode } from '@peerguard/pki'
import { createProxyClient, createProxyServer, loadProxyConfig, type ProxyClient, type ProxyServer } from '@peerguard/proxy'
import { configOf, deadPort, echoServer, memoryLog, peerFiles, roundTrip, sha, testPki } from './helpers.js'

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {})
})

interface Rig {
  server: ProxyServer
  client: ProxyClient
  localPort: number
  serverPort: number
  log: ReturnType<typeof memoryLog>
}

async function rig(
  opts: {
    tls?: boolean
    clientPeer?: string
    targetPort?: number
    server?: Record<string, unknown>
    client?: Record<string, unknown>
  } = {}
): Promise<Rig> {
  const pki = await testPki()
  let targetPort = opts.targetPort
  if (targetPort === undefined) {
    const echo = await echoServer()
    cleanups.push(echo.close)
    targetPort = echo.port
  }
  const log = memoryLog()
  const server = createProxyServer({
    target: `127.0.0.1:${targetPort}`,
    service: 'echo',
    config: configOf(pki.peers.nas!, pki),
    decisionLog: log,
    tls: opts.tls === true,
    ...opts.server
  })
  const { port: serverPort } = await server.listen()
  cleanups.push(() => server.close())
  const client = createProxyClient({
    connect: `127.0.0.1:${serverPort}`,
    config: configOf(pki.peers[opts.clientPeer ?? 'alice']!, pki),
    expectedPeerId: pki.peers.nas!.peerId,
    tls: opts.tls === true,
    ...opts.client
  })
  const { port: localPort } = await client.listen()
  cleanups.push(() => client.close())
  return { server, client, localPort, serverPort, log }
}

for (const mode of ['noise', 'tls'] as const) {
  describe(`proxy end to end over ${mode}`, () => {
    it('carries 4 MiB through client → server → echo target, byte for byte, and logs the acceptance', async () => {
      const r = await rig({ tls: mode === 'tls' })
      const data = randomBytes(4 * 1024 * 1024)
      const got = await roundTrip(r.localPort, data)
      expect(got.outcome).toBe('end')
      expect(got.bytes.length).toBe(data.length)
      expect(sha(got.bytes)).toBe(sha(data))
      const pki = await testPki()
      // the acceptance, then (once closed) the connection's one outcome entry
      await r.log.holding(2)
      expect(r.log.entries).toHaveLength(2)
      expect(r.log.entries[0]).toMatchObject({
        kind: 'connection',
        event: 'accepted',
        code: 'allow',
        mode,
        resource: 'service:echo',
        action: 'get',
        peer: { peerId: pki.peers.alice!.peerId, name: 'alice', groups: ['family'] }
      })
      expect(r.log.entries[1]).toMatchObject({
        kind: 'outcome',
        outcome: 'ok',
        code: 'ok',
        op: 'connect',
        resource: 'service:echo',
        bytesIn: data.length,
        bytesOut: data.length,
        bytes: 2 * data.length,
        peer: { peerId: pki.peers.alice!.peerId }
      })
      expect(typeof (r.log.entries[1] as { durationMs?: unknown }).durationMs).toBe('number')
    }, 60_000)

    it('refuses a peer the policy denies: no byte reaches the target, the decision is logged with its code', async () => {
      let targetConnections = 0
      const target = createServer((s) => {
        targetConnections++
        s.destroy()
      })
      await new Promise<void>((res) => target.listen(0, '127.0.0.1', res))
      cleanups.push(() => new Promise((res) => target.close(res)))
      const r = await rig({ tls: mode === 'tls', clientPeer: 'bob', targetPort: (target.address() as AddressInfo).port })
      const refusedAtClient = new Promise<Error>((res) => r.client.once('refused', res))
      refusedAtClient.catch(() => {})
      const got = await roundTrip(r.localPort, Buffer.from('hello'))
      expect(got.bytes.length).toBe(0)
      expect(got.outcome).not.toBe('end')
      expect(targetConnections).toBe(0)
      // TLS has no room for the reason: the client reports the reset before any answer
      if (mode === 'tls') expect(((await refusedAtClient) as Error & { code: string }).code).toBe('channel-refused')
      if (mode === 'noise') {
        const err = (await refusedAtClient) as Error & { code: string; details?: Record<string, unknown> }
        // the ALERT carries the policy's code to the client
        expect(err.code).toBe('proxy-denied')
        expect(err.details?.decision).toBe('deny-default')
        expect(err.message).toMatch(/^the server refused: deny-default: no rule allows/)
      }
      await r.log.holding(1) // the server logs after its handshake failed: maybe after the client heard
      expect(r.log.entries).toEqual([
        expect.objectContaining({ event: 'refused', code: 'deny-default', peer: expect.objectContaining({ name: 'bob' }) })
      ])
    }, 30_000)

    it('answers "target unreachable" with an alert code instead of hanging', async () => {
      const r = await rig({ tls: mode === 'tls', targetPort: await deadPort() })
      const refused = new Promise<Error>((res) => r.client.once('refused', res))
      const t0 = Date.now()
      const got = await roundTrip(r.localPort, Buffer.from('x'))
      expect(Date.now() - t0).toBeLessThan(5000)
      expect(got.bytes.length).toBe(0)
      expect(got.outcome).not.toBe('end')
      if (mode === 'noise') {
        const err = (await refused) as Error & { code: string }
        expect(err.code).toBe('proxy-target-unreachable')
        expect(err.message).toMatch(/ECONNREFUSED/)
      }
      await r.log.holding(2)
      // the acceptance is logged before the target is dialled; the failure to reach it follows
      expect(r.log.entries).toEqual([
        expect.objectContaining({ event: 'accepted', code: 'allow' }),
        expect.objectContaining({ event: 'refused', code: 'proxy-target-unreachable' })
      ])
    })

    it('fails closed: a decision the log cannot write refuses the connection before the target is connected', async () => {
      let targetConnections = 0
      const target = createServer((s) => {
        targetConnections++
        s.destroy()
      })
      await new Promise<void>((res) => target.listen(0, '127.0.0.1', res))
      cleanups.push(() => new Promise<void>((res) => target.close(() => res())))
      const appended: unknown[] = []
      const failing = {
        append: async (record: unknown) => {
          appended.push(record)
          throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })
        }
      }
      const r = await rig({
        tls: mode === 'tls',
        targetPort: (target.address() as AddressInfo).port,
        server: { decisionLog: failing }
      })
      const refused = new Promise<Error & { details?: { decision?: string } }>((res) => r.server.once('refused', res))
      const got = await roundTrip(r.localPort, Buffer.from('x'))
      expect(got.bytes.length).toBe(0)
      expect((await refused).details?.decision).toBe('log-unavailable')
      expect(targetConnections).toBe(0)
      expect(r.server.stats.accepted).toBe(0)
      expect(appended).toEqual([
        expect.objectContaining({ kind: 'connection', event: 'accepted', code: 'allow' }),
        expect.objectContaining({ kind: 'connection', event: 'refused', code: 'log-unavailable' })
      ])
    })

    it('keeps half-close: the app ends its request, the target answers after that, the answer arrives', async () => {
      // A target that reads until end of stream, then answers with the byte count and closes.
      const target = createServer({ allowHalfOpen: true }, (s) => {
        let n = 0
        s.on('data', (c: Buffer) => {
          n += c.length
        })
        s.on('end', () => s.end(`got ${n} bytes`))
      })
      await new Promise<void>((res) => target.listen(0, '127.0.0.1', res))
      cleanups.push(() => new Promise((res) => target.close(res)))
      const r = await rig({ tls: mode === 'tls', targetPort: (target.address() as AddressInfo).port })
      const got = await roundTrip(r.localPort, Buffer.alloc(300_000, 1))
      expect(got.outcome).toBe('end')
      expect(got.bytes.toString()).toBe('got 300000 bytes')
    })

    it('carries 40 parallel connections, each with its own data', async () => {
      const r = await rig({ tls: mode === 'tls' })
      const inputs = Array.from({ length: 40 }, (_, i) => randomBytes(10_000 + i * 997))
      const outs = await Promise.all(inputs.map((d) => roundTrip(r.localPort, d)))
      outs.forEach((o, i) => {
        expect(o.outcome).toBe('end')
        expect(sha(o.bytes)).toBe(sha(inputs[i]!))
      })
      expect(r.server.stats.accepted).toBe(40)
      expect(r.log.entries.filter((e) => e.event === 'accepted')).toHaveLength(40)
    }, 60_000)
  })
}

describe('proxy limits', () => {
  it('closes a connection idle for idleTimeoutMs', async () => {
    const r = await rig({ server: { idleTimeoutMs: 300 } })
    const s = connect({ port: r.localPort, host: '127.0.0.1' })
    s.on('error', () => {})
    s.write('ping')
    const echoed = await new Promise<string>((res) => s.once('data', (c: Buffer) => res(c.toString())))
    expect(echoed).toBe('ping')
    const t0 = Date.now()
    await new Promise((res) => s.once('close', res))
    const waited = Date.now() - t0
    expect(waited).toBeGreaterThanOrEqual(200)
    expect(waited).toBeLessThan(10_000) // closed by the idle timer, not by the 30 s test timeout
  })

  it('refuses connections over maxConnectionsPerPeer with proxy-too-many-peer-connections', async () => {
    const r = await rig({ server: { maxConnectionsPerPeer: 2 } })
    const open: Socket[] = []
    for (let i = 0; i < 2; i++) {
      const s = connect({ port: r.localPort, host: '127.0.0.1' })
      s.on('error', () => {})
      s.write('hi')
      await new Promise((res) => s.once('data', res))
      open.push(s)
    }
    const refused = new Promise<Error>((res) => r.client.once('refused', res))
    const got = await roundTrip(r.localPort, Buffer.from('third'))
    expect(got.bytes.length).toBe(0)
    expect(((await refused) as Error & { code: string }).code).toBe('proxy-too-many-peer-connections')
    // once the first two are gone (the server says so: it frees the slot, then emits `closed`), a
    // new one is admitted again — waited for, not slept: 100 ms was a race on a stalled machine
    let gone = 0
    const bothClosed = new Promise<void>((res) =>
      r.server.on('closed', () => {
        if (++gone === 2) res()
      })
    )
    for (const s of open) s.destroy()
    await bothClosed
    expect((await roundTrip(r.localPort, Buffer.from('again'))).bytes.toString()).toBe('again')
  })

  it('refuses over maxConnections without a handshake', async () => {
    const r = await rig({ server: { maxConnections: 1 } })
    const first = connect({ port: r.localPort, host: '127.0.0.1' })
    first.on('error', () => {})
    first.write('a')
    await new Promise((res) => first.once('data', res))
    const got = await roundTrip(r.localPort, Buffer.from('b'))
    expect(got.bytes.length).toBe(0)
    first.destroy()
    // refused before any handshake: counted in the refusal summary of 127.0.0.1 (written at close)
    await r.server.close()
    expect(r.log.entries).toContainEqual(
      expect.objectContaining({ kind: 'refusal-summary', codes: expect.objectContaining({ 'proxy-too-many-connections': 1 }) })
    )
  })

  it('cuts off a silent or garbage-speaking client at the handshake; the target is never contacted', async () => {
    let targetConnections = 0
    const target = createServer((s) => {
      targetConnections++
      s.destroy()
    })
    await new Promise<void>((res) => target.listen(0, '127.0.0.1', res))
    cleanups.push(() => new Promise((res) => target.close(res)))
    const r = await rig({ targetPort: (target.address() as AddressInfo).port, server: { handshakeTimeoutMs: 300 } })
    const silent = connect({ port: r.serverPort, host: '127.0.0.1' })
    silent.on('error', () => {})
    const t0 = Date.now()
    await new Promise((res) => silent.once('close', res))
    expect(Date.now() - t0).toBeLessThan(10_000) // cut at the 300 ms deadline, not left open
    const garbage = await new Promise<Buffer>((res) => {
      const chunks: Buffer[] = []
      const g = connect({ port: r.serverPort, host: '127.0.0.1' })
      g.on('data', (c: Buffer) => chunks.push(c))
      g.on('error', () => {})
      g.on('close', () => res(Buffer.concat(chunks)))
      g.on('connect', () => g.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))
    })
    expect(garbage.toString()).not.toMatch(/HTTP/)
    await new Promise((res) => setTimeout(res, 50))
    expect(targetConnections).toBe(0)
    // refused before authentication: counted per address, one summary when the window ends (or at close)
    expect(r.log.entries).toEqual([])
    await r.server.close()
    expect(r.log.entries).toEqual([
      expect.objectContaining({
        kind: 'refusal-summary',
        address: '127.0.0.1',
        count: 2,
        codes: { 'channel-handshake-timeout': 1, 'channel-handshake-invalid': 1 }
      })
    ])
  })

  it('a target that never completes the TCP handshake ends in proxy-target-timeout, not a hang', async () => {
    // A listener that never accepts, with a full backlog: the kernel drops further SYNs, so a
    // connect hangs the way it does to a powered-off host.
    const hole = spawn('python3', [
      '-c',
      'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)'
    ])
    cleanups.push(async () => hole.kill('SIGKILL'))
    const port = Number(await new Promise<string>((res) => hole.stdout.once('data', (c: Buffer) => res(c.toString().trim()))))
    const fillers: Socket[] = []
    cleanups.push(async () => {
      for (const f of fillers) f.destroy()
    })
    for (let i = 0; i < 8; i++) {
      const f = connect({ port, host: '127.0.0.1' })
      f.on('error', () => {})
      fillers.push(f)
      const ok = await Promise.race([
        new Promise<boolean>((res) => f.once('connect', () => res(true))),
        new Promise<boolean>((res) => setTimeout(() => res(false), 300))
      ])
      if (!ok) break
    }
    const r = await rig({ targetPort: port, server: { connectTimeoutMs: 400 } })
    const refused = new Promise<Error & { code: string }>((res) => r.client.once('refused', res))
    const t0 = Date.now()
    const got = await roundTrip(r.localPort, Buffer.from('x'))
    expect(got.bytes.length).toBe(0)
    expect(Date.now() - t0).toBeLessThan(10_000) // the 400 ms connect timeout, not the kernel's minutes of SYN retries
    expect((await refused).code).toBe('proxy-target-timeout')
    // the acceptance is logged before the target is dialled (fail closed); the timeout follows
    expect(r.log.entries).toEqual([
      expect.objectContaining({ event: 'accepted', code: 'allow' }),
      expect.objectContaining({ event: 'refused', code: 'proxy-target-timeout' })
    ])
  })

  it('the client refuses a server that is not the pinned peer ID', async () => {
    const pki = await testPki()
    const r = await rig({ client: { expectedPeerId: pki.peers.mallory!.peerId } })
    const refused = new Promise<Error & { code: string }>((res) => r.client.once('refused', res))
    const got = await roundTrip(r.localPort, Buffer.from('secret'))
    expect(got.bytes.length).toBe(0)
    expect((await refused).code).toBe('channel-peer-mismatch')
  })
})

describe('proxy hot reload', () => {
  it('a revoked peer is refused after reload() while its established connection keeps running; a bad file keeps the old config', async () => {
    const pki = await testPki()
    const carol = await pki.issue('carol', { groups: ['family'] })
    const files = await peerFiles(pki, pki.peers.nas!)
    cleanups.push(files.cleanup)
    const policyPath = join(files.dir, 'policy.yaml')
    const { POLICY } = await import('./helpers.js')
    await writeFile(policyPath, POLICY)
    const crlPath = join(files.dir, 'ca.crl')
    await writeFile(crlPath, pemEncode((await pki.ca.crl()).der, 'X509 CRL'))
    const load = () =>
      loadProxyConfig({ identity: files.key, cert: files.cert, trust: files.root, crls: [crlPath], policy: policyPath })
    const echo = await echoServer()
    cleanups.push(echo.close)
    const log = memoryLog()
    const server = createProxyServer({
      target: `127.0.0.1:${echo.port}`,
      service: 'echo',
      config: await load(),
      loadConfig: load,
      decisionLog: log
    })
    const { port } = await server.listen()
    cleanups.push(() => server.close())
    const client = createProxyClient({ connect: `127.0.0.1:${port}`, config: configOf(carol, pki) })
    const { port: local } = await client.listen()
    cleanups.push(() => client.close())

    // an established connection
    const live = connect({ port: local, host: '127.0.0.1' })
    live.on('error', () => {})
    live.write('one')
    expect(String(await new Promise((res) => live.once('data', res)))).toBe('one')

    // a bad CRL file: reload fails, old config stays, carol still gets in
    await writeFile(crlPath, '-----BEGIN X509 CRL-----\nnot base64!\n-----END X509 CRL-----\n')
    await expect(server.reload()).rejects.toMatchObject({ code: 'proxy-reload-failed' })
    expect((await roundTrip(local, Buffer.from('still'))).bytes.toString()).toBe('still')

    // revoke carol, publish the CRL, reload
    await pki.ca.revoke(carol.certificate.serial, 'keyCompromise')
    await writeFile(crlPath, pemEncode((await pki.ca.crl()).der, 'X509 CRL'))
    await server.reload()
    const refused = new Promise<Error & { details?: Record<string, unknown> }>((res) => client.once('refused', res))
    expect((await roundTrip(local, Buffer.from('after'))).bytes.length).toBe(0)
    expect((await refused).details?.alert).toBe('cert-revoked')

    // the connection made before the revocation still works
    live.write('two')
    expect(String(await new Promise((res) => live.once('data', res)))).toBe('two')
    live.destroy()

    // a policy edit that does not parse keeps the old policy too
    await writeFile(policyPath, 'version: 1\nrules: [ {')
    await expect(server.reload()).rejects.toMatchObject({ code: 'proxy-reload-failed' })
    // carol's refused handshake (before authentication) is in the refusal summary written at close
    await server.close()
    expect(log.entries.at(-1)).toMatchObject({ kind: 'refusal-summary', codes: { 'cert-revoked': 1 } })
  }, 30_000)
})

describe('proxy policy context and addresses', () => {
  const networkPolicy = (cidr: string): string => `version: 1
groups:
  fam: ["ou:family"]
rules:
  - id: family-from-${cidr.startsWith('127') ? 'loopback' : 'office'}
    allow: [print]
    peers: [fam]
    resources: ["service:echo"]
    when:
      networks: ["${cidr}"]
`

  it('passes the peer address and the action to the policy: a networks rule decides', async () => {
    const pki = await testPki()
    for (const [cidr, allowed] of [
      ['127.0.0.0/8', true],
      ['192.168.10.0/24', false]
    ] as const) {
      const r = await rig({ server: { action: 'print', config: configOf(pki.peers.nas!, pki, networkPolicy(cidr)) } })
      const got = await roundTrip(r.localPort, Buffer.from('page'))
      expect(got.bytes.toString()).toBe(allowed ? 'page' : '')
      await r.log.holding(1)
      expect(r.log.entries[0]).toMatchObject({ event: allowed ? 'accepted' : 'refused', action: 'print' })
      if (!allowed) expect(r.log.entries[0]?.code).toBe('deny-default')
    }
  })

  it('works over IPv6 loopback, both hops', async () => {
    const pki = await testPki()
    const echo = await echoServer()
    cleanups.push(echo.close)
    const server = createProxyServer({
      listen: '[::1]:0',
      target: `127.0.0.1:${echo.port}`,
      service: 'echo',
      config: configOf(pki.peers.nas!, pki)
    })
    const seen = new Promise<{ address?: string }>((res) => server.once('connection', res))
    const { port } = await server.listen()
    cleanups.push(() => server.close())
    const client = createProxyClient({ listen: '[::1]:0', connect: `[::1]:${port}`, config: configOf(pki.peers.alice!, pki) })
    const { port: local } = await client.listen()
    cleanups.push(() => client.close())
    const got = await new Promise<string>((resolve) => {
      let text = ''
      const s = connect({ port: local, host: '::1', allowHalfOpen: true })
      s.on('data', (c: Buffer) => {
        text += c.toString()
      })
      s.on('end', () => resolve(text))
      s.on('error', () => resolve(text))
      s.on('connect', () => s.end('over v6'))
    })
    expect(got).toBe('over v6')
    expect((await seen).address).toMatch(/^\[::1\]:\d+$/)
  })
})
