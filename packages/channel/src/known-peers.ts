import { readFile } from 'node:fs/promises'
import { assertString, PeerguardError, writeFileAtomic } from '@peerguard/interface'
import { peerIdFromString } from '@peerguard/identity'
import { CertificateRequiredError, KnownPeerChangedError, KnownPeersInvalidError, PeerMismatchError } from './errors.js'

const NAME = /^[^\s#]{1,255}$/

/**
 * A known-peers file for peers without a certificate, like OpenSSH's known_hosts (SPEC.md §5):
 * one `<name> <peer-id>` per line, `#` comments. Used for trust on first use: the first key seen
 * under a name is remembered, and a later different key is refused.
 */
export class KnownPeers {
  readonly path: string | undefined
  readonly #entries = new Map<string, string>()

  private constructor(path: string | undefined) {
    this.path = path
  }

  /** An empty store kept in memory only. */
  static inMemory(): KnownPeers {
    return new KnownPeers(undefined)
  }

  /** Load `path`; a missing file is an empty store (it is created on the first `remember`). */
  static async load(path: string): Promise<KnownPeers> {
    assertString('path', path, { nonEmpty: true })
    const store = new KnownPeers(path)
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return store
      throw new PeerguardError('io-error', `${path}: ${(err as NodeJS.ErrnoException).code ?? 'read failed'}`, { cause: err })
    }
    store.#parse(text)
    return store
  }

  /** Parse known-peers text (exported for tests and tools). */
  static parse(text: string): KnownPeers {
    assertString('text', text)
    const store = new KnownPeers(undefined)
    store.#parse(text)
    return store
  }

  #parse(text: string): void {
    const lines = text.split(/\r?\n/)
    lines.forEach((raw, i) => {
      const line = raw.replace(/#.*$/, '').trim()
      if (line === '') return
      const fields = line.split(/\s+/)
      const where = `${this.path ?? 'known-peers'}:${i + 1}`
      if (fields.length !== 2 || !NAME.test(fields[0] as string)) {
        throw new KnownPeersInvalidError(`${where}: expected "<name> <peer-id>"`, { details: { line: i + 1 } })
      }
      let id: string
      try {
        id = peerIdFromString(fields[1] as string).toString()
      } catch (err) {
        throw new KnownPeersInvalidError(`${where}: ${(err as Error).message}`, { cause: err, details: { line: i + 1 } })
      }
      this.#entries.set(fields[0] as string, id)
    })
  }

  /** The peer ID remembered under `name`. */
  get(name: string): string | undefined {
    return this.#entries.get(name)
  }

  entries(): Array<[name: string, peerId: string]> {
    return [...this.#entries]
  }

  /**
   * Remember `peerId` under `name` and save the file atomically (mode 0600). Entries another
   * process saved since this store was loaded (a second client run at the same time) are kept.
   */
  async remember(name: string, peerId: string): Promise<void> {
    assertString('name', name)
    if (!NAME.test(name))
      throw new KnownPeersInvalidError(`name ${JSON.stringify(name)}: expected 1..255 characters without spaces or #`)
    await this.#save(name, peerIdFromString(peerId).toString())
  }

  /**
   * Merge what the file holds now, set `name`, write. With `firstUse`, an entry for `name` that
   * another process saved meanwhile wins and is returned (nothing is written).
   */
  async #save(name: string, id: string, firstUse = false): Promise<string | undefined> {
    if (this.path !== undefined) {
      const disk = await KnownPeers.load(this.path)
      const theirs = disk.#entries.get(name)
      for (const [n, i] of disk.#entries) if (n !== name && !this.#entries.has(n)) this.#entries.set(n, i)
      if (firstUse && theirs !== undefined) {
        this.#entries.set(name, theirs)
        return theirs
      }
    }
    this.#entries.set(name, id)
    if (this.path !== undefined) await writeFileAtomic(this.path, this.toString())
    return undefined
  }

  /**
   * Hold `peerId` to the entry under `name` (SPEC.md §5). Resolves to `known` when it matches, or to
   * `recorded` when there was no entry and `trustOnFirstUse` (default true) remembered it. Rejects
   * with KnownPeerChangedError when another peer is remembered under `name`, and, with
   * `trustOnFirstUse: false` and no entry, with CertificateRequiredError (`certified: false`, the
   * default: the file was the only way to accept the peer) or PeerMismatchError (`certified: true`).
   */
  async check(
    name: string,
    peerId: string,
    options: { trustOnFirstUse?: boolean; certified?: boolean; peerName?: string } = {}
  ): Promise<'known' | 'recorded'> {
    assertString('name', name)
    const id = peerIdFromString(peerId).toString()
    const where = this.path === undefined ? 'the known-peers store' : this.path
    let known = this.#entries.get(name)
    if (known === undefined) {
      if (options.trustOnFirstUse === false) {
        const message = `peer ${id} is not in ${where} under ${name}`
        if (options.certified === true) throw new PeerMismatchError(message, { details: { name, actual: id } })
        throw new CertificateRequiredError(message)
      }
      // first use here; another client may have met this name meanwhile: its entry wins
      known = await this.#save(name, id, true)
      if (known === undefined) return 'recorded'
    }
    if (known !== id) {
      const who = options.peerName === undefined ? id : `${id} (${options.peerName})`
      throw new KnownPeerChangedError(`the key of known peer ${name} changed: expected ${known}, got ${who} (${where})`, {
        details: {
          name,
          expected: known,
          actual: id,
          ...(options.peerName === undefined ? {} : { actualName: options.peerName }),
          ...(this.path === undefined ? {} : { file: this.path })
        }
      })
    }
    return 'known'
  }

  toString(): string {
    let out = '# peerguard known peers: <name> <peer-id>\n'
    for (const [name, id] of this.#entries) out += `${name} ${id}\n`
    return out
  }
}
