import type { Server, Socket } from 'node:net'
import type { ProxyConfig } from './config.js'
import { ProxyClosedError } from './errors.js'
import { checkConfig } from './server-options.js'

/**
 * The configuration a `reload()` of a proxy end puts in force: `o.loadConfig()`'s, checked (with a
 * policy on the server end), or — without `loadConfig` — `current` with its trust store re-read.
 * Throws what loading or checking throws; the caller keeps `current` then.
 */
export async function nextConfig(
  o: { loadConfig?: (() => Promise<ProxyConfig>) | undefined },
  current: ProxyConfig,
  needPolicy: boolean
): Promise<ProxyConfig> {
  if (o.loadConfig === undefined) {
    await current.trust.reload()
    return current
  }
  const next = await o.loadConfig()
  checkConfig(next, needPolicy)
  return next
}

/**
 * Stop a proxy end's listener: no new connections; unless `drain`, the open `sockets` are
 * destroyed with ProxyClosedError. Resolves when every piece of `work` has settled and the
 * listener is closed.
 */
export async function closeProxyEnd(
  server: Server,
  sockets: ReadonlySet<Socket>,
  work: ReadonlySet<Promise<unknown>>,
  drain: boolean
): Promise<void> {
  const closing = new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()))
  if (!drain) for (const s of sockets) s.destroy(new ProxyClosedError())
  await Promise.allSettled([...work])
  await closing
}
