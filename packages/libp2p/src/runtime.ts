import { InvalidArgumentError } from '@peerguard/interface'
import { Libp2pUnsupportedRuntimeError, Libp2pUnsupportedVersionError, SUPPORTED_VERSIONS } from './errors.js'

/** The two connection shapes libp2p hands a connection encrypter. */
export type ConnectionShape = 'duplex' | 'message-stream'

/**
 * Refuse early, before libp2p starts, on a runtime where libp2p would crash later: libp2p 3
 * throughout, and libp2p 2 through `it-queue`, call `Promise.withResolvers` (ES2024, Node 22). On
 * Node 20 the process otherwise dies with an uncaught TypeError at the first disconnect.
 */
export function assertRuntime(): void {
  const P = Promise as unknown as { withResolvers?: unknown }
  if (typeof P.withResolvers !== 'function') {
    throw new Libp2pUnsupportedRuntimeError(
      `libp2p calls Promise.withResolvers, which Node ${process.versions.node} lacks: run Node 22 or later ` +
        '(libp2p 3 requires it), or — libp2p 2 only — install a standard polyfill of Promise.withResolvers ' +
        'before libp2p starts. ' +
        SUPPORTED_VERSIONS
    )
  }
}

const isFn = (v: unknown): boolean => typeof v === 'function'

/**
 * Which libp2p hands us this connection: libp2p 2 gives an it-stream duplex (`{ source, sink }`),
 * libp2p 3 a `MessageStream` (`send`, `addEventListener`, async-iterable). Anything else is refused
 * with a message naming the supported versions, not a cryptic failure later.
 */
export function connectionShapeOf(connection: unknown): ConnectionShape {
  if (typeof connection !== 'object' || connection === null)
    throw new InvalidArgumentError(`connection: expected a libp2p connection. ${SUPPORTED_VERSIONS}`)
  const c = connection as Record<PropertyKey, unknown>
  if (isFn(c.send) && isFn(c.addEventListener) && isFn(c.abort) && isFn(c.close)) return 'message-stream'
  const source = c.source as { [Symbol.asyncIterator]?: unknown } | undefined
  if (isFn(c.sink) && typeof source === 'object' && source !== null && isFn(source[Symbol.asyncIterator])) return 'duplex'
  throw new Libp2pUnsupportedVersionError(
    `the connection libp2p handed the encrypter is neither a libp2p 2 duplex { source, sink } nor a libp2p 3 MessageStream. ${SUPPORTED_VERSIONS}`
  )
}
