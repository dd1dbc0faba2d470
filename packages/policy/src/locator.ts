import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml'
import type { SourceLocation } from '@peerguard/interface'
import type { PolicyErrorDetails } from './errors.js'
import { jsonPositions, lineColumn, lineStartsOf } from './json-positions.js'
import { yamlPositions } from './yaml-positions.js'

export type DocPath = ReadonlyArray<string | number>

/** `['rules', 2, 'allow', 0]` → `rules[2].allow[0]`. */
export function formatPath(path: DocPath): string {
  let out = ''
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`
  return out === '' ? '(top level)' : out
}

/**
 * Maps a path inside the document to a line and column. JSON texts are parsed with JSON.parse,
 * and plain YAML texts with js-yaml, for speed; the `yaml` document (which keeps positions) is
 * then built only when an error or a source location the line scans cannot give needs it.
 */
export class Locator {
  private doc: Document | undefined
  private readonly lines = new LineCounter()

  /**
   * `data`, given for a YAML text read by js-yaml (no `doc`), lets `source` find items by a line
   * scan checked against it; without it and without `doc`, the text is JSON.
   */
  constructor(
    private readonly text: string,
    readonly file: string | undefined,
    doc?: Document,
    lines?: LineCounter,
    private readonly data?: object
  ) {
    if (doc !== undefined && lines !== undefined) {
      this.doc = doc
      this.lines = lines
    }
  }

  private document(): Document {
    if (this.doc === undefined) this.doc = parseDocument(this.text, { lineCounter: this.lines, uniqueKeys: false })
    return this.doc
  }

  /** 1-based line and column of a node (or, with `key`, of the key named last in `path`). */
  position(path: DocPath, key = false): { line: number; column: number } {
    const doc = this.document()
    let offset: number | undefined
    if (key && path.length > 0) {
      const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true)
      if (isMap(parent)) {
        const name = path[path.length - 1]
        const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === name)
        if (pair !== undefined && isScalar(pair.key)) offset = pair.key.range?.[0]
      }
    }
    for (let n = path.length; offset === undefined && n >= 0; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true)
      const range = (node as { range?: [number, number, number] } | null | undefined)?.range
      if (range !== undefined) offset = range[0]
    }
    const pos = this.lines.linePos(offset ?? 0)
    return { line: pos.line, column: pos.col }
  }

  private json: { positions: Map<string, number>; starts: number[] } | undefined

  /** Source location of an item one or two levels deep (`rules[3]`), cheap for JSON and plain YAML texts. */
  source(path: readonly [string, string | number]): SourceLocation {
    if (this.doc === undefined) {
      if (this.json === undefined)
        this.json = {
          positions: this.data === undefined ? jsonPositions(this.text) : yamlPositions(this.text, this.data),
          starts: lineStartsOf(this.text)
        }
      const offset = this.json.positions.get(`${path[0]}\u0000${path[1]}`)
      if (offset !== undefined)
        return { ...(this.file === undefined ? {} : { file: this.file }), ...lineColumn(this.json.starts, offset) }
    }
    return { ...(this.file === undefined ? {} : { file: this.file }), ...this.position(path) }
  }

  details(path: DocPath, extra: { expected?: string; hint?: string; key?: boolean } = {}): PolicyErrorDetails {
    const { line, column } = this.position(path, extra.key === true)
    return {
      ...(this.file === undefined ? {} : { file: this.file }),
      line,
      column,
      path: formatPath(path),
      ...(extra.expected === undefined ? {} : { expected: extra.expected }),
      ...(extra.hint === undefined ? {} : { hint: extra.hint })
    }
  }
}
