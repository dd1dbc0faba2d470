// The intruder of the LAN test bed (lan.spec.ts), as its own process in its own namespace on the
// bridge. It holds what anyone on the segment can get: the workspace root certificate (public)
// and the datagrams it hears on the group; for the rollback it also holds one insider credential
// (`rogue`, a valid member) and an old bundle. Setup from PG_INTRUDER (JSON, hex: root, otherRoot,
// victim (a member's public key), rogue {seed, chain}, crl, oldBundle; group, port, interface).
// Takes `{"attack":"forged"|"other-workspace"|"replay"|"stale"}` lines on stdin and writes JSON
// lines (ready, sent). Imports the built packages (dist).
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { createInterface } from 'node:readline'
import { createListener } from '@peerguard/channel'
import { generateKeyPair, keyPairFromSeed } from '@peerguard/identity'
import { createTrustStore } from '@peerguard/pki'
import { FETCH_PROTOCOL, announceKeyOf, sealAnnouncement, workspaceIdOf } from '../dist/index.js'
import { serveFetch } from '../dist/fetch.js'

const setup = JSON.parse(process.env.PG_INTRUDER ?? '{}')
const hex = (s) => new Uint8Array(Buffer.from(s, 'hex'))
const say = (o) => process.stdout.write(`${JSON.stringify(o)}\n`)
const root = hex(setup.root)
const ours = { workspaceId: workspaceIdOf(root), key: announceKeyOf(root) }
const otherRoot = hex(setup.otherRoot)
const other = { workspaceId: workspaceIdOf(otherRoot), key: announceKeyOf(otherRoot) }
const HEADER = 33
const TAG = 16

const udp = createSocket({ type: 'udp4', reuseAddr: true })
await new Promise((resolve) => udp.bind(setup.port, '0.0.0.0', resolve))
udp.addMembership(setup.group, setup.interface)
udp.setMulticastInterface(setup.interface)
udp.setMulticastTTL(1)
/** What it heard on the group (the newest 32 datagrams): material for a replay. */
const captured = []
udp.on('message', (msg, rinfo) => {
  if (rinfo.address === setup.interface) return
  captured.push(msg)
  if (captured.length > 32) captured.shift()
})
const send = (datagram) => udp.send(datagram, setup.port, setup.group)
const body = (bundleVersion = 0, fetchPort = 0) => ({
  timestampMs: Date.now(),
  seq: 0,
  bundleVersion,
  fetchPort,
  addresses: [],
  services: []
})

/** Seal with its own key, then swap the sender key in the body for the victim's (the root gives the AEAD key). */
function forged() {
  const d = Buffer.from(sealAnnouncement(body(), { identity: generateKeyPair(), ...ours }))
  const header = d.subarray(0, HEADER)
  const nonce = header.subarray(HEADER - 12)
  const open = createDecipheriv('chacha20-poly1305', ours.key, nonce, { authTagLength: TAG })
  open.setAAD(header, { plaintextLength: d.length - HEADER - TAG })
  open.setAuthTag(d.subarray(d.length - TAG))
  const plain = Buffer.concat([open.update(d.subarray(HEADER, d.length - TAG)), open.final()])
  Buffer.from(hex(setup.victim)).copy(plain, 0)
  const seal = createCipheriv('chacha20-poly1305', ours.key, nonce, { authTagLength: TAG })
  seal.setAAD(header, { plaintextLength: plain.length })
  return Buffer.concat([header, seal.update(plain), seal.final(), seal.getAuthTag()])
}

let staleService
/** The insider serves an old bundle as if it were the newest (a rollback), and announces a huge version. */
async function stale() {
  const identity = keyPairFromSeed(hex(setup.rogue.seed))
  const chain = setup.rogue.chain.map(hex)
  if (staleService === undefined) {
    const trust = createTrustStore({ roots: [root], crls: [hex(setup.crl)] })
    const listener = createListener({ identity, chain, trust, protocols: [FETCH_PROTOCOL] })
    const old = { version: 2 ** 40, bytes: hex(setup.oldBundle) }
    listener.on('channel', (ch) => serveFetch(ch, () => old).catch(() => ch.destroy()))
    staleService = await listener.listen(0, setup.interface)
  }
  return Buffer.from(sealAnnouncement(body(2 ** 40, staleService.port), { identity, ...ours }))
}

say({ event: 'ready' })
createInterface({ input: process.stdin }).on('line', async (line) => {
  const { attack } = JSON.parse(line)
  let datagrams = []
  if (attack === 'forged') datagrams = [forged()]
  if (attack === 'other-workspace')
    datagrams = [Buffer.from(sealAnnouncement(body(), { identity: generateKeyPair(), ...other, nonce: randomBytes(12) }))]
  if (attack === 'replay') datagrams = [...captured]
  if (attack === 'stale') datagrams = [await stale()]
  for (const d of datagrams) send(d)
  say({ event: 'sent', attack, count: datagrams.length })
})
process.stdin.on('end', () => process.exit(0))
