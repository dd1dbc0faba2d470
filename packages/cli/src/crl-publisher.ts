/**
 * `peerguard ca publish`: a tiny read-only HTTP server for CRL distribution points. It serves, for
 * each CA directory, the newest CRL `peerguard ca crl` signed (DER, `application/pkix-crl`, RFC
 * 5280 §4.2.1.13 / RFC 2585 §4) and the CA certificate (DER and PEM), re-read from the directory on
 * every request, so a fresh CRL is served as soon as it is signed.
 *
 * Why it is safe to expose on the LAN: everything it serves is public and signed (a CRL forged or
 * altered in transit fails its signature check at the peer), it never reads a path from the request
 * (a fixed table of names, no file system lookup by URL), never serves the CA key or database,
 * answers GET and HEAD only, reads no request body, and bounds headers, time and connections.
 */
import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { basename, join } from 'node:path'
import { PeerguardError } from '@peerguard/interface'
import { CA_FILES, type ParsedCrl, parseCertificate, parseCrl, pemDecodeAll } from '@peerguard/pki'

/** Most simultaneous connections. */
export const PUBLISH_MAX_CONNECTIONS = 256
/** Deadline for a request's headers, ms. */
export const PUBLISH_HEADERS_TIMEOUT_MS = 10_000
/** Largest request head accepted, bytes (node's `maxHeaderSize`). */
export const PUBLISH_MAX_HEADER_BYTES = 8 * 1024

export interface PublishedCa {
  /** The CA directory. */
  dir: string
  /** URL name: `/<name>.crl`, `/<name>.crt`, `/<name>.pem`. Default the directory's base name. */
  name?: string
}

/** What a request for one CA file finds on disk. */
interface Found {
  body: Uint8Array
  type: string
  crl?: ParsedCrl
}

export interface CrlPublisher {
  /** Listen; resolves with the bound address. */
  listen(host: string, port: number): Promise<AddressInfo>
  /** The URL paths served, by CA name. */
  readonly paths: ReadonlyArray<{ name: string; dir: string; crl: string; crt: string; pem: string }>
  close(): Promise<void>
  /** Requests answered (for tests and the exit summary). */
  readonly served: number
}

/** A URL-safe name for a CA directory. */
export function publishName(dir: string): string {
  const name = basename(dir.replace(/[/\\]+$/, '')).replace(/[^A-Za-z0-9._-]/g, '-')
  return name.length === 0 || name.startsWith('.') ? 'ca' : name
}

async function readCrlFile(dir: string): Promise<Found | undefined> {
  const text = await readFile(join(dir, CA_FILES.crl), 'latin1').catch(() => undefined)
  if (text === undefined) return undefined
  const der = pemDecodeAll(text, 'X509 CRL')[0]
  if (der === undefined) return undefined
  return { body: der, type: 'application/pkix-crl', crl: parseCrl(der) }
}

async function readCaCert(dir: string, pem: boolean): Promise<Found | undefined> {
  const text = await readFile(join(dir, CA_FILES.certificate), 'latin1').catch(() => undefined)
  if (text === undefined) return undefined
  const cert = parseCertificate(text)
  if (pem) return { body: Buffer.from(text, 'latin1'), type: 'application/x-pem-file' }
  return { body: cert.der, type: 'application/pkix-cert' }
}

/** A publisher for these CA directories (not yet listening). */
export function createCrlPublisher(cas: readonly PublishedCa[]): CrlPublisher {
  const paths = cas.map((c) => {
    const name = c.name ?? publishName(c.dir)
    return { name, dir: c.dir, crl: `/${name}.crl`, crt: `/${name}.crt`, pem: `/${name}.pem` }
  })
  const names = new Set(paths.map((p) => p.name))
  if (names.size !== paths.length)
    throw new PeerguardError('usage', 'two CA directories have the same base name: the URLs would clash; rename one')
  const table = new Map<string, () => Promise<Found | undefined>>()
  for (const p of paths) {
    table.set(p.crl, () => readCrlFile(p.dir))
    table.set(p.crt, () => readCaCert(p.dir, false))
    table.set(p.pem, () => readCaCert(p.dir, true))
  }
  const index = `peerguard CRL distribution point\n\n${paths.map((p) => `${p.crl}  CRL (DER)\n${p.crt}  CA certificate (DER)\n${p.pem}  CA certificate (PEM)\n`).join('')}`
  let served = 0

  const answer = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    res.setHeader('X-Content-Type-Options', 'nosniff')
    res.setHeader('Cache-Control', 'no-cache')
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed: read only\n')
      return
    }
    const path = (req.url ?? '/').split('?')[0] as string
    const head = req.method === 'HEAD'
    if (path === '/') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' }).end(head ? undefined : index)
      return
    }
    const read = table.get(path)
    const found = read === undefined ? undefined : await read().catch(() => undefined)
    if (found === undefined) {
      const why = read === undefined ? 'not found' : 'not available yet (sign one with `peerguard ca crl`)'
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end(head ? undefined : `${why}\n`)
      return
    }
    const headers: Record<string, string | number> = { 'Content-Type': found.type, 'Content-Length': found.body.length }
    if (found.crl !== undefined) {
      headers['Last-Modified'] = new Date(found.crl.thisUpdate).toUTCString()
      if (found.crl.nextUpdate !== undefined) headers.Expires = new Date(found.crl.nextUpdate).toUTCString()
    }
    res.writeHead(200, headers).end(head ? undefined : found.body)
  }

  const server: Server = createServer(
    { maxHeaderSize: PUBLISH_MAX_HEADER_BYTES, requestTimeout: PUBLISH_HEADERS_TIMEOUT_MS },
    (req, res) => {
      served++
      // A body is never read: drop it, and do not keep a connection that sent one.
      if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined)
        res.setHeader('Connection', 'close')
      req.resume()
      answer(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' })
        res.end()
      })
    }
  )
  server.headersTimeout = PUBLISH_HEADERS_TIMEOUT_MS
  server.keepAliveTimeout = 5_000
  server.maxConnections = PUBLISH_MAX_CONNECTIONS
  server.maxRequestsPerSocket = 100

  return {
    paths,
    get served() {
      return served
    },
    listen(host, port) {
      return new Promise((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, host, () => {
          server.off('error', reject)
          resolve(server.address() as AddressInfo)
        })
      })
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
    }
  }
}
