import { serviceCapabilities } from '@libp2p/interface'
import { type DecisionSink, InvalidArgumentError, isDecisionSink } from '@peerguard/interface'
import { addressOf } from './address.js'
import { Libp2pNoCommonEncrypterError } from './errors.js'
import { PEERGUARD_PROTOCOL } from './protocol.js'

export interface RefuseStockNoiseOptions {
  /** Write each refusal here (`kind: connection`, code `libp2p-no-common-encrypter`). Default: none. */
  log?: DecisionSink
}

const NOISE = '/noise'

function advice(direction: 'inbound' | 'outbound', address: string | undefined): string {
  const who = address === undefined ? 'the remote node' : `the remote node at ${address}`
  return (
    `${who} offers only stock Noise (${NOISE}), and this node accepts only the peerguard encrypter ` +
    `(${PEERGUARD_PROTOCOL}): give ${direction === 'outbound' ? 'the node you dialled' : 'that node'} ` +
    'peerguardEncrypter() with a certificate from your LAN CA, or — to talk to stock libp2p nodes — list noise() ' +
    'after peerguardEncrypter() on this node and let peerguardGater decide them by peer ID (certifiedOnly: false)'
  )
}

/**
 * A stand-in connection encrypter for the stock Noise protocol id (`/noise`) that refuses every
 * connection with a message saying what to configure (`libp2p-no-common-encrypter`), instead of
 * libp2p's bare "protocol selection failed". List it after `peerguardEncrypter` on a node that must
 * speak peerguard only; peerguard is still chosen whenever the remote offers it.
 *
 * It never speaks Noise: a stock node that dials in sees its Noise handshake cut off; the refusal
 * and the advice are on this node's side (the dial error, and the `log`).
 *
 * @example
 * ```ts
 * connectionEncrypters: [peerguardEncrypter({ chain, trust }), refuseStockNoise({ log })]
 * ```
 */
export function refuseStockNoise(options: RefuseStockNoiseOptions = {}): () => StockNoiseRefusal {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options: expected an object')
  if (options.log !== undefined && !isDecisionSink(options.log))
    throw new InvalidArgumentError('options.log: expected a decision log (an object with append(record))')
  return () => new StockNoiseRefusal(options.log)
}

/** The encrypter `refuseStockNoise()` creates. */
export class StockNoiseRefusal {
  readonly protocol = NOISE
  readonly [Symbol.toStringTag] = '@peerguard/libp2p:refuse-stock-noise'
  readonly [serviceCapabilities]: string[] = ['@libp2p/connection-encryption']
  readonly #log: DecisionSink | undefined

  constructor(log: DecisionSink | undefined) {
    this.#log = log
  }

  secureOutbound(connection: unknown): Promise<never> {
    return this.#refuse('outbound', connection)
  }

  secureInbound(connection: unknown): Promise<never> {
    return this.#refuse('inbound', connection)
  }

  async #refuse(direction: 'inbound' | 'outbound', connection: unknown): Promise<never> {
    const address = addressOf(connection)
    const err = new Libp2pNoCommonEncrypterError(advice(direction, address))
    if (this.#log !== undefined) {
      try {
        await this.#log.append({
          kind: 'connection',
          event: 'refused',
          code: err.code,
          reason: err.message,
          ...(address === undefined ? {} : { peer: { address } }),
          mode: 'plain'
        })
      } catch {
        // the refusal stands whether or not it could be logged
      }
    }
    try {
      ;(connection as { abort?: (e: Error) => void } | null)?.abort?.(err)
    } catch {
      // already closed
    }
    throw err
  }
}
