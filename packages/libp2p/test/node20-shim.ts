/**
 * libp2p 2.10 reaches `it-queue` (through @libp2p/peer-store → mortice ≥ 3.3), which calls
 * `Promise.withResolvers` (ES2024, Node 22). This project runs on Node 20, so the tests and the
 * bench add the standard function when it is missing. The package itself sets no globals; see the
 * README ("Node 20") for the override an application can use instead.
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
