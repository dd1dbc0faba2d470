import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from '@jest/globals'
import { HandshakeState, type NoiseCryptoProvider, nodeCryptoProvider } from '@peerguard/channel/noise'
import { pureJsCryptoProvider } from './reference-crypto.js'
import { type ReferenceKeys, ReferenceParty } from './reference-noise.js'

/**
 * Known-answer vectors: cacophony and snow (test/vectors/README.md names source and licence).
 * Every 25519_ChaChaPoly_SHA256 and 25519_AESGCM_SHA256 vector runs three times: on node:crypto, on the pure-JS crypto
 * provider, and on an independent Noise implementation (reference-noise.ts). Snow's vectors carry no
 * handshake hash; for them the expected hash is the one the independent implementation computes
 * while reproducing every ciphertext of the vector (it matches cacophony's published hashes).
 */
interface Vector {
  protocol_name: string
  init_prologue: string
  init_static?: string
  init_ephemeral: string
  init_remote_static?: string
  init_psks?: string[]
  resp_prologue: string
  resp_static?: string
  resp_ephemeral?: string
  resp_remote_static?: string
  resp_psks?: string[]
  handshake_hash?: string
  messages: Array<{ payload: string; ciphertext: string }>
}

const here = dirname(fileURLToPath(import.meta.url))
const load = (file: string): Vector[] =>
  (JSON.parse(readFileSync(join(here, 'vectors', file), 'utf8')) as { vectors: Vector[] }).vectors.filter((v) =>
    /_25519_(ChaChaPoly|AESGCM)_SHA256$/.test(v.protocol_name)
  )
const hex = (s: string | undefined): Uint8Array | undefined => (s === undefined ? undefined : Buffer.from(s, 'hex'))
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

const oneWay = (v: Vector): boolean => /^Noise_[NKX](psk\d)?_/.test(v.protocol_name)

/** Run the vector on the independent implementation: every ciphertext must match; returns its handshake hash. */
function reference(v: Vector): string {
  const keys = (side: 'init' | 'resp'): ReferenceKeys => ({
    prologue: hex(v[`${side}_prologue`]) as Uint8Array,
    staticPrivate: hex(v[`${side}_static`]),
    ephemeralPrivate: hex(v[`${side}_ephemeral`]),
    remoteStatic: hex(v[`${side}_remote_static`]),
    psks: (v[`${side}_psks`] ?? []).map((p) => hex(p) as Uint8Array)
  })
  const init = new ReferenceParty(v.protocol_name, true, keys('init'))
  const resp = new ReferenceParty(v.protocol_name, false, keys('resp'))
  v.messages.forEach((m, i) => {
    const [w, r] = oneWay(v) || i % 2 === 0 ? [init, resp] : [resp, init]
    const payload = hex(m.payload) as Uint8Array
    if (!init.complete) {
      const ct = w.writeMessage(payload)
      expect(toHex(ct)).toBe(m.ciphertext)
      expect(toHex(r.readMessage(ct))).toBe(m.payload)
    } else {
      const ct = (w.send as NonNullable<typeof w.send>).encrypt(new Uint8Array(0), payload)
      expect(toHex(ct)).toBe(m.ciphertext)
      expect(toHex((r.receive as NonNullable<typeof r.receive>).decrypt(new Uint8Array(0), ct))).toBe(m.payload)
    }
  })
  expect(init.complete && resp.complete).toBe(true)
  expect(toHex(init.h)).toBe(toHex(resp.h))
  return toHex(init.h)
}

const referenceHashes = new Map<Vector, string>()
/** The handshake hash a vector must end with: the published one, else the independent implementation's. */
function expectedHash(v: Vector): string {
  if (v.handshake_hash !== undefined) return v.handshake_hash
  let h = referenceHashes.get(v)
  if (h === undefined) referenceHashes.set(v, (h = reference(v)))
  return h
}

function run(v: Vector, crypto: NoiseCryptoProvider): void {
  const init = new HandshakeState({
    protocolName: v.protocol_name,
    role: 'initiator',
    prologue: hex(v.init_prologue),
    staticPrivateKey: hex(v.init_static),
    ephemeralPrivateKey: hex(v.init_ephemeral),
    remoteStaticPublicKey: hex(v.init_remote_static),
    psks: (v.init_psks ?? []).map((p) => hex(p) as Uint8Array),
    crypto
  })
  const resp = new HandshakeState({
    protocolName: v.protocol_name,
    role: 'responder',
    prologue: hex(v.resp_prologue),
    staticPrivateKey: hex(v.resp_static),
    ephemeralPrivateKey: hex(v.resp_ephemeral),
    remoteStaticPublicKey: hex(v.resp_remote_static),
    psks: (v.resp_psks ?? []).map((p) => hex(p) as Uint8Array),
    crypto
  })
  expect(init.pattern.oneWay).toBe(oneWay(v))
  v.messages.forEach((m, i) => {
    const fromInitiator = init.pattern.oneWay || i % 2 === 0
    const payload = hex(m.payload) as Uint8Array
    if (!init.isComplete) {
      const [w, r] = fromInitiator ? [init, resp] : [resp, init]
      const ct = w.writeMessage(payload)
      expect(toHex(ct)).toBe(m.ciphertext)
      expect(toHex(r.readMessage(ct))).toBe(m.payload)
      if (init.isComplete) {
        expect(resp.isComplete).toBe(true)
        expect(toHex(init.handshakeHash)).toBe(toHex(resp.handshakeHash))
        expect(toHex(init.handshakeHash)).toBe(expectedHash(v))
      }
    } else {
      const [w, r] = fromInitiator ? [init, resp] : [resp, init]
      const ct = w.result.send.encryptWithAd(new Uint8Array(0), payload)
      expect(toHex(ct)).toBe(m.ciphertext)
      expect(toHex(r.result.receive.decryptWithAd(new Uint8Array(0), ct))).toBe(m.payload)
    }
  })
  expect(init.isComplete).toBe(true)
}

for (const file of ['cacophony.json', 'snow.json']) {
  const vectors = load(file)
  describe(`Noise vectors: ${file}`, () => {
    it('holds the expected number of 25519_ChaChaPoly_SHA256 and 25519_AESGCM_SHA256 vectors', () => {
      for (const cipher of ['ChaChaPoly', 'AESGCM']) {
        const some = vectors.filter((v) => v.protocol_name.endsWith(`_25519_${cipher}_SHA256`))
        expect(some.length).toBe(file === 'cacophony.json' ? 59 : 51)
        expect(some.filter((v) => v.handshake_hash !== undefined).length).toBe(file === 'cacophony.json' ? 59 : 0)
      }
    })
    for (const [i, v] of vectors.entries()) {
      it(`${v.protocol_name} #${i} (node:crypto)`, () => run(v, nodeCryptoProvider))
      it(`${v.protocol_name} #${i} (pure-JS reference)`, () => run(v, pureJsCryptoProvider))
      it(`${v.protocol_name} #${i} (independent implementation)`, () => {
        const h = reference(v)
        if (v.handshake_hash !== undefined) expect(h).toBe(v.handshake_hash)
      })
    }
  })
}
