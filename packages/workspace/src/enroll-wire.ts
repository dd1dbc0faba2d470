/**
 * The enrollment messages (SPEC.md §6.3): length-prefixed frames inside the enrollment channel,
 * their encoders and strict decoders (truncation, garbage, trailing bytes → `enroll-malformed`),
 * and the token proof (HMAC bound to the channel's handshake hash and the CSR).
 */
import { createHash, createHmac } from 'node:crypto'
import type { Duplex } from 'node:stream'
import { EnrollError, isEnrollCode, type EnrollCode } from './enroll-errors.js'
import { TOKEN_ID_LENGTH, TOKEN_SECRET_LENGTH } from './token.js'
import { WireReader, WireWriter } from './wire.js'

export const ENROLL_PROTOCOL = 'peerguard-enroll/1'
const HELLO_MAGIC = Buffer.from('PGWE', 'latin1')
const PROOF_LABEL = Buffer.from('peerguard-enroll-proof-v1\0', 'latin1')
const CA_PROOF_LABEL = Buffer.from('peerguard-enroll-ca-proof-v1\0', 'latin1')
/** Largest enrollment message, bytes: a result carries a chain, a CRL, a bundle and a policy. */
export const MAX_ENROLL_MESSAGE = 8 * 1024 * 1024
/**
 * Largest message a joiner sends (hello: a token ID; request: secret, CSR of at most 8 KiB, proof):
 * what the CA node buffers for a peer it has not authenticated.
 */
export const MAX_JOINER_MESSAGE = 16 * 1024
const MAX_CERT = 16 * 1024
const MAX_CHAIN = 8
const MAX_CSR = 8 * 1024
const MAX_CRL = 1024 * 1024
export const PROOF_LENGTH = 32
const STATUS_OK = 0
const STATUS_REFUSED = 1

const malformed = (message: string): EnrollError => new EnrollError('enroll-malformed', `enrollment message: ${message}`)

/**
 * Reads length-prefixed messages off a stream, one at a time, with a deadline each. A declared
 * length over `maxMessage` fails the stream as soon as it is read (nothing more is buffered).
 */
export class MessageReader {
  readonly #stream: Duplex
  readonly #max: number
  #buf: Buffer = Buffer.alloc(0)
  #waiter: (() => void) | undefined
  #ended = false
  #error: Error | undefined

  constructor(stream: Duplex, maxMessage = MAX_ENROLL_MESSAGE) {
    this.#stream = stream
    this.#max = maxMessage
    stream.on('data', (chunk: Buffer) => {
      if (this.#error !== undefined) return
      this.#buf = Buffer.concat([this.#buf, chunk])
      if (this.#buf.length >= 4 && this.#buf.readUInt32BE(0) > this.#max)
        this.#fail(malformed(`length ${this.#buf.readUInt32BE(0)} over ${this.#max}`))
      else if (this.#buf.length > 2 * (this.#max + 4)) this.#fail(malformed(`more than ${this.#max} bytes`))
      this.#waiter?.()
    })
    stream.once('end', () => {
      this.#ended = true
      this.#waiter?.()
    })
    stream.once('close', () => {
      this.#ended = true
      this.#waiter?.()
    })
    stream.once('error', (err) => this.#fail(err))
  }

  #fail(err: Error): void {
    this.#error ??= err
    this.#stream.destroy()
    this.#waiter?.()
  }

  /** The next message's body; throws on a deadline, an early end, or an oversized length. */
  async next(what: string, timeoutMs: number): Promise<Uint8Array> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (this.#error !== undefined)
        throw this.#error instanceof EnrollError
          ? this.#error
          : new EnrollError('enroll-failed', `enrollment: ${this.#error.message}`, { cause: this.#error })
      if (this.#buf.length >= 4) {
        const length = this.#buf.readUInt32BE(0)
        if (length > this.#max) throw malformed(`${what}: length ${length} over ${this.#max}`)
        if (this.#buf.length >= 4 + length) {
          const body = new Uint8Array(this.#buf.subarray(4, 4 + length))
          this.#buf = this.#buf.subarray(4 + length)
          return body
        }
      }
      if (this.#ended) throw malformed(`${what}: the peer closed before the message was complete`)
      const left = deadline - Date.now()
      if (left <= 0) throw new EnrollError('enroll-failed', `enrollment: no ${what} in time`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.#waiter = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      this.#waiter = undefined
    }
  }
}

/** One frame: length (4) | body. */
export function frame(body: Uint8Array): Uint8Array {
  return new WireWriter().u32(body.length).bytes(body).finish()
}

/** HELLO (joiner → CA): "PGWE" | format 1 | tokenId (16). */
export function encodeHello(tokenId: Uint8Array): Uint8Array {
  return new WireWriter().bytes(HELLO_MAGIC).u8(1).bytes(tokenId).finish()
}

export function decodeHello(body: Uint8Array): Uint8Array {
  const r = new WireReader(body, malformed)
  if (!HELLO_MAGIC.equals(r.bytes(4, 'magic')) || r.u8('format') !== 1) throw malformed('not an enrollment hello')
  const tokenId = r.bytes(TOKEN_ID_LENGTH, 'token ID')
  r.end('hello')
  return tokenId
}

function writeCerts(w: WireWriter, certs: readonly Uint8Array[]): void {
  w.u8(certs.length)
  for (const c of certs) w.u32(c.length).bytes(c)
}

function readCerts(r: WireReader, what: string): Uint8Array[] {
  const n = r.u8(`${what} count`)
  if (n < 1 || n > MAX_CHAIN) throw malformed(`${what}: expected 1..${MAX_CHAIN} certificates, got ${n}`)
  const out: Uint8Array[] = []
  for (let i = 0; i < n; i++) {
    const len = r.u32(`${what}[${i}] length`)
    if (len < 1 || len > MAX_CERT) throw malformed(`${what}[${i}]: length ${len} outside 1..${MAX_CERT}`)
    out.push(r.bytes(len, `${what}[${i}]`))
  }
  return out
}

/** A refusal (either direction after HELLO): status 1 | codeLength (1) | code (ASCII). */
export function encodeRefusal(code: EnrollCode): Uint8Array {
  const c = Buffer.from(code, 'latin1')
  return new WireWriter().u8(STATUS_REFUSED).u8(c.length).bytes(c).finish()
}

/** Throws the refusal a message carries as the EnrollError with that code; returns a reader past the status. */
function openAnswer(body: Uint8Array, what: string): WireReader {
  const r = new WireReader(body, malformed)
  const status = r.u8('status')
  if (status === STATUS_REFUSED) {
    const code = r.utf8(r.u8('code length'), 'code')
    r.end(what)
    if (!isEnrollCode(code)) throw malformed(`${what}: a refusal with an unknown code`)
    throw new EnrollError(code, `the CA refused the enrollment (${code})`)
  }
  if (status !== STATUS_OK) throw malformed(`${what}: unknown status`)
  return r
}

/**
 * CHALLENGE (CA → joiner): status 0 | root | the CA node's chain (leaf first) | the root's
 * current CRL (length (4) | DER, 0: none) | the name and groups the token binds
 * (nameLength (1) | name | groupCount (1) | per group: length (1) | UTF-8) | caProof (32; see
 * `caProof`). A challenge without caProof still parses; a joiner refuses it (`enroll-token-mac`).
 */
export interface Challenge {
  readonly root: Uint8Array
  readonly serverChain: readonly Uint8Array[]
  readonly crl: Uint8Array | undefined
  readonly name: string
  readonly groups: readonly string[]
  /** The CA node's proof that it holds the token's record (every member has a certificate under the root). */
  readonly caProof?: Uint8Array
}

function writeText(w: WireWriter, text: string): void {
  const b = Buffer.from(text, 'utf8')
  w.u8(b.length).bytes(b)
}

function readText(r: WireReader, what: string): string {
  const n = r.u8(`${what} length`)
  if (n < 1) throw malformed(`${what}: empty`)
  return r.utf8(n, what)
}

export function encodeChallenge(c: Challenge): Uint8Array {
  const w = new WireWriter().u8(STATUS_OK)
  writeCerts(w, [c.root])
  writeCerts(w, c.serverChain)
  const crl = c.crl ?? new Uint8Array(0)
  w.u32(crl.length).bytes(crl)
  writeText(w, c.name)
  w.u8(c.groups.length)
  for (const g of c.groups) writeText(w, g)
  if (c.caProof !== undefined) {
    if (c.caProof.length !== PROOF_LENGTH) throw malformed(`challenge: caProof must be ${PROOF_LENGTH} bytes`)
    w.bytes(c.caProof)
  }
  return w.finish()
}

export function decodeChallenge(body: Uint8Array): Challenge {
  const r = openAnswer(body, 'challenge')
  const roots = readCerts(r, 'root')
  const root = roots[0]
  if (root === undefined || roots.length !== 1) throw malformed('challenge: expected one root')
  const serverChain = readCerts(r, 'server chain')
  const crlLength = r.u32('CRL length')
  if (crlLength > MAX_CRL) throw malformed(`challenge: CRL length ${crlLength} over ${MAX_CRL}`)
  const crl = crlLength === 0 ? undefined : r.bytes(crlLength, 'CRL')
  const name = readText(r, 'name')
  const count = r.u8('group count')
  if (count > 32) throw malformed(`challenge: ${count} groups, at most 32`)
  const groups: string[] = []
  for (let i = 0; i < count; i++) groups.push(readText(r, `groups[${i}]`))
  const caProof = r.remaining === 0 ? undefined : r.bytes(PROOF_LENGTH, 'caProof')
  r.end('challenge')
  return { root, serverChain, crl, name, groups, ...(caProof === undefined ? {} : { caProof }) }
}

/** REQUEST (joiner → CA): secret (32) | csrLength (2) | CSR DER | proof (32). */
export interface EnrollRequest {
  readonly secret: Uint8Array
  readonly csr: Uint8Array
  readonly proof: Uint8Array
}

export function encodeRequest(q: EnrollRequest): Uint8Array {
  return new WireWriter().bytes(q.secret).u16(q.csr.length).bytes(q.csr).bytes(q.proof).finish()
}

export function decodeRequest(body: Uint8Array): EnrollRequest {
  const r = new WireReader(body, malformed)
  const secret = r.bytes(TOKEN_SECRET_LENGTH, 'secret')
  const len = r.u16('CSR length')
  if (len < 1 || len > MAX_CSR) throw malformed(`request: CSR length ${len} outside 1..${MAX_CSR}`)
  const csr = r.bytes(len, 'CSR')
  const proof = r.bytes(PROOF_LENGTH, 'proof')
  r.end('request')
  return { secret, csr, proof }
}

/**
 * The token proof: HMAC-SHA256(key = secret, "peerguard-enroll-proof-v1\0" || handshakeHash ||
 * tokenId || SHA-256(CSR DER)) — valid on this channel only, and for this CSR's key only.
 */
export function tokenProof(secret: Uint8Array, handshakeHash: Uint8Array, tokenId: Uint8Array, csr: Uint8Array): Uint8Array {
  return new Uint8Array(
    createHmac('sha256', secret)
      .update(PROOF_LABEL)
      .update(handshakeHash)
      .update(tokenId)
      .update(createHash('sha256').update(csr).digest())
      .digest()
  )
}

/**
 * The CA node's proof (in the challenge): HMAC-SHA256(key = SHA-256(secret), "peerguard-enroll-ca-
 * proof-v1\0" || handshakeHash || tokenId). The CA node files SHA-256 of the secret, the joiner
 * computes it from the secret: so only the holder of the token's record can answer, on this
 * channel only — a member with a certificate under the root cannot pose as the CA node and
 * collect the secret. Compare with `equalBytes` (constant time).
 */
export function caProof(secretSha256: Uint8Array, handshakeHash: Uint8Array, tokenId: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha256', secretSha256).update(CA_PROOF_LABEL).update(handshakeHash).update(tokenId).digest())
}

/** RESULT (CA → joiner): status 0 | chain (leaf first, root last) | bundle | policy (each length (4) | bytes, 0: none). */
export interface EnrollResult {
  readonly chain: readonly Uint8Array[]
  readonly bundle: Uint8Array | undefined
  readonly policy: string | undefined
}

export function encodeResult(x: EnrollResult): Uint8Array {
  const w = new WireWriter().u8(STATUS_OK)
  writeCerts(w, x.chain)
  const bundle = x.bundle ?? new Uint8Array(0)
  const policy = x.policy === undefined ? new Uint8Array(0) : Buffer.from(x.policy, 'utf8')
  w.u32(bundle.length).bytes(bundle).u32(policy.length).bytes(policy)
  return w.finish()
}

export function decodeResult(body: Uint8Array): EnrollResult {
  const r = openAnswer(body, 'result')
  const chain = readCerts(r, 'chain')
  const bundle = r.bytes(r.u32('bundle length'), 'bundle')
  const policyLength = r.u32('policy length')
  const policy = policyLength === 0 ? undefined : r.utf8(policyLength, 'policy')
  r.end('result')
  return {
    chain,
    bundle: bundle.length === 0 ? undefined : bundle,
    policy
  }
}
