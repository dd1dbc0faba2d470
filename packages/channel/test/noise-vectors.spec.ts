import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from '@jest/globals'
import { HandshakeState, type NoiseCryptoProvider, nodeCryptoProvider } from '@peerguard/channel'
import { pureJsCryptoProvider } from './reference-crypto.js'

/**
 * Known-answer vectors: cacophony and snow (test/vectors/README.md names source and licence).
 * Every 25519_ChaChaPoly_SHA256 vector runs twice: on node:crypto and on the pure-JS reference.
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
    v.protocol_name.endsWith('_25519_ChaChaPoly_SHA256')
  )
const hex = (s: string | undefined): Uint8Array | undefined => (s === undefined ? undefined : Buffer.from(s, 'hex'))
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

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
  const oneWay = init.pattern.oneWay
  v.messages.forEach((m, i) => {
    const fromInitiator = oneWay || i % 2 === 0
    const payload = hex(m.payload) as Uint8Array
    if (!init.isComplete) {
      const [w, r] = fromInitiator ? [init, resp] : [resp, init]
      const ct = w.writeMessage(payload)
      expect(toHex(ct)).toBe(m.ciphertext)
      expect(toHex(r.readMessage(ct))).toBe(m.payload)
      if (init.isComplete) {
        expect(resp.isComplete).toBe(true)
        expect(toHex(init.handshakeHash)).toBe(toHex(resp.handshakeHash))
        if (v.handshake_hash !== undefined) expect(toHex(init.handshakeHash)).toBe(v.handshake_hash)
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
    it('holds the expected number of 25519_ChaChaPoly_SHA256 vectors', () => {
      expect(vectors.length).toBe(file === 'cacophony.json' ? 59 : 51)
    })
    for (const [i, v] of vectors.entries()) {
      it(`${v.protocol_name} #${i} (node:crypto)`, () => run(v, nodeCryptoProvider))
      it(`${v.protocol_name} #${i} (pure-JS reference)`, () => run(v, pureJsCryptoProvider))
    }
  })
}
