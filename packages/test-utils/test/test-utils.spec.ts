import { describe, expect, it } from '@jest/globals'
import { duplexPair, frameProxy, makeTestPki, tcpPair } from '@peerguard/test-utils'
import { connect, createServer, type AddressInfo, type Socket } from 'node:net'

const collect = (s: NodeJS.ReadableStream): Promise<Buffer> =>
  new Promise((resolve) => {
    const parts: Buffer[] = []
    s.on('data', (c: Buffer) => parts.push(c))
    s.once('end', () => resolve(Buffer.concat(parts)))
  })

describe('duplexPair', () => {
  it('carries bytes both ways and half-closes', async () => {
    const [a, b] = duplexPair()
    const fromA = collect(b)
    a.end('ping')
    expect((await fromA).toString()).toBe('ping')
    const fromB = collect(a)
    b.end('pong')
    expect((await fromB).toString()).toBe('pong')
  })

  it('applies backpressure and destroy closes both ends', async () => {
    const [a, b] = duplexPair()
    let ok = true
    let n = 0
    while (ok && n < 10_000) {
      ok = a.write(Buffer.alloc(1024))
      n++
    }
    expect(ok).toBe(false)
    const closed = new Promise((r) => b.once('close', r))
    a.destroy()
    await closed
    expect(b.destroyed).toBe(true)
  })
})

describe('tcpPair and frameProxy', () => {
  it('tcpPair gives two connected loopback sockets', async () => {
    const [c, s] = await tcpPair()
    const got = collect(s)
    c.end('over tcp')
    expect((await got).toString()).toBe('over tcp')
    s.destroy()
  })

  it('frameProxy splits frames and applies the tamper function', async () => {
    const server = createServer((s: Socket) => s.pipe(s))
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const seen: number[] = []
    const proxy = await frameProxy({
      targetPort: (server.address() as AddressInfo).port,
      clientToServer: (f, i) => {
        seen.push(f.length)
        return i === 1 ? [] : [f]
      }
    })
    const c = connect(proxy.port, '127.0.0.1')
    const frame = (body: string) => Buffer.concat([Buffer.from([0, body.length]), Buffer.from(body)])
    const echoed = collect(c)
    c.write(Buffer.concat([frame('one'), frame('two')]))
    c.end(frame('three'))
    expect((await echoed).toString('latin1')).toBe(`\u0000\u0003one\u0000\u0005three`)
    expect(seen).toEqual([5, 5, 7])
    await proxy.close()
    server.close()
  })
})

describe('makeTestPki', () => {
  it('issues peers with chains and groups from one CA', async () => {
    const pki = await makeTestPki({ peers: [{ name: 'ann', groups: ['a', 'b'] }, 'ben'] })
    expect(pki.peers.ann?.groups).toEqual(['a', 'b'])
    expect(pki.peers.ben?.chain.length).toBeGreaterThanOrEqual(1)
    expect(pki.peers.ann?.peerId).not.toBe(pki.peers.ben?.peerId)
    const extra = await pki.issue('cat', { groups: ['c'] })
    expect(extra.certificate.name).toBe('cat')
  })
})
