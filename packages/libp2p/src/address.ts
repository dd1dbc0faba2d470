/** A multiaddr as far as this package reads it (multiaddr 13: `getComponents()`). */
interface MultiaddrLike {
  getComponents(): Array<{ name: string; value?: string }>
}

const HOSTS = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6'])
const PORTS = new Set(['tcp', 'udp'])

/** Host and port of a connection's `remoteAddr` (`/ip4/…/tcp/…`), or undefined (relay, unix socket…). */
export function hostPortOf(connection: unknown): { host: string; port: number } | undefined {
  try {
    const addr = (connection as { remoteAddr?: MultiaddrLike } | undefined)?.remoteAddr
    if (addr === undefined || typeof addr.getComponents !== 'function') return undefined
    let host: string | undefined
    let port: number | undefined
    for (const c of addr.getComponents()) {
      if (host === undefined && HOSTS.has(c.name) && typeof c.value === 'string') host = c.value
      else if (host !== undefined && port === undefined && PORTS.has(c.name) && typeof c.value === 'string')
        port = Number(c.value)
    }
    if (host === undefined || port === undefined || !Number.isInteger(port)) return undefined
    return { host, port }
  } catch {
    return undefined
  }
}

/** `host:port`, with IPv6 hosts in brackets (the form `PeerInfo.address` uses). */
export function addressOf(connection: unknown): string | undefined {
  const hp = hostPortOf(connection)
  if (hp === undefined) return undefined
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`
}
