/**
 * What several commands need: reading the files a user names (with size limits and stable error
 * codes), passphrase files, certificates, trust stores and identities, and small option helpers.
 */
import { open, stat } from 'node:fs/promises'
import type { Command } from 'commander'
import { type KeyPair, loadIdentity } from '@peerguard/identity'
import { InvalidArgumentError, PeerguardError, wipe } from '@peerguard/interface'
import { CertificateMalformedError, createTrustStore, loadTrustStore, pemDecodeAll, type TrustStore } from '@peerguard/pki'

/** A passphrase file longer than this is surely the wrong file. */
export const PASSPHRASE_FILE_MAX_BYTES = 64 * 1024
/** Certificates, CSRs and CRLs read from the command line are small; refuse huge files early. */
export const PKI_FILE_MAX_BYTES = 1024 * 1024

/** Read a file with a size limit, mapping errors to stable codes. */
export async function readLimited(path: string, what: string, max = PKI_FILE_MAX_BYTES): Promise<Buffer> {
  try {
    const handle = await open(path, 'r')
    try {
      const { size } = await handle.stat()
      if (size > max) throw new InvalidArgumentError(`${path}: ${what} is ${size} bytes; larger than ${max}`)
      return await handle.readFile()
    } finally {
      await handle.close()
    }
  } catch (err) {
    if (err instanceof PeerguardError) throw err
    const e = err as NodeJS.ErrnoException
    if (e.code === 'ENOENT') throw new PeerguardError('not-found', `${path}: no such ${what}`, { cause: err })
    if (e.code === 'EISDIR') throw new InvalidArgumentError(`${path}: is a directory, expected a ${what}`, { cause: err })
    throw new PeerguardError('io-error', `${path}: cannot read the ${what} (${e.code ?? e.message})`, { cause: err })
  }
}

/**
 * The passphrase is the first line of the file, without its line ending (LF or CR LF).
 * An empty first line is refused: it would encrypt with no secret at all.
 */
export async function readPassphraseFile(path: string): Promise<string> {
  const raw = await readLimited(path, 'passphrase file', PASSPHRASE_FILE_MAX_BYTES)
  try {
    let end = raw.indexOf(0x0a)
    if (end === -1) end = raw.length
    if (end > 0 && raw[end - 1] === 0x0d) end--
    if (end === 0) {
      throw new InvalidArgumentError(`${path}: the passphrase file is empty (its first line is the passphrase)`, {
        details: { hint: 'write the passphrase on the first line of the file' }
      })
    }
    return raw.toString('utf8', 0, end)
  } finally {
    wipe(raw)
  }
}

/** `{ passphrase }` from an optional `--passphrase-file`, ready to spread into keystore options. */
export async function passphraseOf(file: string | undefined): Promise<{ passphrase?: string }> {
  return file === undefined ? {} : { passphrase: await readPassphraseFile(file) }
}

/** The key pair of an identity key file. */
export async function readKey(path: string, passphraseFile: string | undefined): Promise<KeyPair> {
  return (await loadIdentity(path, await passphraseOf(passphraseFile))).keyPair
}

/** Every certificate in a file: DER (one) or PEM (one or more, leaf first). */
export async function readCertificates(path: string): Promise<Uint8Array[]> {
  const bytes = new Uint8Array(await readLimited(path, 'certificate'))
  if (bytes[0] === 0x30) return [bytes]
  try {
    return pemDecodeAll(Buffer.from(bytes).toString('latin1'), 'CERTIFICATE')
  } catch (err) {
    throw new CertificateMalformedError(`${path}: not a PEM or DER certificate (${(err as Error).message})`, { cause: err })
  }
}

/** A trust store from a root certificate file, or from a directory of roots and CRLs. */
export async function readTrust(path: string): Promise<TrustStore> {
  const info = await stat(path).catch(() => undefined)
  if (info?.isDirectory() === true) return loadTrustStore(path)
  return createTrustStore({ roots: await readCertificates(path) })
}

/** Refuse early when an output file exists, so a failed write never follows a state change. */
export async function assertWritable(path: string, force: boolean | undefined): Promise<void> {
  if (force === true) return
  const exists = await stat(path).then(
    () => true,
    () => false
  )
  if (exists) {
    throw new PeerguardError('already-exists', `${path}: already exists; refusing to overwrite it`, {
      details: { hint: 'choose another --out file, or pass --force to replace it' }
    })
  }
}

/** True when `--json` was given, before or after the command. */
export function wantsJson(cmd: Command): boolean {
  return cmd.optsWithGlobals<{ json?: boolean }>().json === true
}

/** Commander collector for repeatable options (`--group a --group b`). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value]
}

/** `HOST:PORT` or `[IPv6]:PORT` for a `--listen` option. */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value)
  const port = m === null ? Number.NaN : Number(m[3])
  if (m === null || port > 65535) throw new InvalidArgumentError(`--listen: expected HOST:PORT, got ${JSON.stringify(value)}`)
  return { host: (m[1] ?? m[2]) as string, port }
}
