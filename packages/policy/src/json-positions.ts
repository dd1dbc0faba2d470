/**
 * Offsets of the values two levels deep in a JSON text (`rules[3]`, `peers.alice`), found in one
 * linear scan. JSON policies are parsed with JSON.parse for speed; this gives their rules source
 * locations without building a YAML document.
 */
export function jsonPositions(text: string): Map<string, number> {
  const out = new Map<string, number>()
  const stack: Array<{ array: boolean; index: number; key: string | undefined; path: string }> = []
  let i = 0
  let pendingKey: string | undefined
  const n = text.length
  const valueStart = (at: number): void => {
    const top = stack[stack.length - 1]
    if (top === undefined) return
    const seg = top.array ? String(top.index) : (pendingKey ?? '')
    if (stack.length <= 2) out.set(top.path === '' ? seg : `${top.path}\u0000${seg}`, at)
    top.key = seg
  }
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c === 0x22 /* " */) {
      const start = i
      i++
      while (i < n && text.charCodeAt(i) !== 0x22) i += text.charCodeAt(i) === 0x5c ? 2 : 1
      i++
      const top = stack[stack.length - 1]
      // A string is a key when it is inside an object and a colon follows.
      let j = i
      while (
        j < n &&
        (text.charCodeAt(j) === 0x20 || text.charCodeAt(j) === 0x0a || text.charCodeAt(j) === 0x0d || text.charCodeAt(j) === 0x09)
      )
        j++
      if (top !== undefined && !top.array && text.charCodeAt(j) === 0x3a) {
        try {
          pendingKey = JSON.parse(text.slice(start, i)) as string
        } catch {
          pendingKey = undefined
        }
        i = j + 1
      } else valueStart(start)
      continue
    }
    if (c === 0x7b || c === 0x5b /* { [ */) {
      valueStart(i)
      const top = stack[stack.length - 1]
      const path = top === undefined ? '' : top.path === '' ? (top.key ?? '') : `${top.path}\u0000${top.key ?? ''}`
      stack.push({ array: c === 0x5b, index: 0, key: undefined, path })
      i++
      continue
    }
    if (c === 0x7d || c === 0x5d /* } ] */) {
      stack.pop()
      i++
      continue
    }
    if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1]
      if (top?.array === true) top.index++
      i++
      continue
    }
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x3a) {
      i++
      continue
    }
    // A number, true, false or null.
    valueStart(i)
    while (i < n) {
      const d = text.charCodeAt(i)
      if (d === 0x2c || d === 0x5d || d === 0x7d || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09) break
      i++
    }
  }
  return out
}

/** 1-based line and column of an offset. */
export function lineColumn(lineStarts: readonly number[], offset: number): { line: number; column: number } {
  let lo = 0
  let hi = lineStarts.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if ((lineStarts[mid] as number) <= offset) lo = mid
    else hi = mid - 1
  }
  return { line: lo + 1, column: offset - (lineStarts[lo] as number) + 1 }
}

export function lineStartsOf(text: string): number[] {
  const starts = [0]
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1)
  return starts
}

/**
 * The first key that appears twice in one object of a (well-formed) JSON text, with its offset.
 * JSON.parse silently keeps the last one; a policy must not have two meanings.
 */
export function jsonDuplicateKey(text: string): { key: string; offset: number } | undefined {
  const stack: Array<Set<string> | undefined> = []
  const n = text.length
  let i = 0
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c === 0x22 /* " */) {
      const start = i
      // Jump from quote to quote; a quote preceded by an odd number of backslashes is escaped.
      let end = text.indexOf('"', i + 1)
      while (end > 0 && text.charCodeAt(end - 1) === 0x5c) {
        let k = end - 1
        while (text.charCodeAt(k - 1) === 0x5c) k--
        if ((end - k) % 2 === 0) break
        end = text.indexOf('"', end + 1)
      }
      if (end < 0) return undefined
      i = end + 1
      const keys = stack[stack.length - 1]
      if (keys !== undefined) {
        let j = i
        while (
          j < n &&
          (text.charCodeAt(j) === 0x20 ||
            text.charCodeAt(j) === 0x0a ||
            text.charCodeAt(j) === 0x0d ||
            text.charCodeAt(j) === 0x09)
        )
          j++
        if (text.charCodeAt(j) === 0x3a /* : */) {
          const raw = text.slice(start + 1, i - 1)
          const key = raw.includes('\\') ? (JSON.parse(text.slice(start, i)) as string) : raw
          if (keys.has(key)) return { key, offset: start }
          keys.add(key)
        }
      }
      continue
    }
    if (c === 0x7b /* { */) stack.push(new Set())
    else if (c === 0x5b /* [ */) stack.push(undefined)
    else if (c === 0x7d || c === 0x5d) stack.pop()
    i++
  }
  return undefined
}
