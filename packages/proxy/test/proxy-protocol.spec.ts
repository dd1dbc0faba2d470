import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from '@jest/globals'
import { InvalidArgumentError, type PeerInfo } from '@peerguard/interface'
import {
  createProxyClient,
  createProxyServer,
  encodeProxyV2,
  PP2_TYPE_PEERGUARD_GROUP,
  PP2_TYPE_PEERGUARD_NAME,
  PP2_TYPE_PEERGUARD_PEER_ID,
  type ProxyHeader,
  ProxyProtocolInvalidError,
  parseProxyV2,
  peerTlvs
} from '@peerguard/proxy'
import { needs } from '@peerguard/test-utils'
import fc from 'fast-check'
import { configOf, deadPort, testPki } from './helpers.js'

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {})
})

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
/** Node's (RFC 5952) text of an IPv6 address. */
const canonical6 = (a: string): string => new URL(`http://[${a}]/`).hostname.slice(1, -1)

describe('PROXY protocol v2 encoder and parser', () => {
  it('encodes the example layout of the spec (section 2.2): TCP over IPv4, no TLVs', () => {
    const h = encodeProxyV2({ source: { address: '192.0.2.1', port: 56324 }, destination: { address: '192.0.2.2', port: 443 } })
    // signature, v2|PROXY, TCP4, length 12, src, dst, sport, dport
    expect(hex(h)).toBe(`0d0a0d0a000d0a515549540a` + '21' + '11' + '000c' + 'c0000201' + 'c0000202' + 'dc04' + '01bb')
  })

  it('IPv6, IPv4-mapped IPv6 (as Node reports dual-stack clients) and no addresses (UNSPEC)', () => {
    const v6 = encodeProxyV2({ source: { address: '::1', port: 1 }, destination: { address: 'fe80::1:2', port: 2 } })
    expect(v6[13]).toBe(0x21)
    expect(parseProxyV2(v6)?.header).toMatchObject({ family: 'tcp6', source: { address: '::1', port: 1 } })
    const mapped = encodeProxyV2({
      source: { address: '::ffff:10.1.2.3', port: 1 },
      destination: { address: '10.0.0.1', port: 2 }
    })
    expect(parseProxyV2(mapped)?.header).toMatchObject({ family: 'tcp4', source: { address: '10.1.2.3', port: 1 } })
    const unspec = encodeProxyV2({ tlvs: [{ type: 0xe0, value: new Uint8Array([65]) }] })
    expect(hex(unspec.subarray(12, 16))).toBe('21000004')
    expect(parseProxyV2(unspec)?.header).toEqual({
      command: 'proxy',
      family: 'unspec',
      tlvs: [{ type: 0xe0, value: new Uint8Array([65]) }]
    })
  })

  it("peerguard's TLVs: peer ID 0xE0, certificate name 0xE1, one 0xE2 per group", () => {
    const tlvs = peerTlvs({ peerId: 'PEER-ID', name: 'alice', groups: ['family', 'ops'] })
    const text = (v: Uint8Array): string => new TextDecoder().decode(v)
    expect(tlvs.map((t) => [t.type, text(t.value)])).toEqual([
      [PP2_TYPE_PEERGUARD_PEER_ID, 'PEER-ID'],
      [PP2_TYPE_PEERGUARD_NAME, 'alice'],
      [PP2_TYPE_PEERGUARD_GROUP, 'family'],
      [PP2_TYPE_PEERGUARD_GROUP, 'ops']
    ])
    expect([PP2_TYPE_PEERGUARD_PEER_ID, PP2_TYPE_PEERGUARD_NAME, PP2_TYPE_PEERGUARD_GROUP]).toEqual([0xe0, 0xe1, 0xe2])
    expect(peerTlvs({ peerId: 'P', groups: [] }).map((t) => t.type)).toEqual([0xe0])
  })

  it('refuses bad input with exact messages and typed errors', () => {
    const dst = { address: '127.0.0.1', port: 1 }
    expect(() => encodeProxyV2({ source: { address: 'nas.lan', port: 1 }, destination: dst })).toThrow(
      new InvalidArgumentError('header.source.address: expected an IPv4 or IPv6 address')
    )
    expect(() => encodeProxyV2({ source: { address: '127.0.0.1', port: 70000 }, destination: dst })).toThrow(
      'header.source.port: expected an integer 0..65535, got 70000'
    )
    expect(() => encodeProxyV2({ source: { address: '::1', port: 1 }, destination: dst })).toThrow(
      'header.destination: expected the same address family as header.source'
    )
    expect(() => encodeProxyV2({ tlvs: [{ type: 256, value: new Uint8Array() }] })).toThrow(
      'header.tlvs[0].type: expected an integer 0..255, got 256'
    )
    const big = { type: 0xe0, value: new Uint8Array(65533) }
    expect(() => encodeProxyV2({ tlvs: [big] })).toThrow(ProxyProtocolInvalidError)
    expect(() => encodeProxyV2({ tlvs: [big] })).toThrow(
      'addresses and TLVs take 65536 bytes; a PROXY v2 header holds at most 65535'
    )
    expect(encodeProxyV2({ tlvs: [{ type: 0xe0, value: new Uint8Array(65532) }] }).length).toBe(16 + 65535)
    // the parser
    expect(() => parseProxyV2(new TextEncoder().encode('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n'))).toThrow('bad signature')
    const h = encodeProxyV2({ source: { address: '1.2.3.4', port: 1 }, destination: dst })
    expect(() => parseProxyV2(Uint8Array.from([...h.subarray(0, 12), 0x11, ...h.subarray(13)]))).toThrow(
      'PROXY header version 1, expected 2'
    )
    expect(() => parseProxyV2(Uint8Array.from([...h.subarray(0, 13), 0x12, ...h.subarray(14)]))).toThrow(
      'PROXY v2 family/transport 0x12 is not supported'
    )
    // a TLV that claims more bytes than the header holds
    const lying = Uint8Array.from([...h.subarray(0, 14), 0, 15, ...h.subarray(16), 0xe0, 0, 9])
    expect(() => parseProxyV2(lying)).toThrow('a PROXY v2 TLV value overruns the declared length')
  })

  const endpoint4 = fc.record({ address: fc.ipV4(), port: fc.integer({ min: 0, max: 65535 }) })
  const endpoint6 = fc.record({
    address: fc.ipV6().filter((a) => !/^::ffff:\d/i.test(a)),
    port: fc.integer({ min: 0, max: 65535 })
  })
  const tlv = fc.record({ type: fc.integer({ min: 0, max: 255 }), value: fc.uint8Array({ maxLength: 300 }) })
  const header = fc.oneof(
    fc.record({ source: endpoint4, destination: endpoint4, tlvs: fc.array(tlv, { maxLength: 8 }) }),
    fc.record({ source: endpoint6, destination: endpoint6, tlvs: fc.array(tlv, { maxLength: 8 }) }),
    fc.record({ tlvs: fc.array(tlv, { maxLength: 8 }) })
  )

  it('property: parse(encode(h)) gives h back; the length field is the bytes after the fixed 16', () => {
    fc.assert(
      fc.property(header, (h) => {
        const bytes = encodeProxyV2(h)
        expect(new DataView(bytes.buffer).getUint16(14)).toBe(bytes.length - 16)
        const tlvBytes = h.tlvs.reduce((n, t) => n + 3 + t.value.length, 0)
        const addressBytes = 'source' in h ? (h.source.address.includes(':') ? 36 : 12) : 0
        expect(bytes.length).toBe(16 + addressBytes + tlvBytes)
        const parsed = parseProxyV2(bytes)
        expect(parsed?.length).toBe(bytes.length)
        const want: ProxyHeader =
          'source' in h
            ? {
                command: 'proxy',
                family: h.source.address.includes(':') ? 'tcp6' : 'tcp4',
                source: {
                  address: h.source.address.includes(':') ? canonical6(h.source.address) : h.source.address,
                  port: h.source.port
                },
                destination: {
                  address: h.destination.address.includes(':') ? canonical6(h.destination.address) : h.destination.address,
                  port: h.destination.port
                },
                tlvs: h.tlvs
              }
            : { command: 'proxy', family: 'unspec', tlvs: h.tlvs }
        expect(parsed?.header).toEqual(want)
        // a header followed by data: only the header is consumed
        expect(parseProxyV2(Uint8Array.from([...bytes, 1, 2, 3]))?.length).toBe(bytes.length)
        // any strict prefix asks for more bytes
        expect(parseProxyV2(bytes.subarray(0, Math.floor(bytes.length / 2)))).toBeUndefined()
      }),
      { numRuns: 300 }
    )
  })

  it('property: arbitrary bytes after the signature parse, ask for more, or throw ProxyProtocolInvalidError only', () => {
    const sig = encodeProxyV2({}).subarray(0, 12)
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (tail, signed) => {
        const bytes = signed ? Uint8Array.from([...sig, ...tail]) : tail
        try {
          const r = parseProxyV2(bytes)
          if (r !== undefined) expect(r.length).toBeLessThanOrEqual(bytes.length)
        } catch (err) {
          expect(err).toBeInstanceOf(ProxyProtocolInvalidError)
          expect((err as ProxyProtocolInvalidError).code).toBe('proxy-protocol-invalid')
        }
      }),
      { numRuns: 500 }
    )
  })
})

/** A backend that reads the PROXY v2 header, answers with what it learned as JSON, then ends. */
async function tlvBackend(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
    s.on('error', () => {})
    let buffered = Buffer.alloc(0)
    s.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      const r = parseProxyV2(buffered)
      // the header, then the client's first bytes (they may come in a later packet)
      if (r === undefined || buffered.length === r.length) return
      s.removeAllListeners('data')
      const utf8 = (type: number): string[] =>
        r.header.tlvs.filter((t) => t.type === type).map((t) => new TextDecoder().decode(t.value))
      const rest = buffered.subarray(r.length).toString()
      s.end(
        JSON.stringify({
          source: r.header.source,
          destination: r.header.destination,
          peerId: utf8(PP2_TYPE_PEERGUARD_PEER_ID)[0],
          name: utf8(PP2_TYPE_PEERGUARD_NAME)[0],
          groups: utf8(PP2_TYPE_PEERGUARD_GROUP),
          firstData: rest
        })
      )
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      })
  }
}

/** Send `text` through `port`, collect the answer until the other side ends. */
function ask(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const s = connect({ port, host: '127.0.0.1' }, () => s.write(text))
    s.on('data', (c: Buffer) => chunks.push(c))
    s.on('end', () => resolve(Buffer.concat(chunks).toString()))
    s.on('error', reject)
  })
}

/** The proxy pair (alice → nas) in front of `targetPort` with `proxyProtocol`; the server's view of the peer. */
async function pair(targetPort: number, tls: boolean): Promise<{ localPort: number; peer: Promise<PeerInfo> }> {
  const pki = await testPki()
  const server = createProxyServer({
    target: `127.0.0.1:${targetPort}`,
    service: 'echo',
    config: configOf(pki.peers.nas!, pki),
    proxyProtocol: true,
    tls
  })
  const peer = new Promise<PeerInfo>((resolve) => server.once('connection', (p: PeerInfo) => resolve(p)))
  const { port } = await server.listen()
  cleanups.push(() => server.close())
  const client = createProxyClient({
    connect: `127.0.0.1:${port}`,
    config: configOf(pki.peers.alice!, pki),
    expectedPeerId: pki.peers.nas!.peerId,
    tls
  })
  const { port: localPort } = await client.listen()
  cleanups.push(() => client.close())
  return { localPort, peer }
}

describe('proxyProtocol: the backend learns who connected', () => {
  for (const tls of [false, true]) {
    it(`over ${tls ? 'TLS' : 'Noise'}: the header comes first, with the client's address and the peer's ID, name and groups`, async () => {
      const backend = await tlvBackend()
      cleanups.push(backend.close)
      const { localPort, peer } = await pair(backend.port, tls)
      const answer = JSON.parse(await ask(localPort, 'hello')) as Record<string, unknown>
      const pki = await testPki()
      const alice = pki.peers.alice!
      const seen = await peer
      expect(answer).toMatchObject({ peerId: alice.peerId, name: 'alice', groups: ['family'], firstData: 'hello' })
      // the source is the peer's socket as the proxy server saw it
      expect(`${(answer.source as { address: string }).address}:${(answer.source as { port: number }).port}`).toBe(seen.address)
      expect(answer.destination).toMatchObject({ address: '127.0.0.1' })
    })
  }
})

const nginx = needs('nginx', 'PROXY protocol v2 into a real nginx (listen … proxy_protocol, $proxy_protocol_addr)')

nginx.describe('proxyProtocol into nginx', () => {
  it("nginx accepts the header and logs the peer's address and port from it, not the proxy's", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pg-nginx-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true, maxRetries: 5 }))
    const port = await deadPort()
    const bin = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx'
    const conf = join(dir, 'nginx.conf')
    await writeFile(
      conf,
      `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 64; }
http {
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  log_format pp 'pp=$proxy_protocol_addr:$proxy_protocol_port remote=$remote_addr:$remote_port';
  server {
    listen 127.0.0.1:${port} proxy_protocol;
    access_log ${dir}/access.log pp;
    location / { default_type text/plain; return 200 "from $proxy_protocol_addr\\n"; }
  }
}
`
    )
    const child = spawn(bin, ['-e', join(dir, 'error.log'), '-p', dir, '-c', conf, '-g', 'daemon off;'], { stdio: 'ignore' })
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve()
          child.once('exit', () => resolve())
          child.kill('SIGTERM')
        })
    )
    // wait until nginx listens (it answers PROXY-less probes with a closed connection, which is fine)
    for (let i = 0; ; i++) {
      const up = await new Promise<boolean>((resolve) => {
        const s = connect({ port, host: '127.0.0.1' }, () => {
          s.destroy()
          resolve(true)
        })
        s.on('error', () => resolve(false))
      })
      if (up) break
      if (child.exitCode !== null || i > 600)
        throw new Error(`nginx did not start: ${await readFile(join(dir, 'error.log'), 'utf8')}`)
      await new Promise((r) => setTimeout(r, 100))
    }
    const { localPort, peer } = await pair(port, false)
    const response = await ask(localPort, 'GET / HTTP/1.0\r\nHost: printer\r\n\r\n')
    expect(response).toMatch(/^HTTP\/1\.1 200 OK/)
    expect(response).toMatch(/from 127\.0\.0\.1\n$/)
    const seen = (await peer).address as string
    let log = ''
    for (let i = 0; i < 600 && !log.includes('pp='); i++) {
      log = await readFile(join(dir, 'access.log'), 'utf8').catch(() => '')
      if (!log.includes('pp=')) await new Promise((r) => setTimeout(r, 100))
    }
    const m = /pp=(\S+) remote=(\S+)/.exec(log)
    expect(m?.[1]).toBe(seen)
    // the TCP connection nginx saw came from the proxy server, another port
    expect(m?.[2]).not.toBe(seen)
  })
})
