import { isMap, isScalar, type Document, type LineCounter } from 'yaml'

/** One located problem of a config file. */
export interface ConfigFinding {
  readonly file: string
  readonly line: number
  readonly column: number
  /** The key path, `shares[1].listen`. */
  readonly path: string
  readonly message: string
}

/** A key path in a config document: keys and list indexes. */
export type Path = ReadonlyArray<string | number>

/** `shares[1].listen`; `(top level)` for the empty path. */
export function formatPath(path: Path): string {
  let out = ''
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`
  return out === '' ? '(top level)' : out
}

const HOST_PORT = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/

/** Reads one document's values, collecting located findings. */
export class ConfigChecker {
  readonly findings: ConfigFinding[] = []
  constructor(
    readonly file: string,
    readonly doc: Document,
    readonly lines: LineCounter
  ) {}

  fail(path: Path, message: string, key = false): void {
    let offset: number | undefined
    if (key && path.length > 0) {
      const parent = path.length === 1 ? this.doc.contents : this.doc.getIn(path.slice(0, -1), true)
      if (isMap(parent)) {
        const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === path[path.length - 1])
        if (pair !== undefined && isScalar(pair.key)) offset = pair.key.range?.[0]
      }
    }
    for (let n = path.length; offset === undefined && n >= 0; n--) {
      const node = n === 0 ? this.doc.contents : this.doc.getIn(path.slice(0, n), true)
      offset = (node as { range?: [number, number, number] } | null | undefined)?.range?.[0]
    }
    const pos = this.lines.linePos(offset ?? 0)
    this.findings.push({ file: this.file, line: pos.line, column: pos.col, path: formatPath(path), message })
  }

  object(value: unknown, path: Path, keys: readonly string[]): Record<string, unknown> | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.fail(path, 'expected a mapping of keys to values')
      return undefined
    }
    for (const k of Object.keys(value))
      if (!keys.includes(k))
        this.fail([...path, k], `unknown key ${JSON.stringify(k)} (expected one of: ${keys.join(', ')})`, true)
    return value as Record<string, unknown>
  }

  string(o: Record<string, unknown>, path: Path, key: string, required: boolean, re?: RegExp): string | undefined {
    const v = o[key]
    if (v === undefined || v === null) {
      if (required) this.fail(path, `missing required key "${key}"`)
      return undefined
    }
    if (typeof v !== 'string' || v.length === 0 || v.length > 4096) {
      this.fail([...path, key], 'expected a non-empty string')
      return undefined
    }
    if (re !== undefined && !re.test(v)) {
      this.fail([...path, key], `expected a name of letters, digits, '.', '_' and '-', got ${JSON.stringify(v)}`)
      return undefined
    }
    return v
  }

  bool(o: Record<string, unknown>, path: Path, key: string): boolean {
    const v = o[key]
    if (v === undefined) return false
    if (typeof v !== 'boolean') this.fail([...path, key], 'expected true or false')
    return v === true
  }

  int(o: Record<string, unknown>, path: Path, key: string, min: number, max: number, dflt: number): number {
    const v = o[key]
    if (v === undefined) return dflt
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      this.fail([...path, key], `expected a whole number ${min}..${max}`)
      return dflt
    }
    return v
  }

  hostPort(o: Record<string, unknown>, path: Path, key: string, allowZero: boolean): { host: string; port: number } {
    const v = this.string(o, path, key, true)
    const m = v === undefined ? null : HOST_PORT.exec(v)
    const port = m === null ? Number.NaN : Number(m[3])
    if (v !== undefined && (m === null || port > 65535 || (!allowZero && port === 0))) {
      this.fail([...path, key], `expected HOST:PORT${allowZero ? '' : ' (port 1..65535)'}, got ${JSON.stringify(v)}`)
      return { host: '127.0.0.1', port: 0 }
    }
    return m === null ? { host: '127.0.0.1', port: 0 } : { host: (m[1] ?? m[2]) as string, port }
  }

  list(o: Record<string, unknown>, path: Path, key: string): unknown[] {
    const v = o[key]
    if (v === undefined || v === null) return []
    if (!Array.isArray(v)) {
      this.fail([...path, key], 'expected a list')
      return []
    }
    return v
  }
}
