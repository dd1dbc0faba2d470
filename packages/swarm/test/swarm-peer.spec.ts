import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDecisionLog } from '@peerguard/decision-log'
import { createListener, secureOutbound } from '@peerguard/channel'
import { generateKeyPair } from '@peerguard/identity'
import { createTrustStore } from '@peerguard/pki'
import { loadPolicy } from '@peerguard/policy'
import { createSwarmPeer, encodeManifest, parseManifest, type SwarmManifest, type SwarmPeer } from '@peerguard/swarm'
import { encodeMessage, MessageDecoder, SWARM_PROTOCOL } from '@peerguard/swarm/wire'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'

const POLICY = `
version: 1
groups:
  team: ["ou:swarm-team"]
  readers: ["ou:swarm-readers"]
rules:
  - id: team-and-readers-fetch
    allow: [read]
    peers: [team, readers]
    resources: ["swarm:*"]
  - id: team-seeds
    allow: [write]
    peers: [team]
    resources: ["swarm:team-*"]
`

const SIZE = 6 * 1024 * 1024 + 12345 // not a multiple of the piece size
const PIECE = 64 * 1024

let dir: string
let pki: TestPki
let file: string
let content: Buffer
let manifest: SwarmManifest
let seeder: SwarmPeer
let seederAddr: string
let logPath: string
let seederLog: Awaited<ReturnType<typeof openDecisionLog>> | undefined
const peers: SwarmPeer[] = []
const policy = loadPolicy(POLICY)

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

function peerOf(p: TestPeer, extra: Partial<Parameters<typeof createSwarmPeer>[0]> = {}): SwarmPeer {
  const peer = createSwarmPeer({ identity: p.identity, chain: p.chain, trust: pki.trust, policy, stallTimeoutMs: 5000, ...extra })
  peers.push(peer)
  return peer
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-swarm-'))
  pki = await makeTestPki({
    peers: [
      { name: 'seeder', groups: ['swarm-team'] },
      { name: 'leech1', groups: ['swarm-team'] },
      { name: 'leech2', groups: ['swarm-team'] },
      { name: 'leech3', groups: ['swarm-team'] },
      { name: 'evil', groups: ['swarm-team'] },
      { name: 'reader', groups: ['swarm-readers'] },
      { name: 'stranger', groups: ['visitors'] }
    ]
  })
  content = randomBytes(SIZE)
  file = join(dir, 'dataset.bin')
  await writeFile(file, content)
  logPath = join(dir, 'seeder.log')
  const log = await openDecisionLog({ path: logPath, identity: (pki.peers.seeder as TestPeer).identity })
  seederLog = log
  // The seeder uploads at most 3 MiB/s, so leechers must also serve each other to finish quickly.
  seeder = peerOf(pki.peers.seeder as TestPeer, { log, maxUploadBytesPerSecond: 3 * 1024 * 1024 })
  manifest = await seeder.publish(file, { name: 'team-dataset', pieceSize: PIECE })
  await seeder.seed(manifest, file)
  const { port } = await seeder.listen()
  seederAddr = `127.0.0.1:${port}`
}, 30_000)

afterAll(async () => {
  for (const p of peers) await p.close()
  // an open log writes its checkpoint and head file up to 5 s after the last entry: close it first,
  // or that write can land in the folder while it is being removed (ENOTEMPTY in CI)
  await seederLog?.close()
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('swarm manifest', () => {
  it('describes the file: size, pieces, whole-file SHA-256, signed by the publisher', () => {
    expect(manifest.size).toBe(SIZE)
    expect(manifest.pieces).toHaveLength(Math.ceil(SIZE / PIECE))
    expect(manifest.pieces[0]).toBe(sha(content.subarray(0, PIECE)))
    expect(manifest.sha256).toBe(sha(content))
    expect(manifest.publisher).toBe((pki.peers.seeder as TestPeer).peerId)
    expect(manifest.swarmId).toMatch(/^[0-9a-f]{64}$/)
    const again = parseManifest(encodeManifest(manifest))
    expect(again).toEqual(manifest)
  })
})

describe('swarm: 1 seeder, 3 leechers over loopback', () => {
  it('distributes the file; leechers fetch pieces from each other; every copy is exact', async () => {
    const leechers = ['leech1', 'leech2', 'leech3'].map((n) => peerOf(pki.peers[n] as TestPeer))
    const addrs: string[] = []
    for (const l of leechers) addrs.push(`127.0.0.1:${(await l.listen()).port}`)
    const outs = leechers.map((_, i) => join(dir, `out-${i}.bin`))
    const results = await Promise.all(
      leechers.map((l, i) =>
        l.fetch(manifest, { peers: [seederAddr, ...addrs.filter((_, j) => j !== i)], out: outs[i] as string })
      )
    )
    for (const [i, r] of results.entries()) {
      expect(r.sha256).toBe(manifest.sha256)
      expect(sha(await readFile(outs[i] as string))).toBe(sha(content))
      expect(existsSync(`${outs[i]}.pgswarm-part`)).toBe(false)
      const total = Object.values(r.piecesFrom).reduce((a, b) => a + b, 0)
      expect(total).toBe(manifest.pieces.length)
    }
    const leecherIds = new Set(['leech1', 'leech2', 'leech3'].map((n) => (pki.peers[n] as TestPeer).peerId))
    const fromLeechers = results.map((r) =>
      Object.entries(r.piecesFrom)
        .filter(([id]) => leecherIds.has(id))
        .reduce((a, [, n]) => a + n, 0)
    )
    expect(fromLeechers.reduce((a, b) => a + b, 0)).toBeGreaterThan(0)
    expect(leechers.some((l) => l.bytesServed > 0)).toBe(true)
    // The seeder logged each leecher's admission.
    const entries = (await readFile(logPath, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    const fetches = entries.filter((e) => e.verb === 'fetch' && e.allowed === true)
    expect(fetches.length).toBeGreaterThanOrEqual(3)
    expect(fetches[0]?.resource).toBe('swarm:team-dataset')
  }, 60_000)
})

describe('swarm: a malicious peer', () => {
  it('serving corrupted pieces is detected and dropped; the file still completes from honest peers', async () => {
    const evil = pki.peers.evil as TestPeer
    let served = 0
    const listener = createListener(
      { identity: evil.identity, chain: evil.chain, trust: pki.trust, protocols: [SWARM_PROTOCOL] },
      (channel) => {
        const decoder = new MessageDecoder()
        channel.on('error', () => {})
        channel.on('data', (chunk: Buffer) => {
          for (const m of decoder.push(chunk)) {
            if (m.type === 'hello') {
              const bits = new Uint8Array(Math.ceil(m.pieceCount / 8)).fill(0xff)
              if (m.pieceCount % 8 !== 0) bits[bits.length - 1] = (0xff << (8 - (m.pieceCount % 8))) & 0xff
              channel.write(encodeMessage({ type: 'hello', swarmId: m.swarmId, pieceCount: m.pieceCount, bitfield: bits }))
              channel.write(encodeMessage({ type: 'unchoke' }))
            } else if (m.type === 'request') {
              served++
              channel.write(encodeMessage({ type: 'piece', piece: m.piece, offset: m.offset, data: randomBytes(m.length) }))
            }
          }
        })
      }
    )
    const { port } = await listener.listen()
    try {
      const victimLog = join(dir, 'victim.log')
      const log = await openDecisionLog({ path: victimLog, identity: (pki.peers.leech1 as TestPeer).identity })
      const victim = peerOf(pki.peers.leech1 as TestPeer, { requestsPerPeer: 4, log })
      const out = join(dir, 'victim.bin')
      const r = await victim.fetch(manifest, { peers: [`127.0.0.1:${port}`, seederAddr], out })
      expect(served).toBeGreaterThan(0)
      expect(sha(await readFile(out))).toBe(sha(content))
      expect(r.piecesFrom[evil.peerId]).toBeUndefined()
      expect(r.dropped).toEqual([expect.objectContaining({ peerId: evil.peerId, code: 'swarm-piece-corrupt' })])
      // The fetcher logged the bad piece with the peer that sent it.
      await log.close()
      const entries = (await readFile(victimLog, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
      expect(entries).toContainEqual(
        expect.objectContaining({
          allowed: false,
          code: 'swarm-piece-corrupt',
          verb: 'piece',
          peer: expect.objectContaining({ peerId: evil.peerId })
        })
      )
    } finally {
      await listener.close()
    }
  }, 60_000)
})

describe('swarm: access control', () => {
  it('refuses a peer certified by another CA (the seeder logs cert-unknown-issuer)', async () => {
    const other = await makeTestPki({ caName: 'Other CA', peers: [{ name: 'mallory', groups: ['swarm-team'] }] })
    const mallory = other.peers.mallory as TestPeer
    // Mallory trusts our CA too, so only the seeder's check can stop her.
    const trust = createTrustStore({
      roots: [pki.ca.certificate, other.ca.certificate],
      crls: [(await pki.ca.crl()).der, (await other.ca.crl()).der]
    })
    const peer = createSwarmPeer({ identity: mallory.identity, chain: mallory.chain, trust, stallTimeoutMs: 3000 })
    peers.push(peer)
    const out = join(dir, 'mallory.bin')
    await expect(peer.fetch(manifest, { peers: [seederAddr], out })).rejects.toMatchObject({ code: 'swarm-stalled' })
    expect(existsSync(out)).toBe(false)
    expect(existsSync(`${out}.pgswarm-part`)).toBe(false)
    // the seeder's refusal (before authentication) is counted in its refusal summary: see the last test
  }, 30_000)

  it('refuses a peer without a certificate', async () => {
    const socket = connect(Number(seederAddr.split(':')[1]), '127.0.0.1')
    await new Promise((r) => socket.once('connect', r))
    const seederId = (pki.peers.seeder as TestPeer).peerId
    await expect(
      secureOutbound(socket, {
        identity: generateKeyPair(),
        trust: pki.trust,
        pinnedPeers: [seederId],
        protocols: [SWARM_PROTOCOL]
      })
    ).rejects.toHaveProperty('code')
    socket.destroy()
    // counted in the seeder's refusal summary: see the last test
  })

  it('gives a policy-denied peer nothing, and logs the denial', async () => {
    const stranger = peerOf(pki.peers.stranger as TestPeer, { stallTimeoutMs: 3000 })
    const out = join(dir, 'stranger.bin')
    const err = (await stranger.fetch(manifest, { peers: [seederAddr], out }).catch((e: unknown) => e)) as {
      code: string
      details: { dropped: Array<{ code: string }> }
    }
    expect(err.code).toBe('swarm-stalled')
    expect(err.details.dropped).toEqual([expect.objectContaining({ code: 'swarm-denied' })])
    expect(existsSync(out)).toBe(false)
    expect(existsSync(`${out}.pgswarm-part`)).toBe(false)
    const entries = (await readFile(logPath, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    const denial = entries.find((e) => e.verb === 'fetch' && e.allowed === false)
    expect(denial).toMatchObject({
      code: 'deny-default',
      resource: 'swarm:team-dataset',
      peer: { peerId: (pki.peers.stranger as TestPeer).peerId }
    })
  }, 30_000)

  it('does not fetch from a peer the policy does not allow to seed', async () => {
    // The reader may fetch but not seed; a leecher refuses to take pieces from it.
    const reader = peerOf(pki.peers.reader as TestPeer)
    const readerOut = join(dir, 'reader.bin')
    await reader.fetch(manifest, { peers: [seederAddr], out: readerOut })
    const { port } = await reader.listen()
    const leech = peerOf(pki.peers.leech2 as TestPeer, { stallTimeoutMs: 3000 })
    const out = join(dir, 'leech-from-reader.bin')
    const err = (await leech.fetch(manifest, { peers: [`127.0.0.1:${port}`], out }).catch((e: unknown) => e)) as {
      code: string
      details: { dropped: Array<{ code: string }> }
    }
    expect(err.code).toBe('swarm-stalled')
    expect(err.details.dropped).toEqual([expect.objectContaining({ code: 'swarm-denied' })])
  }, 30_000)

  it('refuses a manifest whose publisher may not publish the swarm', async () => {
    const reader = peerOf(pki.peers.reader as TestPeer)
    const m = await reader.publish(file, { name: 'team-readers-copy' })
    const leech = peerOf(pki.peers.leech3 as TestPeer)
    await expect(leech.seed(m, file)).rejects.toMatchObject({ code: 'swarm-publisher-denied' })
    await expect(leech.fetch(m, { peers: [seederAddr], out: join(dir, 'x.bin') })).rejects.toMatchObject({
      code: 'swarm-publisher-denied'
    })
  })
})

describe('swarm: manifest tampering', () => {
  it('refuses a changed piece hash (the signature no longer verifies)', async () => {
    const pieces = [...manifest.pieces]
    pieces[3] = sha(Buffer.from('evil'))
    const tampered = parseManifest(encodeManifest({ ...manifest, pieces }))
    expect(tampered.swarmId).not.toBe(manifest.swarmId)
    const leech = peerOf(pki.peers.leech1 as TestPeer)
    await expect(leech.fetch(tampered, { peers: [seederAddr], out: join(dir, 't.bin') })).rejects.toMatchObject({
      code: 'swarm-manifest-signature'
    })
    await expect(leech.seed(tampered, file)).rejects.toMatchObject({ code: 'swarm-manifest-signature' })
  })

  it('refuses a bad signature and a publisher who is not the certificate holder', async () => {
    const sig = Buffer.from(manifest.signature, 'base64')
    sig[10] = (sig[10] as number) ^ 1
    const bad = parseManifest(encodeManifest({ ...manifest, signature: sig.toString('base64') }))
    const leech = peerOf(pki.peers.leech1 as TestPeer)
    await expect(leech.checkManifest(bad)).rejects.toMatchObject({ code: 'swarm-manifest-signature' })
    const other = parseManifest(encodeManifest({ ...manifest, publisher: (pki.peers.leech2 as TestPeer).peerId }))
    await expect(leech.checkManifest(other)).rejects.toMatchObject({ code: 'swarm-manifest-signature' })
  })

  it('refuses a manifest edited by hand (not canonical)', () => {
    const text = encodeManifest(manifest).replace('{"peerguard-swarm":1,', '{ "peerguard-swarm": 1,')
    expect(() => parseManifest(text)).toThrow(expect.objectContaining({ code: 'swarm-manifest-invalid' }))
  })
})

describe('swarm: resume', () => {
  it('keeps verified pieces of a partial file and fetches only the rest', async () => {
    const out = join(dir, 'resume.bin')
    const partial = Buffer.from(content)
    partial.fill(0, 40 * PIECE) // pieces 40.. are missing
    partial[5 * PIECE + 7] = (partial[5 * PIECE + 7] as number) ^ 0xff // piece 5 is corrupt
    await writeFile(`${out}.pgswarm-part`, partial.subarray(0, 60 * PIECE))
    const leech = peerOf(pki.peers.leech3 as TestPeer)
    const r = await leech.fetch(manifest, { peers: [seederAddr], out })
    expect(r.resumedPieces).toBe(39)
    expect(Object.values(r.piecesFrom).reduce((a, b) => a + b, 0)).toBe(manifest.pieces.length - 39)
    expect(sha(await readFile(out))).toBe(sha(content))
  }, 60_000)
})

describe('swarm: default output', () => {
  it('fetch without out writes <dir>/<swarm name>', async () => {
    const outDir = await mkdtemp(join(dir, 'dl-'))
    const leech = peerOf(pki.peers.leech2 as TestPeer, { dir: outDir })
    const r = await leech.fetch(manifest, { peers: [seederAddr] })
    expect(r.path).toBe(join(outDir, 'team-dataset'))
    expect(sha(await readFile(r.path))).toBe(sha(content))
  }, 60_000)
})

describe('swarm: argument checks', () => {
  it('createSwarmPeer refuses wrong types and sizes', () => {
    const p = pki.peers.seeder as TestPeer
    const good = { identity: p.identity, chain: p.chain, trust: pki.trust }
    expect(() => createSwarmPeer(null as never)).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    expect(() =>
      createSwarmPeer({ ...good, identity: { publicKey: new Uint8Array(31), secretKey: p.identity.secretKey } })
    ).toThrow(/publicKey: expected Uint8Array of length 32/)
    expect(() => createSwarmPeer({ ...good, chain: [] })).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    expect(() => createSwarmPeer({ ...good, trust: 'x' as never })).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    expect(() => createSwarmPeer({ ...good, policy: {} as never })).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    expect(() => createSwarmPeer({ ...good, requestsPerPeer: 0 })).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    expect(() => createSwarmPeer({ ...good, dir: '' })).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
    expect(() => createSwarmPeer({ ...good, requestTimeoutMs: 1 })).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
  })

  it('publish, seed and fetch check their arguments', async () => {
    const p = peerOf(pki.peers.leech1 as TestPeer)
    await expect(p.publish(file, { name: '../etc' })).rejects.toMatchObject({ code: 'invalid-argument' })
    await expect(p.publish(file, { name: 'ok', pieceSize: 1000 })).rejects.toMatchObject({ code: 'invalid-argument' })
    await expect(p.publish(join(dir, 'missing'), { name: 'ok' })).rejects.toMatchObject({ code: 'swarm-file-mismatch' })
    await expect(p.fetch(manifest, { peers: [], out: join(dir, 'a') })).rejects.toMatchObject({ code: 'invalid-argument' })
    await expect(p.fetch(manifest, { peers: ['nope'], out: join(dir, 'a') })).rejects.toMatchObject({ code: 'invalid-argument' })
    await expect(p.fetch(manifest, { peers: [seederAddr], out: file })).rejects.toMatchObject({ code: 'already-exists' })
    const small = join(dir, 'small.bin')
    await writeFile(small, randomBytes(1000))
    await expect(p.seed(manifest, small)).rejects.toMatchObject({ code: 'swarm-file-mismatch' })
  })
})

describe('swarm: refusals before authentication', () => {
  it('are summarised per address in the seeder log (written when the window ends, here at close)', async () => {
    await seeder.close()
    const summaries = (await readFile(logPath, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .filter((e) => e.kind === 'refusal-summary')
    expect(summaries).toHaveLength(1)
    expect(summaries[0]).toMatchObject({ address: '127.0.0.1', code: 'log-refusal-summary' })
    expect(Object.keys(summaries[0].codes)).toEqual(
      expect.arrayContaining(['cert-unknown-issuer', 'channel-certificate-required'])
    )
  })
})

describe('swarm: pieces larger than one block', () => {
  it('assembles a piece fetched in several blocks (1 MiB pieces, 256 KiB blocks) exactly', async () => {
    const bigPieces = randomBytes(2 * 1024 * 1024 + 300 * 1024 + 7) // the last piece is two blocks and a bit
    const bigFile = join(dir, 'big-pieces.bin')
    await writeFile(bigFile, bigPieces)
    const source = peerOf(pki.peers.seeder as TestPeer)
    const m = await source.publish(bigFile, { name: 'team-big-pieces', pieceSize: 1024 * 1024 })
    await source.seed(m, bigFile)
    const { port } = await source.listen()
    const leecher = peerOf(pki.peers.leech2 as TestPeer)
    const out = join(dir, 'big-pieces-out.bin')
    const r = await leecher.fetch(m, { peers: [`127.0.0.1:${port}`], out })
    expect(r.sha256).toBe(sha(bigPieces))
    expect(sha(await readFile(out))).toBe(sha(bigPieces))
  }, 60_000)
})
