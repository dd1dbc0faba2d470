import { type NetConnectOpts, connect as netConnect, type Socket } from 'node:net'
import { type HostPort, formatHostPort } from './address.js'
import { ProxyTargetTimeoutError, ProxyTargetUnreachableError } from './errors.js'

/** Deadline to connect to the target, ms (5 s). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000
/**
 * Stream buffer per socket direction, in bytes (256 KiB). Node's default of 16 KiB pauses the
 * source after every 64 KiB read, so a chain of four processes moves one chunk per scheduling
 * round; a deeper buffer keeps the pipeline full. Bounded: about 512 KiB per socket.
 */
export const SOCKET_HIGH_WATER_MARK = 256 * 1024

/** Connect to `target` within `timeoutMs`; a PeerguardError with a proxy code otherwise. */
export function connectTarget(target: HostPort, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({
      host: target.host,
      port: target.port,
      allowHalfOpen: true,
      noDelay: true,
      readableHighWaterMark: SOCKET_HIGH_WATER_MARK,
      writableHighWaterMark: SOCKET_HIGH_WATER_MARK
    } as NetConnectOpts)
    const timer = setTimeout(() => {
      s.destroy()
      reject(new ProxyTargetTimeoutError(`connecting to ${formatHostPort(target)} did not finish within ${timeoutMs} ms`))
    }, timeoutMs)
    s.once('connect', () => {
      clearTimeout(timer)
      s.removeAllListeners('error')
      resolve(s)
    })
    s.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      s.destroy()
      reject(
        new ProxyTargetUnreachableError(`cannot connect to ${formatHostPort(target)}: ${err.code ?? err.message}`, { cause: err })
      )
    })
  })
}
