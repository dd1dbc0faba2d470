import { InvalidArgumentError } from '@peerguard/interface'

/** `host:port` or `[v6]:port` → { host, port }. Throws InvalidArgumentError. */
export function parsePeerAddress(text: string): { host: string; port: number } {
  if (typeof text !== 'string' || text.length === 0 || text.length > 300)
    throw new InvalidArgumentError(
      `peer address: expected HOST:PORT, got ${typeof text === 'string' ? JSON.stringify(text) : typeof text}`
    )
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(text)
  const port = m === null ? Number.NaN : Number(m[3])
  if (m === null || port < 1 || port > 65535)
    throw new InvalidArgumentError(`peer address: expected HOST:PORT, got ${JSON.stringify(text)}`)
  return { host: (m[1] ?? m[2]) as string, port }
}

/** host + port → `host:port` (`[v6]:port`). */
export function formatPeerAddress(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`
}
