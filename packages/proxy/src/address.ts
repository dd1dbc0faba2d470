import { type AddressInfo, isIP, type Server } from 'node:net'
import { PeerguardError } from '@peerguard/interface'
import { ProxyAddressInvalidError } from './errors.js'

/** A TCP endpoint. */
export interface HostPort {
  readonly host: string
  readonly port: number
}

const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

/**
 * Parse `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (host `defaultHost`). Ports are 0..65535 (0 = any
 * free port, for listening). Throws ProxyAddressInvalidError with the reason.
 */
export function parseHostPort(value: unknown, name = 'address', defaultHost = '127.0.0.1'): HostPort {
  if (typeof value === 'object' && value !== null) {
    const v = value as { host?: unknown; port?: unknown }
    return parseHostPort(`${formatHost(String(v.host ?? defaultHost))}:${String(v.port)}`, name, defaultHost)
  }
  if (typeof value !== 'string') throw new ProxyAddressInvalidError(`${name}: expected HOST:PORT, got ${typeof value}`)
  if (value.length === 0 || value.length > 300)
    throw new ProxyAddressInvalidError(`${name}: expected HOST:PORT, got ${JSON.stringify(value.slice(0, 40))}`)
  let host: string
  let portText: string
  if (value.startsWith('[')) {
    const close = value.indexOf(']')
    if (close < 0 || value[close + 1] !== ':')
      throw new ProxyAddressInvalidError(`${name}: expected [IPv6]:PORT, got ${JSON.stringify(value)}`)
    host = value.slice(1, close)
    portText = value.slice(close + 2)
    if (isIP(host) !== 6) throw new ProxyAddressInvalidError(`${name}: ${JSON.stringify(host)} is not an IPv6 address`)
  } else {
    const colon = value.lastIndexOf(':')
    if (colon < 0) throw new ProxyAddressInvalidError(`${name}: expected HOST:PORT, got ${JSON.stringify(value)} (no port)`)
    host = value.slice(0, colon) || defaultHost
    portText = value.slice(colon + 1)
    if (host.includes(':'))
      throw new ProxyAddressInvalidError(`${name}: write an IPv6 address as [ADDRESS]:PORT, got ${JSON.stringify(value)}`)
    if (isIP(host) === 0 && !HOSTNAME.test(host))
      throw new ProxyAddressInvalidError(`${name}: ${JSON.stringify(host)} is not a host name or IP address`)
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535)
    throw new ProxyAddressInvalidError(`${name}: port must be 0..65535, got ${JSON.stringify(portText)}`)
  return { host, port: Number(portText) }
}

function formatHost(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host
}

/** The text form of an endpoint (`[::1]:80` for IPv6). */
export function formatHostPort(hp: HostPort): string {
  return `${formatHost(hp.host)}:${hp.port}`
}

/** Bind `server` to `at`; resolves to the bound address, or rejects with `io-error` (EADDRINUSE…). */
export function listenOn(server: Server, at: HostPort): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void =>
      reject(new PeerguardError('io-error', `listen ${formatHostPort(at)}: ${err.code ?? err.message}`, { cause: err }))
    server.once('error', onError)
    server.listen(at.port, at.host, () => {
      server.off('error', onError)
      resolve(server.address() as AddressInfo)
    })
  })
}
