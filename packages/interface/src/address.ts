/**
 * The host of a socket address as peerguard writes them (`127.0.0.1:5555`, `[::1]:5555`, `::1:5555`),
 * for per-host counts and summaries: the port (digits after the last colon) and IPv6 brackets are
 * dropped; `undefined` is `unknown`; at most 256 characters (the value may come from a stranger).
 */
export function hostOfAddress(address: string | undefined): string {
  if (address === undefined) return 'unknown'
  const colon = address.lastIndexOf(':')
  const host = colon > 0 && /^\d+$/.test(address.slice(colon + 1)) ? address.slice(0, colon) : address
  return host.replace(/^\[(.*)\]$/, '$1').slice(0, 256)
}
