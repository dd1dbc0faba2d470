/**
 * libp2p 2.10 reaches `it-queue` (through @libp2p/peer-store → mortice ≥ 3.3), which calls
 * `Promise.withResolvers` (ES2024, Node 22), and `peerguardEncrypter` refuses to start without it.
 * The libp2p 2 tests also run on Node 20 (CI's first pass), so they add the standard function when
 * it is missing — what the README tells a libp2p 2 application on Node 20 to do. The package itself
 * sets no globals.
 */
const P = Promise as unknown as { withResolvers?: unknown }
if (typeof P.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value<T>() {
      let resolve!: (value: T | PromiseLike<T>) => void
      let reject!: (reason?: unknown) => void
      const promise = new Promise<T>((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    }
  })
}
export {}
