import { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { TLSSocket } from 'node:tls'
import { ProxyIdleTimeoutError } from './errors.js'

export interface SplicedStats {
  /** Bytes from `a` to `b`. */
  readonly aToB: number
  /** Bytes from `b` to `a`. */
  readonly bToA: number
  /** Why the splice ended: undefined for a clean close in both directions. */
  readonly error?: Error
}

export interface SpliceOptions {
  /** Abort when no byte moved either way for this long, ms; 0 = never. Default 0. */
  idleTimeoutMs?: number
  /** Counters updated as bytes move (live figures for status displays). Default none. */
  live?: { aToB: number; bToA: number }
}

/**
 * Pipe `a` and `b` into each other with backpressure (`pipe` pauses the source while the
 * destination is full) and half-close (the end of one direction ends only that direction). An error
 * or close without end on either side destroys both, so an abort propagates as an abort. Resolves
 * once both sides are closed.
 */
export function splice(a: Duplex, b: Duplex, options: SpliceOptions = {}): Promise<SplicedStats> {
  const idleMs = options.idleTimeoutMs ?? 0
  const live = options.live
  let aToB = 0
  let bToA = 0
  let last = Date.now()
  let failure: Error | undefined
  let timer: NodeJS.Timeout | undefined
  return new Promise((resolve) => {
    let closed = 0
    const finish = (): void => {
      if (timer !== undefined) clearTimeout(timer)
      resolve({ aToB, bToA, ...(failure === undefined ? {} : { error: failure }) })
    }
    const abort = (err: Error | undefined): void => {
      if (failure === undefined && err !== undefined) failure = err
      for (const s of [a, b]) {
        if (s.destroyed) continue
        // a plain TCP socket gets a RST, so the application there sees an abort, not a clean end
        if (s instanceof Socket && !(s instanceof TLSSocket) && s.readyState !== 'closed') s.resetAndDestroy()
        else s.destroy(err === undefined ? undefined : failure)
      }
    }
    for (const [from, to] of [
      [a, b],
      [b, a]
    ] as const) {
      from.on('data', (chunk: Buffer) => {
        last = Date.now()
        if (from === a) aToB += chunk.length
        else bToA += chunk.length
        if (live !== undefined) {
          live.aToB = aToB
          live.bToA = bToA
        }
      })
      from.on('error', (err: Error) => abort(err))
      from.on('close', () => {
        // closed without both directions done: an abort, pass it on
        if (!(from.readableEnded && from.writableFinished)) abort(failure)
        else if (to.readableEnded && to.writableFinished) to.destroy()
        if (++closed === 2) finish()
      })
      from.pipe(to)
    }
    // once both directions ended cleanly, release both
    const maybeDone = (): void => {
      if (a.readableEnded && b.readableEnded && a.writableFinished && b.writableFinished) {
        a.destroy()
        b.destroy()
      }
    }
    for (const s of [a, b]) {
      s.on('end', maybeDone)
      s.on('finish', maybeDone)
    }
    if (idleMs > 0) {
      const check = (): void => {
        const quiet = Date.now() - last
        if (quiet >= idleMs) abort(new ProxyIdleTimeoutError(`no data for ${idleMs} ms`))
        else {
          timer = setTimeout(check, idleMs - quiet)
          timer.unref()
        }
      }
      timer = setTimeout(check, idleMs)
      timer.unref()
    }
  })
}
