/**
 * Offsets of the items two levels deep in a block-style YAML policy (`rules[3]`, `peers.alice`),
 * found in one linear scan of the lines, at the offsets the `yaml` library gives their nodes.
 * The fast loader parses YAML with js-yaml, which keeps no positions; this gives its rules,
 * peers, groups, resources and tests their source locations without building a `yaml` document.
 *
 * Only the plain shapes are read: a top-level `key:` alone on its line, then block sequence
 * items (`- …`) or block mapping entries (`name: …`, `"name": …`). Any other shape (flow
 * collections, empty entries, odd keys) leaves that top-level key out, and the Locator falls
 * back to the `yaml` document for it; so does a count of items that differs from the data.
 */

/** The top-level keys whose items carry a source location. */
const SEQUENCES = new Set(['rules', 'tests'])
const MAPPINGS = new Set(['peers', 'groups', 'resources'])

interface Line {
  readonly start: number
  readonly indent: number
  /** The line after its indentation. */
  readonly body: string
}

/** The content lines of `text` (blank and comment-only lines left out), or undefined for tabs. */
function contentLines(text: string): Line[] | undefined {
  const out: Line[] = []
  let start = 0
  while (start <= text.length) {
    let end = text.indexOf('\n', start)
    if (end < 0) end = text.length
    let raw = text.slice(start, end)
    if (raw.endsWith('\r')) raw = raw.slice(0, -1)
    let indent = 0
    while (raw.charCodeAt(indent) === 0x20) indent++
    if (raw.charCodeAt(indent) === 0x09) return undefined
    const body = raw.slice(indent)
    if (body !== '' && !body.startsWith('#')) out.push({ start, indent, body })
    start = end + 1
  }
  return out
}

/** True when what follows on a line is nothing or a comment. */
function isEmptyRest(rest: string): boolean {
  const t = rest.trimStart()
  return t === '' || t.startsWith('#')
}

/** The key of a `key: value` line and where its value starts in `body`, or undefined. */
function readKey(body: string): { key: string; rest: number } | undefined {
  const c = body[0]
  if (c === '"' || c === "'") {
    let end = 1
    if (c === "'") {
      for (;;) {
        end = body.indexOf("'", end)
        if (end < 0) return undefined
        if (body[end + 1] === "'") end += 2
        else break
      }
    } else {
      while (end < body.length && body[end] !== '"') end += body[end] === '\\' ? 2 : 1
      if (end >= body.length) return undefined
    }
    const colon = end + 1
    if (body[colon] !== ':' || !(colon + 1 === body.length || body[colon + 1] === ' ')) return undefined
    let key: string
    if (c === "'") key = body.slice(1, end).replace(/''/g, "'")
    else {
      try {
        key = JSON.parse(body.slice(0, end + 1)) as string
      } catch {
        return undefined
      }
    }
    return { key, rest: colon + 1 }
  }
  if (c === undefined || '-?:,[]{}#&*!|>%@`'.includes(c)) return undefined
  const m = /:(?: |$)/.exec(body)
  if (m === null) return undefined
  const key = body.slice(0, m.index)
  if (key !== key.trimEnd() || key.includes(' #') || /^(?:~|[Nn]ull|NULL)$/.test(key)) return undefined
  return { key, rest: m.index + 1 }
}

function isDash(body: string): boolean {
  return body === '-' || body.startsWith('- ') || body.startsWith('-#')
}

/**
 * Offset of the node that starts at `body[at]` (after spaces), or else on the next content line
 * when that is indented deeper than the entry (or, for a mapping entry, is a `-` item at the
 * entry's own indentation).
 */
function nodeStart(lines: readonly Line[], i: number, at: number, mappingEntry: boolean): number | undefined {
  const line = lines[i] as Line
  const rest = line.body.slice(at)
  if (!isEmptyRest(rest)) return line.start + line.indent + at + (rest.length - rest.trimStart().length)
  const next = lines[i + 1]
  if (next === undefined) return undefined
  if (next.indent > line.indent || (mappingEntry && next.indent === line.indent && isDash(next.body)))
    return next.start + next.indent
  return undefined
}

/** Item offsets under the top-level key on line `i`; undefined when its shape is not plain. */
function collection(lines: readonly Line[], i: number, sequence: boolean): Array<[string, number]> | undefined {
  const first = lines[i + 1]
  if (first === undefined) return undefined
  const indent = first.indent
  if (!sequence && indent === 0) return undefined
  const out: Array<[string, number]> = []
  for (let j = i + 1; j < lines.length; j++) {
    const line = lines[j] as Line
    if (line.indent < indent || (line.indent === 0 && !line.body.startsWith('-'))) break
    if (line.indent > indent) continue
    const dash = isDash(line.body)
    if (sequence) {
      if (!dash) return undefined
      const at = nodeStart(lines, j, 1, false)
      if (at === undefined) return undefined
      out.push([String(out.length), at])
    } else {
      if (dash) continue // a sequence written at its key's indentation (`staff:\n- a`)
      const k = readKey(line.body)
      if (k === undefined) return undefined
      const at = nodeStart(lines, j, k.rest, true)
      if (at === undefined) return undefined
      out.push([k.key, at])
    }
  }
  return out
}

/**
 * `"rules\u0000<index>"` / `"peers\u0000<name>"` → offset, for the top-level keys of `data` whose
 * items were all found and match the data (same count; for mappings, the same names).
 */
export function yamlPositions(text: string, data: object): Map<string, number> {
  const out = new Map<string, number>()
  const lines = contentLines(text)
  if (lines === undefined) return out
  const record = data as Record<string, unknown>
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as Line
    if (line.indent !== 0) continue
    const k = readKey(line.body)
    if (k === undefined || !isEmptyRest(line.body.slice(k.rest))) continue
    const sequence = SEQUENCES.has(k.key)
    if (!sequence && !MAPPINGS.has(k.key)) continue
    const items = collection(lines, i, sequence)
    const value = record[k.key]
    if (items === undefined || value === null || typeof value !== 'object' || Array.isArray(value) !== sequence) continue
    const names = sequence ? undefined : new Set(items.map(([name]) => name))
    const expected = Array.isArray(value) ? value.length : Object.keys(value).length
    if (items.length !== expected || (names !== undefined && names.size !== items.length)) continue
    if (names !== undefined && !Object.keys(value).every((name) => names.has(name))) continue
    for (const [name, offset] of items) out.set(`${k.key}\u0000${name}`, offset)
  }
  return out
}
