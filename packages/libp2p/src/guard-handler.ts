import {
  assertString,
  type DecisionSink,
  InvalidArgumentError,
  isDecisionSink,
  isPolicyDecider,
  type PeerInfo,
  type PolicyDecider,
  logPeer,
  recordOrRefuse
} from '@peerguard/interface'
import { Libp2pProtocolDeniedError } from './errors.js'
import { peerOf } from './peer-of.js'

export interface GuardHandlerOptions {
  /** The action asked about. Default `get`. */
  action?: string
  /** Write every decision here (an `operation` record, verb `open-stream`). When writing fails the stream is refused. Default: none. */
  log?: DecisionSink
  /**
   * Called once a refused stream was aborted, with the error it was aborted with and the peer (undefined
   * when peerguard did not secure the connection): to report or count refusals. Default: none.
   */
  onRefused?: (error: Libp2pProtocolDeniedError, peer: PeerInfo | undefined) => void
}

/** The part of a libp2p stream (2.x or 3.x) the guard uses. */
interface StreamLike {
  protocol?: string
  abort(err: Error): void
  addEventListener?(type: string, listener: () => void): void
  removeEventListener?(type: string, listener: () => void): void
  dispatchEvent?(event: Event): boolean
}

/**
 * libp2p 3 fires `remoteCloseWrite` once; a handler the guard starts after the decision was logged
 * would miss it if the remote closed its side meanwhile (a short request), and wait forever. Note it
 * while deciding, and fire it again once the handler has attached its listeners — after the buffered
 * messages, which the stream dispatches in a microtask when a `message` listener is added.
 */
function watchRemoteClose(stream: StreamLike): { replay(): void } {
  if (typeof stream.addEventListener !== 'function' || typeof stream.dispatchEvent !== 'function') return { replay() {} }
  let closed = false
  const onClose = (): void => {
    closed = true
  }
  stream.addEventListener('remoteCloseWrite', onClose)
  return {
    replay() {
      stream.removeEventListener?.('remoteCloseWrite', onClose)
      if (closed) setTimeout(() => stream.dispatchEvent?.(new Event('remoteCloseWrite')), 0)
    }
  }
}

/** libp2p 2 calls a handler with `{ stream, connection }`, libp2p 3 with `(stream, connection)`. */
function streamAndConnection(args: unknown[]): { stream: StreamLike; connection: unknown } | undefined {
  const [first, second] = args
  if (typeof first !== 'object' || first === null) return undefined
  const data = first as { stream?: unknown; connection?: unknown; abort?: unknown }
  if (typeof data.abort === 'function') return { stream: first as StreamLike, connection: second }
  const stream = data.stream as StreamLike | undefined
  if (typeof stream === 'object' && stream !== null && typeof stream.abort === 'function')
    return { stream, connection: data.connection }
  return undefined
}

/**
 * Wrap a libp2p stream handler so that every stream is decided by the policy like any other
 * request: `decide({ peer, action: 'get', resource: 'protocol:<the stream's protocol>' })`, with the
 * peer the peerguard handshake authenticated (`peerOf(connection)`). A denied stream — or one on a
 * connection peerguard did not secure, or whose decision cannot be logged — is aborted with
 * `Libp2pProtocolDeniedError` (`libp2p-protocol-denied`) and the handler never runs.
 *
 * The policy's default deny applies: a protocol no rule allows is refused, so a guarded handler
 * needs a rule naming it (`resources: ["protocol:/app/echo/1.0.0"]`). Works with the handler
 * signatures of libp2p 2 (`({ stream, connection })`) and 3 (`(stream, connection)`).
 *
 * @example
 * ```ts
 * await node.handle('/app/echo/1.0.0', guardHandler(policy, (stream, connection) => { … }, { log }))
 * ```
 */
export function guardHandler<H extends (...args: never[]) => unknown>(
  policy: PolicyDecider,
  handler: H,
  options: GuardHandlerOptions = {}
): H {
  if (!isPolicyDecider(policy))
    throw new InvalidArgumentError('policy: expected a Policy or PolicyWatcher from @peerguard/policy')
  if (typeof handler !== 'function') throw new InvalidArgumentError('handler: expected a libp2p stream handler function')
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options: expected an object')
  const { log } = options
  if (log !== undefined && !isDecisionSink(log))
    throw new InvalidArgumentError('options.log: expected a decision log (an object with append(record))')
  const action = options.action ?? 'get'
  assertString('options.action', action, { nonEmpty: true, maxLength: 64 })
  const { onRefused } = options
  if (onRefused !== undefined && typeof onRefused !== 'function')
    throw new InvalidArgumentError('options.onRefused: expected a function')

  const guarded = async (...args: unknown[]): Promise<unknown> => {
    const found = streamAndConnection(args)
    if (found === undefined) throw new InvalidArgumentError('guardHandler: libp2p called the handler without a stream')
    const { stream, connection } = found
    const remoteClose = watchRemoteClose(stream)
    const protocol = typeof stream.protocol === 'string' ? stream.protocol : ''
    const resource = `protocol:${protocol}`
    const peer: PeerInfo | undefined = peerOf(connection)
    let allowed = false
    let code: string
    let reason: string
    let rule: { id: string } | undefined
    if (peer === undefined) {
      code = 'libp2p-uncertified-peer'
      reason = 'the connection was not secured by the peerguard encrypter (no certificate was verified)'
    } else if (protocol === '') {
      code = 'deny-invalid-resource'
      reason = 'the stream has no protocol'
    } else {
      try {
        const d = policy.decide({ peer, action, resource })
        allowed = d.allowed === true
        code = d.code
        reason = d.reason
        if (d.rule !== undefined) rule = { id: d.rule.id }
      } catch (err) {
        code = 'invalid-argument'
        reason = `the policy could not decide: ${(err as Error).message}`
      }
    }
    try {
      await recordOrRefuse(log, {
        kind: 'operation',
        allowed,
        code,
        reason: reason.slice(0, 4096),
        ...(peer === undefined ? {} : { peer: logPeer(peer) }),
        action,
        verb: 'open-stream',
        resource: resource.slice(0, 4096),
        ...(rule === undefined ? {} : { rule })
      })
    } catch (err) {
      // fail closed: a decision that cannot be recorded is not made
      allowed = false
      code = (err as { code?: string }).code ?? 'log-unavailable'
      reason = 'the decision log could not be written'
    }
    if (!allowed) {
      remoteClose.replay()
      const refusal = new Libp2pProtocolDeniedError(`${protocol || 'stream'} refused: ${code}: ${reason}`, { details: { code } })
      stream.abort(refusal)
      onRefused?.(refusal, peer)
      return undefined
    }
    try {
      return handler(...(args as Parameters<H>))
    } finally {
      remoteClose.replay()
    }
  }
  return guarded as unknown as H
}
