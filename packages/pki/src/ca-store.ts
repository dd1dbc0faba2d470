import { open, readFile, unlink } from 'node:fs/promises'
import { InvalidArgumentError, PeerguardError, writeFileAtomic } from '@peerguard/interface'
import { MAX_CRL_URLS } from './distribution-points.js'
import { CaDatabaseCorruptError, CaLockedError } from './errors.js'

/** RFC 5280 §5.3.1 CRLReason names (certificateHold is left out: peerguard never un-revokes). */
export const REVOCATION_REASONS = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'privilegeWithdrawn'
] as const
export type RevocationReason = (typeof REVOCATION_REASONS)[number]

/** One certificate the CA issued. Times are ISO 8601 strings. */
export interface CaRecord {
  /** Lowercase hex of the minimal bytes, even length (as `ParsedCertificate.serial`). */
  serial: string
  kind: 'peer' | 'intermediate'
  name: string
  groups: string[]
  peerId?: string
  notBefore: string
  notAfter: string
  issuedAt: string
  /** The certificate DER, base64 (for `list`, `renew` and audits). */
  certificate: string
  revokedAt?: string
  reason?: RevocationReason
}

/** The CA database: everything the CA has issued and revoked. */
export interface CaDatabase {
  version: 1
  /** Number of the last CRL signed (RFC 5280 §5.2.3: monotonically increasing). */
  crlNumber: number
  /** CRL distribution point URLs written into every certificate this CA issues (see `setCrlDistributionPoints`). */
  crlDistributionPoints?: string[]
  certificates: CaRecord[]
}

/**
 * Where a CA keeps its database; `transaction` runs one change at a time, all or nothing.
 * A transaction may push or replace records in `certificates` but must not mutate a record.
 */
export interface CaStore {
  /** Run `fn` on a private copy; persist the copy when it resolves, discard it when it throws. */
  transaction<T>(fn: (db: CaDatabase) => Promise<T> | T): Promise<T>
  /** A snapshot of the database. */
  read(): Promise<CaDatabase>
}

export function emptyDatabase(): CaDatabase {
  return { version: 1, crlNumber: 0, certificates: [] }
}

const SERIAL = /^(?:[0-9a-f]{2}){1,20}$/
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$/

/** Parse and check database JSON; throws CaDatabaseCorruptError. */
export function parseDatabase(text: string, where = 'CA database'): CaDatabase {
  if (typeof text !== 'string')
    throw new InvalidArgumentError(`text: expected string, got ${text === null ? 'null' : typeof text}`)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new CaDatabaseCorruptError(`${where}: not valid JSON`, { cause: err })
  }
  const bad = (why: string): never => {
    throw new CaDatabaseCorruptError(`${where}: ${why}`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) bad('expected an object')
  const db = value as Record<string, unknown>
  if (db.version !== 1) bad(`unsupported version ${JSON.stringify(db.version)}`)
  if (typeof db.crlNumber !== 'number' || !Number.isSafeInteger(db.crlNumber) || db.crlNumber < 0) bad('bad crlNumber')
  if (
    db.crlDistributionPoints !== undefined &&
    (!Array.isArray(db.crlDistributionPoints) ||
      db.crlDistributionPoints.length > MAX_CRL_URLS ||
      !db.crlDistributionPoints.every((u) => typeof u === 'string' && /^http:\/\/[\x21-\x7e]+$/.test(u)))
  )
    bad('crlDistributionPoints: expected an array of http:// URLs')
  if (!Array.isArray(db.certificates)) bad('certificates: expected an array')
  const seen = new Set<string>()
  for (const [i, r] of (db.certificates as unknown[]).entries()) {
    if (r === null || typeof r !== 'object') bad(`certificates[${i}]: expected an object`)
    const rec = r as Record<string, unknown>
    if (typeof rec.serial !== 'string' || !SERIAL.test(rec.serial)) bad(`certificates[${i}].serial: bad serial`)
    if (seen.has(rec.serial as string)) bad(`certificates[${i}].serial: duplicate serial ${rec.serial}`)
    seen.add(rec.serial as string)
    if (rec.kind !== 'peer' && rec.kind !== 'intermediate') bad(`certificates[${i}].kind: bad kind`)
    if (typeof rec.name !== 'string') bad(`certificates[${i}].name: expected string`)
    if (!Array.isArray(rec.groups) || !rec.groups.every((g) => typeof g === 'string'))
      bad(`certificates[${i}].groups: bad groups`)
    for (const k of ['notBefore', 'notAfter', 'issuedAt'] as const) {
      if (typeof rec[k] !== 'string' || !ISO.test(rec[k] as string)) bad(`certificates[${i}].${k}: bad time`)
    }
    if (rec.revokedAt !== undefined && (typeof rec.revokedAt !== 'string' || !ISO.test(rec.revokedAt))) {
      bad(`certificates[${i}].revokedAt: bad time`)
    }
    if (rec.reason !== undefined && !(REVOCATION_REASONS as readonly unknown[]).includes(rec.reason)) {
      bad(`certificates[${i}].reason: bad reason`)
    }
    if (typeof rec.certificate !== 'string') bad(`certificates[${i}].certificate: expected base64 string`)
  }
  return db as unknown as CaDatabase
}

function clone(db: CaDatabase): CaDatabase {
  return structuredClone(db)
}

/** A database in memory (for `createCertificateAuthority`); changes run one at a time. */
export function memoryCaStore(initial: CaDatabase = emptyDatabase()): CaStore {
  let db = clone(initial)
  let queue: Promise<unknown> = Promise.resolve()
  return {
    transaction<T>(fn: (db: CaDatabase) => Promise<T> | T): Promise<T> {
      const run = queue.then(async () => {
        // A shallow working copy: transactions replace records, never mutate them in place.
        const copy: CaDatabase = { ...db, certificates: [...db.certificates] }
        const result = await fn(copy)
        db = copy
        return result
      })
      queue = run.catch(() => {})
      return run
    },
    async read() {
      return clone(db)
    }
  }
}

export interface FileCaStoreOptions {
  /** Give up waiting for the lock after this many ms. Default 15000. */
  lockTimeoutMs?: number
  /** A lock file that stayed empty (its owner died before writing its pid) this many ms is removed. Default 30000. */
  staleLockMs?: number
  /** @internal Called after a lock was judged stale and before it is broken (tests interleave here). */
  onStaleLock?: () => Promise<void> | void
}

/** One look at a lock file, content and identity read through one open handle. */
interface LockLook {
  readonly dev: number
  readonly ino: number
  readonly text: string
  readonly mtimeMs: number
}

/** `gone`: released meanwhile (retry the create); `unreadable`: not ours to judge (wait for it). */
async function lookAt(path: string): Promise<LockLook | 'gone' | 'unreadable'> {
  let handle: Awaited<ReturnType<typeof open>> | undefined
  try {
    handle = await open(path, 'r')
    const [info, text] = [await handle.stat(), await handle.readFile('utf8')]
    return { dev: info.dev, ino: info.ino, text, mtimeMs: info.mtimeMs }
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'gone' : 'unreadable'
  } finally {
    await handle?.close().catch(() => {})
  }
}

const sameLock = (a: LockLook, b: LockLook): boolean => a.dev === b.dev && a.ino === b.ino && a.text === b.text

/**
 * A database in a JSON file, changed under an O_EXCL lock file (`<path>.lock` holding the
 * owner's pid) and written with writeFileAtomic, so concurrent processes never lose an update
 * or reuse a serial, and a failed command leaves the file as it was.
 *
 * A lock is stale when the process it names is gone, or when it stayed empty past staleLockMs (its
 * owner died between creating and writing it); a live owner's lock is never broken, however old
 * (after lockTimeoutMs the command fails with `ca-locked` and a hint). Breaking is serialised by
 * `<path>.lock.break` and removes the lock only if it is still the very file judged stale: the
 * owner that released it and exited may already have been followed by a new, live owner.
 */
export function fileCaStore(path: string, options: FileCaStoreOptions = {}): CaStore {
  if (typeof path !== 'string' || path.length === 0) throw new InvalidArgumentError('path: expected a non-empty string')
  const lockTimeoutMs = options.lockTimeoutMs ?? 15_000
  const staleLockMs = options.staleLockMs ?? 30_000
  const lockPath = `${path}.lock`
  const breakPath = `${lockPath}.break`
  // Within one process, serialise too: the lock file is per process.
  let queue: Promise<unknown> = Promise.resolve()

  async function load(): Promise<CaDatabase> {
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      if (e.code === 'ENOENT') throw new PeerguardError('ca-not-found', `${path}: no CA database here`, { cause: err })
      throw new PeerguardError('io-error', `${path}: cannot read (${e.code ?? e.message})`, { cause: err })
    }
    return parseDatabase(text, path)
  }

  async function acquire(): Promise<void> {
    const deadline = Date.now() + lockTimeoutMs
    for (;;) {
      try {
        const handle = await open(lockPath, 'wx', 0o600)
        try {
          await handle.writeFile(`${process.pid}\n`)
        } finally {
          await handle.close()
        }
        return
      } catch (err) {
        const e = err as NodeJS.ErrnoException
        if (e.code !== 'EEXIST')
          throw new PeerguardError('io-error', `${lockPath}: cannot create lock (${e.code ?? e.message})`, { cause: err })
      }
      if (await breakIfStale()) continue
      if (Date.now() > deadline) {
        throw new CaLockedError(`${lockPath}: another process holds the CA lock`, {
          details: { hint: `if no peerguard command is running, remove ${lockPath}` }
        })
      }
      await new Promise((r) => setTimeout(r, 5 + Math.floor(Math.random() * 20)))
    }
  }

  function isStale(look: LockLook): boolean {
    const pid = Number.parseInt(look.text, 10)
    if (Number.isSafeInteger(pid) && pid > 0) {
      if (pid === process.pid) return false
      try {
        process.kill(pid, 0)
        return false // alive (or another user's): never broken
      } catch (err) {
        return (err as NodeJS.ErrnoException).code === 'ESRCH'
      }
    }
    // No pid yet: a lock being written right now, unless it stayed so past staleLockMs.
    return Date.now() - look.mtimeMs > staleLockMs
  }

  /** Remove the lock if it is stale and still the same file; true when the create is worth retrying. */
  async function breakIfStale(): Promise<boolean> {
    const judged = await lookAt(lockPath)
    if (judged === 'gone') return true
    if (judged === 'unreadable' || !isStale(judged)) return false
    await options.onStaleLock?.()
    let breaker: Awaited<ReturnType<typeof open>>
    try {
      breaker = await open(breakPath, 'wx', 0o600)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return false
      // another process is breaking it; a breaker that died mid-way leaves an old file behind
      const left = await lookAt(breakPath)
      if (typeof left === 'object' && Date.now() - left.mtimeMs > staleLockMs) await unlink(breakPath).catch(() => {})
      return false
    }
    try {
      // Only breakers remove a dead owner's lock, and they take turns: if the file is still the one
      // judged stale now, nobody can replace it before the unlink.
      const now = await lookAt(lockPath)
      if (typeof now === 'object' && sameLock(now, judged)) await unlink(lockPath).catch(() => {})
      return true
    } finally {
      await breaker.close().catch(() => {})
      await unlink(breakPath).catch(() => {})
    }
  }

  return {
    transaction<T>(fn: (db: CaDatabase) => Promise<T> | T): Promise<T> {
      const run = queue.then(async () => {
        await acquire()
        try {
          const db = await load()
          const result = await fn(db)
          await writeFileAtomic(path, `${JSON.stringify(db, null, 2)}\n`, { mode: 0o600 })
          return result
        } finally {
          await unlink(lockPath).catch(() => {})
        }
      })
      queue = run.catch(() => {})
      return run
    },
    read: load
  }
}
