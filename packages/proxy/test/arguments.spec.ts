import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, expect, it } from '@jest/globals'
import { isPeerguardError } from '@peerguard/interface'
import {
  createProxyClient,
  createProxyServer,
  formatHostPort,
  loadProxyConfig,
  parseHostPort,
  ProxyAddressInvalidError
} from '@peerguard/proxy'
import { secureTlsInbound, secureTlsOutbound } from '@peerguard/channel/tls'
import fc from 'fast-check'
import { configOf, peerFiles, testPki } from './helpers.js'

describe('parseHostPort', () => {
  it('parses IPv4, names, [IPv6] and :PORT', () => {
    expect(parseHostPort('127.0.0.1:631')).toEqual({ host: '127.0.0.1', port: 631 })
    expect(parseHostPort('printer.lan:9100')).toEqual({ host: 'printer.lan', port: 9100 })
    expect(parseHostPort('[::1]:8080')).toEqual({ host: '::1', port: 8080 })
    expect(parseHostPort(':7000')).toEqual({ host: '127.0.0.1', port: 7000 })
    expect(parseHostPort({ host: '::1', port: 22 })).toEqual({ host: '::1', port: 22 })
  })

  it.each([
    ['', /expected HOST:PORT/],
    ['localhost', /no port/],
    ['1.2.3.4:65536', /port must be 0..65535/],
    ['1.2.3.4:-1', /port must be/],
    ['1.2.3.4:80x', /port must be/],
    ['::1:80', /\[ADDRESS\]:PORT/],
    ['[::1:80', /\[IPv6\]:PORT/],
    ['[not-v6]:80', /not an IPv6 address/],
    ['bad host:80', /not a host name/],
    ['a_b:80', /not a host name/]
  ])('refuses %j with proxy-address-invalid', (text, message) => {
    expect(() => parseHostPort(text)).toThrow(ProxyAddressInvalidError)
    expect(() => parseHostPort(text)).toThrow(message)
  })

  it('refuses non-strings with a typed error', () => {
    for (const v of [undefined, null, 42, true, []]) {
      expect(() => parseHostPort(v)).toThrow(ProxyAddressInvalidError)
    }
  })

  it('round-trips every valid endpoint (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain()), fc.integer({ min: 0, max: 65535 }), (host, port) => {
        const hp = { host, port }
        expect(parseHostPort(formatHostPort(hp))).toEqual(hp)
      }),
      { numRuns: 500 }
    )
  })

  it('throws only proxy-address-invalid on any string (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 400 }), (s) => {
        try {
          const hp = parseHostPort(s)
          expect(hp.port).toBeGreaterThanOrEqual(0)
          expect(hp.port).toBeLessThanOrEqual(65535)
        } catch (err) {
          expect(err).toBeInstanceOf(ProxyAddressInvalidError)
        }
      }),
      { numRuns: 2000 }
    )
  })
})

describe('createProxyServer / createProxyClient check their options', () => {
  it('refuses wrong types, sizes and missing parts with typed errors', async () => {
    const pki = await testPki()
    const good = { target: '127.0.0.1:9', service: 'echo', config: configOf(pki.peers.nas!, pki) }
    const bad: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ ...good, target: 'nope' }, 'proxy-address-invalid', /options.target/],
      [{ ...good, target: '127.0.0.1:0' }, 'invalid-argument', /port 0/],
      [{ ...good, service: '' }, 'invalid-argument', /options.service/],
      [{ ...good, service: 'a/b' }, 'invalid-argument', /options.service/],
      [{ ...good, config: undefined }, 'invalid-argument', /config/],
      [{ ...good, config: { ...good.config, policy: undefined } }, 'invalid-argument', /config.policy/],
      [{ ...good, config: { ...good.config, chain: [] } }, 'invalid-argument', /config.chain/],
      [{ ...good, maxConnections: 0 }, 'invalid-argument', /maxConnections/],
      [{ ...good, idleTimeoutMs: -1 }, 'invalid-argument', /idleTimeoutMs/],
      [{ ...good, connectTimeoutMs: 1.5 }, 'invalid-argument', /connectTimeoutMs/],
      [{ ...good, decisionLog: {} }, 'invalid-argument', /decisionLog/],
      [{ ...good, listen: '1.2.3.4' }, 'proxy-address-invalid', /options.listen/]
    ]
    for (const [opts, code, message] of bad) {
      let caught: unknown
      try {
        createProxyServer(opts as never)
      } catch (err) {
        caught = err
      }
      expect(isPeerguardError(caught)).toBe(true)
      expect((caught as { code: string }).code).toBe(code)
      expect((caught as Error).message).toMatch(message)
    }
    expect(() => createProxyServer(null as never)).toThrow(/options: expected an object/)
    const client = { connect: '127.0.0.1:9', config: configOf(pki.peers.alice!, pki) }
    expect(() => createProxyClient({ ...client, listen: '0.0.0.0:0' })).toThrow(/not a loopback address/)
    expect(() => createProxyClient({ ...client, expectedPeerId: 'not-a-peer-id' })).toThrow(/options.expectedPeerId/)
    expect(() => createProxyClient({ ...client, connect: 'x' })).toThrow(ProxyAddressInvalidError)
    expect(() => createProxyClient({ ...client, listen: '0.0.0.0:0', allowRemoteClients: true })).not.toThrow()
  })

  it('the TLS channel functions check their arguments', async () => {
    const pki = await testPki()
    const alice = pki.peers.alice!
    const opts = { identity: alice.identity, chain: alice.chain, trust: pki.trust }
    await expect(secureTlsOutbound({} as never, opts)).rejects.toMatchObject({ code: 'invalid-argument' })
    await expect(secureTlsInbound(new PassThrough(), { ...opts, chain: [] })).rejects.toThrow(/options.chain/)
    await expect(
      secureTlsInbound(new PassThrough(), { ...opts, identity: { publicKey: new Uint8Array(31), secretKey: new Uint8Array(64) } })
    ).rejects.toThrow(/publicKey/)
    await expect(secureTlsInbound(new PassThrough(), { ...opts, trust: {} as never })).rejects.toThrow(/options.trust/)
    await expect(secureTlsInbound(new PassThrough(), { ...opts, handshakeTimeoutMs: 0 })).rejects.toThrow(/handshakeTimeoutMs/)
  })

  it('a TLS handshake against garbage times out or fails with a typed error, never hangs', async () => {
    const pki = await testPki()
    const alice = pki.peers.alice!
    const stream = new PassThrough()
    const p = secureTlsInbound(stream, {
      identity: alice.identity,
      chain: alice.chain,
      trust: pki.trust,
      handshakeTimeoutMs: 300
    })
    stream.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'))
    await expect(p).rejects.toMatchObject({ code: 'proxy-tls-handshake-failed' })
  })
})

describe('loadProxyConfig', () => {
  it("loads a peer's files, and names the file when one is wrong", async () => {
    const pki = await testPki()
    const f = await peerFiles(pki, pki.peers.nas!)
    try {
      const cfg = await loadProxyConfig({ identity: f.key, cert: f.cert, trust: f.root })
      expect(cfg.chain).toHaveLength(pki.peers.nas!.chain.length)
      expect(cfg.trust.roots).toHaveLength(1)
      await expect(loadProxyConfig({ identity: join(f.dir, 'missing.key'), cert: f.cert, trust: f.root })).rejects.toMatchObject({
        code: 'not-found'
      })
      // a certificate for another key than the identity's
      const other = await peerFiles(pki, pki.peers.alice!)
      await expect(loadProxyConfig({ identity: f.key, cert: other.cert, trust: f.root })).rejects.toMatchObject({
        code: 'proxy-config-invalid',
        message: expect.stringMatching(/not issued for the key/)
      })
      await other.cleanup()
      await writeFile(join(f.dir, 'garbage.pem'), 'hello\n')
      await expect(loadProxyConfig({ identity: f.key, cert: join(f.dir, 'garbage.pem'), trust: f.root })).rejects.toMatchObject({
        code: 'proxy-config-invalid'
      })
      await expect(loadProxyConfig({ identity: f.key, cert: f.cert, trust: join(f.dir, 'garbage.pem') })).rejects.toMatchObject({
        code: 'proxy-config-invalid'
      })
      await writeFile(join(f.dir, 'bad.yaml'), 'version: 1\nrules: [ {')
      const policyError = await loadProxyConfig({
        identity: f.key,
        cert: f.cert,
        trust: f.root,
        policy: join(f.dir, 'bad.yaml')
      }).catch((e: unknown) => e)
      expect(isPeerguardError(policyError) && policyError.code.startsWith('policy-')).toBe(true)
      await expect(loadProxyConfig({ identity: '', cert: f.cert, trust: f.root })).rejects.toMatchObject({
        code: 'invalid-argument'
      })
    } finally {
      await f.cleanup()
    }
  })
})
