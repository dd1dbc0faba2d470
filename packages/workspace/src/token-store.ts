/**
 * The CA's enrollment tokens at rest (SPEC.md §6.2): a directory (`<CA dir>/enroll-tokens`, mode
 * 0700) with one record per token, `<tokenId hex>.json` (mode 0600, atomic write): the SHA-256 of
 * the secret, never the secret; the name and groups it binds; its expiry. A token is used when
 * `<tokenId hex>.used` exists: that file is created with O_EXCL, so of any number of concurrent
 * joins (in this process or another) exactly one claims the token.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { mkdir, open, readdir, readFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import {
  assertBytes,
  assertInteger,
  assertString,
  type Clock,
  InvalidArgumentError,
  systemClock,
  wipe,
  writeFileAtomic
} from '@peerguard/interface'
import { EnrollError } from './enroll-errors.js'
import { caProof } from './enroll-wire.js'
import { type EnrollToken, encodeToken, TOKEN_ID_LENGTH, TOKEN_SECRET_LENGTH } from './token.js'

/** The token directory's name inside a CA directory. */
export const TOKEN_DIR = 'enroll-tokens'
/** Longest token lifetime: a day (tokens are meant for minutes). */
export const MAX_TOKEN_TTL_MS = 24 * 60 * 60 * 1000
const MAX_RECORD_BYTES = 16 * 1024

/** What the CA keeps about one token. */
export interface TokenRecord {
  readonly tokenId: string
  readonly name: string
  readonly groups: readonly string[]
  readonly createdAt: string
  readonly expiresAt: string
}

/** A token just made: the line to hand over (shown once) and what the CA filed. */
export interface CreatedToken {
  readonly token: string
  readonly record: TokenRecord
}

interface StoredRecord extends TokenRecord {
  readonly v: 1
  readonly secretSha256: string
}

const sha256 = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest()

/** A name or group as `create` files it (read back: a damaged record is refused, not passed on). */
const isLabel = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 64
const isDate = (v: unknown): v is string => typeof v === 'string' && Number.isFinite(Date.parse(v))

function checkLabel(field: string, value: unknown): string {
  assertString(field, value, { nonEmpty: true, maxLength: 64 })
  return value as string
}

/**
 * Reads one token record file as UTF-8, refusing one larger than `maxBytes` (errno errors as
 * thrown by node:fs; ENOENT means no such token). Injectable to observe the store's disk reads.
 */
export type RecordReader = (path: string, maxBytes: number) => Promise<string>

const readBounded: RecordReader = async (path, maxBytes) => {
  const handle = await open(path, 'r')
  try {
    if ((await handle.stat()).size > maxBytes)
      throw new EnrollError('enroll-failed', `token record ${basename(path, '.json')}: larger than ${maxBytes} bytes`)
    return await handle.readFile('utf8')
  } finally {
    await handle.close()
  }
}

/** The token directory of one CA: make tokens, look them up, claim them once. */
export class TokenStore {
  readonly #dir: string
  readonly #clock: Clock
  readonly #reader: RecordReader
  readonly #inflight = new Map<string, Promise<StoredRecord>>()

  constructor(caDir: string, options: { clock?: Clock; reader?: RecordReader } = {}) {
    assertString('caDir', caDir, { nonEmpty: true })
    if (options.reader !== undefined && typeof options.reader !== 'function')
      throw new InvalidArgumentError('options.reader: expected a function')
    this.#dir = join(caDir, TOKEN_DIR)
    this.#clock = options.clock ?? systemClock
    this.#reader = options.reader ?? readBounded
  }

  get directory(): string {
    return this.#dir
  }

  /** Make and file a token bound to `name` and `groups`, valid for `ttlMs`. */
  async create(options: {
    name: string
    groups?: readonly string[]
    ttlMs: number
    rootFingerprint: Uint8Array
    address?: string
  }): Promise<CreatedToken> {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options: expected an object')
    const name = checkLabel('options.name', options.name)
    const groups = options.groups ?? []
    if (!Array.isArray(groups) || groups.length > 32) throw new InvalidArgumentError('options.groups: expected at most 32 names')
    for (const [i, g] of groups.entries()) checkLabel(`options.groups[${i}]`, g)
    if (new Set(groups).size !== groups.length) throw new InvalidArgumentError('options.groups: a group appears twice')
    assertInteger('options.ttlMs', options.ttlMs, 1000, MAX_TOKEN_TTL_MS)
    assertBytes('options.rootFingerprint', options.rootFingerprint, 32)
    const tokenId = new Uint8Array(randomBytes(TOKEN_ID_LENGTH))
    const secret = new Uint8Array(randomBytes(TOKEN_SECRET_LENGTH))
    const now = this.#clock.now()
    const record: StoredRecord = {
      v: 1,
      tokenId: Buffer.from(tokenId).toString('hex'),
      name,
      groups: [...groups],
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + options.ttlMs).toISOString(),
      secretSha256: sha256(secret).toString('hex')
    }
    const token: EnrollToken = {
      rootFingerprint: options.rootFingerprint,
      tokenId,
      secret,
      ...(options.address === undefined ? {} : { address: options.address })
    }
    const line = encodeToken(token)
    wipe(secret)
    await mkdir(this.#dir, { recursive: true, mode: 0o700 })
    await writeFileAtomic(join(this.#dir, `${record.tokenId}.json`), `${JSON.stringify(record, null, 2)}\n`, {
      mode: 0o600,
      exclusive: true
    })
    const { v: _v, secretSha256: _h, ...pub } = record
    return { token: line, record: pub }
  }

  /**
   * The record of one token, read from its own file only (`<tokenId hex>.json`: a bounded name,
   * no directory scan). Concurrent reads of the same token share one read of the file.
   */
  #read(tokenId: Uint8Array): Promise<StoredRecord> {
    assertBytes('tokenId', tokenId, TOKEN_ID_LENGTH)
    const id = Buffer.from(tokenId).toString('hex')
    const pending = this.#inflight.get(id)
    if (pending !== undefined) return pending
    const read = this.#readRecord(id).finally(() => this.#inflight.delete(id))
    this.#inflight.set(id, read)
    return read
  }

  async #readRecord(id: string): Promise<StoredRecord> {
    let text: string
    try {
      text = await this.#reader(join(this.#dir, `${id}.json`), MAX_RECORD_BYTES)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        throw new EnrollError('enroll-token-unknown', 'no enrollment token has this ID')
      throw err
    }
    let r: StoredRecord
    try {
      r = JSON.parse(text) as StoredRecord
    } catch {
      throw new EnrollError('enroll-failed', `token record ${id}: not JSON`)
    }
    if (
      typeof r !== 'object' ||
      r === null ||
      r.v !== 1 ||
      r.tokenId !== id ||
      !isLabel(r.name) ||
      !Array.isArray(r.groups) ||
      r.groups.length > 32 ||
      !r.groups.every(isLabel) ||
      typeof r.secretSha256 !== 'string' ||
      !/^[0-9a-f]{64}$/.test(r.secretSha256) ||
      !isDate(r.createdAt) ||
      !isDate(r.expiresAt)
    )
      throw new EnrollError('enroll-failed', `token record ${id}: damaged`)
    return r
  }

  async #isUsed(id: string): Promise<boolean> {
    try {
      await readFile(join(this.#dir, `${id}.used`))
      return true
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
      throw err
    }
  }

  /** Every filed token (damaged records skipped), oldest first, with whether it was used. */
  async list(): Promise<Array<TokenRecord & { readonly used: boolean }>> {
    const names = await readdir(this.#dir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [] as string[]
      throw err
    })
    const out: Array<TokenRecord & { used: boolean }> = []
    for (const n of names) {
      const m = /^([0-9a-f]{32})\.json$/.exec(n)
      if (m === null) continue
      try {
        const { v: _v, secretSha256: _h, ...pub } = await this.#read(Buffer.from(m[1] as string, 'hex'))
        out.push({ ...pub, used: await this.#isUsed(pub.tokenId) })
      } catch {
        // a damaged record is refused when it is used; listing goes on
      }
    }
    return out.sort((a, b) => a.createdAt.localeCompare(b.createdAt))
  }

  /** The token's record if it exists, is unused and unexpired; otherwise the refusal. */
  async lookup(tokenId: Uint8Array): Promise<TokenRecord> {
    const r = await this.#read(tokenId)
    if (await this.#isUsed(r.tokenId)) throw new EnrollError('enroll-token-used', 'the enrollment token was already used')
    if (this.#clock.now() >= Date.parse(r.expiresAt))
      throw new EnrollError('enroll-token-expired', `the enrollment token expired at ${r.expiresAt}`)
    const { v: _v, secretSha256: _h, ...pub } = r
    return pub
  }

  /** True when `secret` hashes to the filed hash (constant-time compare). */
  async secretMatches(tokenId: Uint8Array, secret: Uint8Array): Promise<boolean> {
    assertBytes('secret', secret, TOKEN_SECRET_LENGTH)
    const r = await this.#read(tokenId)
    return timingSafeEqual(sha256(secret), Buffer.from(r.secretSha256, 'hex'))
  }

  /** The CA node's proof for this channel (see `caProof`): keyed by the filed hash of the secret. */
  async caProof(tokenId: Uint8Array, handshakeHash: Uint8Array): Promise<Uint8Array> {
    assertBytes('handshakeHash', handshakeHash, 32)
    const r = await this.#read(tokenId)
    const key = Buffer.from(r.secretSha256, 'hex')
    try {
      return caProof(key, handshakeHash, tokenId)
    } finally {
      wipe(key)
    }
  }

  /**
   * Claim the token for `peerId`: checks expiry once more, then creates the `.used` marker with
   * O_EXCL. Exactly one claim of a token ever succeeds; every other gets `enroll-token-used`.
   */
  async claim(tokenId: Uint8Array, peerId: string): Promise<TokenRecord> {
    const record = await this.lookup(tokenId)
    let handle: import('node:fs/promises').FileHandle
    try {
      handle = await open(join(this.#dir, `${record.tokenId}.used`), 'wx', 0o600)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST')
        throw new EnrollError('enroll-token-used', 'the enrollment token was already used')
      throw err
    }
    try {
      await handle.writeFile(`${JSON.stringify({ usedAt: new Date(this.#clock.now()).toISOString(), peerId })}\n`)
      await handle.sync()
    } finally {
      await handle.close()
    }
    // the marker's directory entry too: a crash after the certificate is issued must not forget the claim
    const dir = await open(this.#dir, 'r')
    await dir
      .sync()
      .catch(() => {}) // a filesystem that refuses fsync on a directory: the O_EXCL create still decided
      .finally(() => dir.close())
    return record
  }
}
