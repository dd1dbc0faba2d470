import { request } from 'node:http'
import { assertInteger, InvalidArgumentError } from '@peerguard/interface'
import { parseCrl } from './crl.js'
import { CrlFetchError } from './errors.js'

/** Default deadline for one fetch, ms: 10 s. */
export const DEFAULT_CRL_FETCH_TIMEOUT_MS = 10_000
/** Default size limit of a fetched CRL, bytes: 1 MiB (a LAN CA's CRL is a few KiB). */
export const DEFAULT_CRL_FETCH_MAX_BYTES = 1024 * 1024

export interface FetchCrlOptions {
  /** Deadline for the whole fetch (connect, headers and body), ms. Default 10000. */
  timeoutMs?: number
  /** Largest body accepted, bytes. Default 1048576. */
  maxBytes?: number
}

/**
 * Fetch a CRL from a distribution point: one HTTP GET to the URL as given (`http:` only: a CRL is
 * signed, so transport security adds nothing, and a relying party must not need a certificate to
 * check certificates), no redirects, bounded in time and size. Returns the CRL as DER (a PEM body
 * is decoded). It does not verify the signature: hand the result to `TrustStore.addCrl`, which does.
 * Throws `invalid-argument` (not an http: URL), `crl-fetch-failed` (connection, status, size or
 * time) or `crl-malformed` (the body is not a CRL).
 */
export async function fetchCrl(url: string, options: FetchCrlOptions = {}): Promise<Uint8Array> {
  if (typeof url !== 'string') throw new InvalidArgumentError(`url: expected string, got ${url === null ? 'null' : typeof url}`)
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
  const timeoutMs = options.timeoutMs ?? DEFAULT_CRL_FETCH_TIMEOUT_MS
  const maxBytes = options.maxBytes ?? DEFAULT_CRL_FETCH_MAX_BYTES
  assertInteger('timeoutMs', timeoutMs, 1, 600_000)
  assertInteger('maxBytes', maxBytes, 1, 64 * 1024 * 1024)
  let target: URL
  try {
    target = new URL(url)
  } catch (err) {
    throw new InvalidArgumentError(`url: not a URL: ${JSON.stringify(url)}`, { cause: err })
  }
  if (target.protocol !== 'http:') throw new InvalidArgumentError(`url: expected an http:// URL, got ${target.protocol}`)

  const body = await new Promise<Buffer>((resolve, reject) => {
    const fail = (message: string, cause?: unknown): void => {
      clearTimeout(timer)
      req.destroy()
      reject(new CrlFetchError(`${url}: ${message}`, { ...(cause === undefined ? {} : { cause }), details: { url } }))
    }
    const timer = setTimeout(() => fail(`no complete answer within ${timeoutMs} ms`), timeoutMs)
    const req = request(target, { method: 'GET', headers: { accept: 'application/pkix-crl' } }, (res) => {
      const status = res.statusCode ?? 0
      if (status !== 200) {
        res.resume()
        fail(`HTTP ${status}${res.statusMessage === undefined ? '' : ` ${res.statusMessage}`} (expected 200)`)
        return
      }
      const declared = Number(res.headers['content-length'])
      if (Number.isFinite(declared) && declared > maxBytes) {
        fail(`${declared} bytes is larger than ${maxBytes}`)
        return
      }
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > maxBytes) fail(`more than ${maxBytes} bytes`)
        else chunks.push(chunk)
      })
      res.on('end', () => {
        clearTimeout(timer)
        if (size <= maxBytes) resolve(Buffer.concat(chunks))
      })
      res.on('error', (err) => fail(`reading the answer: ${err.message}`, err))
    })
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      reject(new CrlFetchError(`${url}: ${err.code ?? err.message}`, { cause: err, details: { url } }))
    })
    req.end()
  })
  const crl = parseCrl(body[0] === 0x30 ? new Uint8Array(body) : body.toString('latin1'))
  return crl.der
}
