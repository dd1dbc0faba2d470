import type { SourceLocation } from '@peerguard/interface'

/** Per model object: how to locate it, and the location once computed. */
const pending = new WeakMap<object, { readonly locate: () => SourceLocation; value?: SourceLocation }>()

/** The one `source` getter every model object shares (its state lives in `pending`). */
function sourceGetter(this: object): SourceLocation {
  const entry = pending.get(this)
  if (entry === undefined) throw new TypeError('source: not read from a policy model object')
  entry.value ??= entry.locate()
  return entry.value
}

/**
 * Give a freshly made model object (a rule, peer or group) an enumerable `source` that is
 * located on first read: finding positions in a large JSON text costs more than parsing it, and
 * most rules never need theirs. Every object gets the same getter function, so objects made at
 * one place share one hidden class; a getter written in each object literal gave every rule its
 * own, and reading `rule.except` while compiling 1,000 peers went through V8's slowest lookups.
 */
export function withLazySource<T extends object>(item: T, locate: () => SourceLocation): T & { readonly source: SourceLocation } {
  pending.set(item, { locate })
  return Object.defineProperty(item, 'source', { get: sourceGetter, enumerable: true, configurable: true }) as T & {
    readonly source: SourceLocation
  }
}
