/**
 * `swarm fetch` authenticates the peers it reaches (issue 11 item 4): with a known-peers store the
 * first seeder seen at an address is recorded and a different certified peer later at that address
 * is dropped with `channel-known-peer-changed`; with pins (`expectedPeerIds`) only those peers are
 * used. Nothing is fetched from a refused peer.
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { KnownPeers } from '@peerguard/channel'
import { createSwarmPeer, type SwarmManifest, type SwarmPeer } from '@peerguard/swarm'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'

let dir: string
let pki: TestPki
let file: string
let manifest: SwarmManifest
const open: SwarmPeer[] = []

function peerOf(p: TestPeer, extra: Partial<Parameters<typeof createSwarmPeer>[0]> = {}): SwarmPeer {
  const peer = createSwarmPeer({ identity: p.identity, chain: p.chain, trust: pki.trust, stallTimeoutMs: 3000, ...extra })
  open.push(peer)
  return peer
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-swarm-auth-'))
  pki = await makeTestPki({ peers: ['seeder', 'guest', 'fetcher'] })
  file = join(dir, 'data.bin')
  await writeFile(file, randomBytes(300_000))
  manifest = await peerOf(pki.peers.seeder!).publish(file, { name: 'data', pieceSize: 65536 })
})

afterAll(async () => {
  for (const p of open) await p.close()
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('swarm fetch holds the peers it reaches to pins or a known-peers store', () => {
  it('records the first seeder, then drops a certified guest that takes over its address', async () => {
    const store = KnownPeers.inMemory()
    const seeder = peerOf(pki.peers.seeder!)
    await seeder.seed(manifest, file)
    const { port } = await seeder.listen(0, '127.0.0.1')
    const address = `127.0.0.1:${port}`
    const fetcher = peerOf(pki.peers.fetcher!, { knownPeers: { store } })
    const seen: string[] = []
    const got = await fetcher.fetch(manifest, {
      peers: [address],
      out: join(dir, 'first.bin'),
      onConnect: (p) => seen.push(`${p.name}@${p.address}`)
    })
    expect(got.size).toBe(manifest.size)
    expect(seen).toEqual([`seeder@${address}`])
    expect(store.get(`swarm@${address}`)).toBe(pki.peers.seeder!.peerId)
    await seeder.close()

    const guest = peerOf(pki.peers.guest!)
    await guest.seed(manifest, file) // same bytes, certified by the same CA
    await guest.listen(port, '127.0.0.1')
    const again = peerOf(pki.peers.fetcher!, { knownPeers: { store } })
    const out = join(dir, 'second.bin')
    const err = await again.fetch(manifest, { peers: [address], out }).catch((e: unknown) => e)
    expect(err).toMatchObject({ details: { dropped: [{ address, code: 'channel-known-peer-changed' }] } })
    expect(existsSync(out)).toBe(false)
    expect(store.get(`swarm@${address}`)).toBe(pki.peers.seeder!.peerId)

    // Pinning the guest is the explicit override; pinning the seeder refuses the guest.
    const pinnedWrong = peerOf(pki.peers.fetcher!, { expectedPeerIds: [pki.peers.seeder!.peerId] })
    const refused = await pinnedWrong.fetch(manifest, { peers: [address], out }).catch((e: unknown) => e)
    expect(refused).toMatchObject({ details: { dropped: [{ address, code: 'channel-peer-mismatch' }] } })
    const pinnedGuest = peerOf(pki.peers.fetcher!, { expectedPeerIds: [pki.peers.guest!.peerId] })
    expect((await pinnedGuest.fetch(manifest, { peers: [address], out })).size).toBe(manifest.size)
  }, 60_000)

  it('refuses bad server-authentication options with exact messages', () => {
    const f = pki.peers.fetcher!
    const base = { identity: f.identity, chain: f.chain, trust: pki.trust }
    expect(() => createSwarmPeer({ ...base, expectedPeerIds: 'x' as never })).toThrow(
      'options.expectedPeerIds: expected an array of peer IDs'
    )
    expect(() => createSwarmPeer({ ...base, knownPeers: {} as never })).toThrow(
      'options.knownPeers: expected { store: KnownPeers, trustOnFirstUse? }'
    )
  })
})
