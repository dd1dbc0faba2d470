import { Ajv, type ErrorObject } from 'ajv'
import { LineCounter, parseDocument } from 'yaml'
import { InvalidArgumentError } from '@peerguard/interface'
import {
  PolicyInvalidError,
  PolicyLoadError,
  PolicyParseError,
  PolicyTooLargeError,
  PolicyUnknownActionError,
  PolicyUnknownKeyError
} from './errors.js'
import { jsonDuplicateKey, lineColumn, lineStartsOf } from './json-positions.js'
import { Locator } from './locator.js'
import { ModelBuilder } from './model-builder.js'
import type { PolicyModel } from './model.js'
import { POLICY_SCHEMA, type PolicyDocument } from './schema.js'
import { nearest } from './suggest.js'
import { fastYamlData } from './yaml-fast.js'

/** Largest policy text the parser reads: 16 MiB. */
export const MAX_POLICY_BYTES = 16 * 2 ** 20

let validator: ReturnType<Ajv['compile']> | undefined
/** Schema errors, most useful first: an unknown key (a typo) explains a "missing key" next to it. */
const KEYWORD_RANK: Record<string, number> = { additionalProperties: 0, enum: 1, const: 1, oneOf: 1, type: 2, required: 4 }

/** The schema problems of `data`, most useful first; one per place in the document. */
function validate(data: unknown): ErrorObject[] {
  if (validator === undefined) {
    // validateSchema: false — POLICY_SCHEMA is a constant (its tests compile it in strict mode);
    // checking it against the draft-07 meta-schema cost every process ~25 ms (a third of the compile).
    const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true, validateSchema: false })
    validator = ajv.compile(POLICY_SCHEMA)
  }
  if (validator(data)) return []
  const rank = (e: ErrorObject): number => KEYWORD_RANK[e.keyword] ?? 5
  const byPlace = new Map<string, ErrorObject>()
  for (const e of validator.errors ?? []) {
    const best = byPlace.get(e.instancePath)
    if (best === undefined || rank(e) < rank(best)) byPlace.set(e.instancePath, e)
  }
  return [...byPlace.values()].sort((a, b) => rank(a) - rank(b))
}

function pointerToPath(pointer: string): Array<string | number> {
  if (pointer === '') return []
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s))
}

function quoteList(items: readonly string[]): string {
  return items.map((i) => `"${i}"`).join(', ')
}

function schemaError(error: ErrorObject, loc: Locator): PolicyLoadError {
  const path = pointerToPath(error.instancePath)
  const params = error.params as Record<string, unknown>
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty)
      const allowed = Object.keys((error.parentSchema as { properties?: object } | undefined)?.properties ?? {})
      const guess = nearest(key, allowed)
      return new PolicyUnknownKeyError(
        `unknown key "${key}"`,
        loc.details([...path, key], {
          key: true,
          expected: `one of ${quoteList(allowed)}`,
          ...(guess === undefined ? {} : { hint: `did you mean "${guess}"?` })
        })
      )
    }
    case 'required':
      return new PolicyInvalidError(
        `missing key "${String(params.missingProperty)}"`,
        loc.details(path, { expected: 'the key to be present' })
      )
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(String)
      // The data is whatever the file held (a mapping whose `toString` is a list, say): name
      // scalars as written and anything else by its shape, never by calling into it.
      const value = typeof error.data === 'string' ? error.data : describeValue(error.data)
      const guess = nearest(value, allowed)
      const hint = guess === undefined ? {} : { hint: `did you mean "${guess}"?` }
      if (path.includes('allow') || path.includes('deny')) {
        return new PolicyUnknownActionError(
          `unknown action "${value}"`,
          loc.details(path, { expected: `one of ${quoteList(allowed)}`, ...hint })
        )
      }
      return new PolicyInvalidError(
        `unknown value "${value}"`,
        loc.details(path, { expected: `one of ${quoteList(allowed)}`, ...hint })
      )
    }
    case 'const':
      return new PolicyInvalidError(
        `unsupported value ${describeValue(error.data)}`,
        loc.details(path, { expected: JSON.stringify(params.allowedValue) })
      )
    case 'type':
      return new PolicyInvalidError(
        `wrong type (${describeValue(error.data)})`,
        loc.details(path, { expected: String(params.type) })
      )
    case 'maxItems':
    case 'maxProperties':
    case 'maxLength':
      return new PolicyTooLargeError(
        `too large`,
        loc.details(path, {
          expected: `at most ${String(params.limit)} ${error.keyword === 'maxLength' ? 'characters' : 'entries'}`
        })
      )
    case 'oneOf':
      return new PolicyInvalidError(
        'wrong peer',
        loc.details(path, { expected: 'a peer name, or {named?, id?, name?, groups?, address?} (at least one)' })
      )
    default:
      return new PolicyInvalidError(error.message ?? 'invalid value', loc.details(path))
  }
}

function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  return `${typeof value} ${JSON.stringify(value)?.slice(0, 40) ?? ''}`
}

/**
 * Parse the text into plain data and a locator. Only PolicyParseError escapes. With `fast`, a
 * YAML text is read by js-yaml when it can be (see yaml-fast.ts): its locator builds the `yaml`
 * document only if a position is asked for that the line scan cannot give.
 */
function parseText(text: string, file: string | undefined, fast: boolean): { data: unknown; loc: Locator; fast: boolean } {
  if (/^\s*[{[]/.test(text)) {
    let data: unknown
    let parsed = false
    try {
      data = JSON.parse(text)
      parsed = true
    } catch {
      // Not strict JSON: let the YAML parser (a JSON superset) locate the problem or accept it.
    }
    if (parsed) {
      const dup = jsonDuplicateKey(text)
      if (dup !== undefined) {
        const { line, column } = lineColumn(lineStartsOf(text), dup.offset)
        throw new PolicyParseError(`duplicate key ${JSON.stringify(dup.key)}`, {
          ...(file === undefined ? {} : { file }),
          line,
          column,
          path: '(document)',
          expected: 'each key once per mapping'
        })
      }
      return { data, loc: new Locator(text, file), fast: false }
    }
  }
  if (fast) {
    const data = fastYamlData(text)
    // Anything but a mapping is an error, reported from `yaml`'s reading below.
    if (data !== null && typeof data === 'object' && !Array.isArray(data))
      return { data, loc: new Locator(text, file, undefined, undefined, data), fast: true }
  }
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, strict: true })
  const first = doc.errors[0]
  if (first !== undefined) {
    const pos = lines.linePos(first.pos[0])
    throw new PolicyParseError(first.message.split('\n')[0] ?? 'malformed YAML', {
      ...(file === undefined ? {} : { file }),
      line: pos.line,
      column: pos.col,
      path: '(document)',
      expected: 'well-formed YAML or JSON'
    })
  }
  let data: unknown
  try {
    data = doc.toJS({ maxAliasCount: 100 })
  } catch (err) {
    throw new PolicyParseError(err instanceof Error ? err.message : 'cannot convert the document', {
      ...(file === undefined ? {} : { file }),
      line: 1,
      column: 1,
      path: '(document)',
      expected: 'a document without excessive aliases'
    })
  }
  return { data, loc: new Locator(text, file, doc, lines), fast: false }
}

/**
 * Parse, validate and check a policy text. Throws one of the located `Policy…Error` classes
 * (each a PeerguardError with a stable code) for any problem; never anything else. With
 * `errors`, every problem found is pushed there instead and the result is undefined when there
 * was any (a text that does not parse stops at the first; a schema violation stops before the
 * semantic checks).
 */
export function parsePolicyModel(text: string, file?: string): PolicyModel
export function parsePolicyModel(text: string, file: string | undefined, errors: PolicyLoadError[]): PolicyModel | undefined
export function parsePolicyModel(text: string, file?: string, errors?: PolicyLoadError[]): PolicyModel | undefined {
  if (errors === undefined) {
    try {
      return parseStrict(text, file, true)
    } catch (err) {
      // Any problem in a text js-yaml read is found again from `yaml`'s reading, so that what
      // is reported (and where) never depends on the fast path.
      if (err instanceof FastPathError) return parseStrict(text, file, false)
      throw err
    }
  }
  const found: PolicyLoadError[] = []
  const first = parseCollecting(text, file, found, true)
  if (found.length > 0 && first.fast) return parseCollecting(text, file, errors, false).model
  errors.push(...found)
  return first.model
}

/** A problem found in a text read on the fast path (a wrapper, never seen by callers). */
class FastPathError extends Error {}

function parseCollecting(
  text: string,
  file: string | undefined,
  errors: PolicyLoadError[],
  fast: boolean
): { model: PolicyModel | undefined; fast: boolean } {
  let used = false
  try {
    const doc = parseDocumentData(text, file, fast)
    used = doc.fast
    const problems = validate(doc.data)
    if (problems.length > 0) {
      errors.push(...problems.map((p) => schemaError(p, doc.loc)))
      return { model: undefined, fast: used }
    }
    const model = new ModelBuilder(doc.data as PolicyDocument, doc.loc, errors).build()
    return { model: errors.length === 0 ? model : undefined, fast: used }
  } catch (err) {
    if (!(err instanceof PolicyLoadError)) throw err
    errors.push(err)
    return { model: undefined, fast: used }
  }
}

function parseStrict(text: string, file: string | undefined, fast: boolean): PolicyModel {
  const { data, loc, fast: used } = parseDocumentData(text, file, fast)
  try {
    const schemaProblem = validate(data)[0]
    if (schemaProblem !== undefined) throw schemaError(schemaProblem, loc)
    return new ModelBuilder(data as PolicyDocument, loc).build()
  } catch (err) {
    if (used && err instanceof PolicyLoadError) throw new FastPathError(err.message)
    throw err
  }
}

/** Checked input, parsed into plain data (a mapping) with its locator. */
function parseDocumentData(text: string, file: string | undefined, fast: boolean): { data: object; loc: Locator; fast: boolean } {
  if (typeof text !== 'string')
    throw new InvalidArgumentError(`text: expected string, got ${text === null ? 'null' : typeof text}`)
  if (file !== undefined && typeof file !== 'string') throw new InvalidArgumentError(`file: expected string, got ${typeof file}`)
  if (text.length > MAX_POLICY_BYTES) {
    throw new PolicyTooLargeError(`policy text of ${text.length} characters`, {
      ...(file === undefined ? {} : { file }),
      line: 1,
      column: 1,
      path: '(document)',
      expected: `at most ${MAX_POLICY_BYTES} characters`
    })
  }
  const { data, loc, fast: used } = parseText(text, file, fast)
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new PolicyInvalidError(
      `the document is ${describeValue(data)}`,
      loc.details([], {
        expected: 'a mapping with version: 1 and rules:',
        ...(typeof data === 'string' && /\.(ya?ml|json)$/i.test(data)
          ? { hint: `to load a file, call loadPolicy({ path: ${JSON.stringify(data)} })` }
          : {})
      })
    )
  }
  return { data, loc, fast: used }
}
