/**
 * The configuration file of `peerguard node`: YAML (or JSON), described by `node.schema.json`.
 * Every error is located (file:line:column, the key path, what was expected) and all of them are
 * reported at once, like `policy lint`. Relative paths are relative to the file's directory.
 */
import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { PeerguardError } from '@peerguard/interface'
import { isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml'
import { LOG_LEVELS, type LogLevel } from '../console-log.js'
import { type WorkspaceConfig, workspaceOf } from './workspace-config.js'
import { type EnrollmentConfig, enrollmentOf } from './enrollment-config.js'

/** A config file larger than this is surely the wrong file. */
export const MAX_NODE_CONFIG_BYTES = 1024 * 1024
/** Default of `drain-seconds`: how long SIGTERM lets running operations finish. */
export const DEFAULT_DRAIN_SECONDS = 10

export interface ShareService {
  readonly name: string
  readonly path: string
  readonly listen: { host: string; port: number }
  readonly maxOps: number
}

export interface ProxyService {
  readonly service: string
  readonly listen: { host: string; port: number }
  readonly target: { host: string; port: number }
  readonly action: string
  readonly tls: boolean
  readonly proxyProtocol: boolean
}

/** A swarm the node seeds: what `peerguard swarm seed MANIFEST FILE --listen … --max-upload …` takes. */
export interface SwarmService {
  /** The manifest file (`swarm publish --out`). */
  readonly manifest: string
  /** The complete file it describes. */
  readonly file: string
  readonly listen: { host: string; port: number }
  /** Upload cap for this swarm's peers, bytes per second. */
  readonly maxUpload?: number
}

/** A checked node configuration, paths absolute. */
export interface NodeConfig {
  readonly file: string
  readonly identity: string
  readonly passphraseFile?: string
  /** systemd credential holding the passphrase (`$CREDENTIALS_DIRECTORY/NAME`). */
  readonly passphraseCredential?: string
  readonly cert: string
  readonly trust: string
  readonly crl: readonly string[]
  readonly allowMissingCrl: boolean
  readonly policy: string
  readonly log?: string
  readonly logShip?: string
  readonly runtimeDir?: string
  readonly crlRefresh: number
  readonly drainSeconds: number
  /** `log-level`: the console log's level (reloads live; `--log-level` and `-v` override it). */
  readonly logLevel?: LogLevel
  readonly shares: readonly ShareService[]
  readonly proxies: readonly ProxyService[]
  readonly swarms: readonly SwarmService[]
  /** The `workspace:` section: discovery and bundle spreading (absent: the node does not join). */
  readonly workspace?: WorkspaceConfig
  /** The `enrollment:` section: this node is the CA node and redeems enrollment tokens (absent: it does not). */
  readonly enrollment?: EnrollmentConfig
}

/** One located problem of a config file. */
export interface ConfigFinding {
  readonly file: string
  readonly line: number
  readonly column: number
  /** The key path, `shares[1].listen`. */
  readonly path: string
  readonly message: string
}

/** A config file that does not check: every finding, the first in the message. */
export class NodeConfigError extends PeerguardError {
  readonly findings: readonly ConfigFinding[]
  constructor(findings: readonly ConfigFinding[]) {
    const f = findings[0] as ConfigFinding
    super(
      'node-config-invalid',
      `${f.file}:${f.line}:${f.column}: ${f.path}: ${f.message}${findings.length > 1 ? ` (and ${findings.length - 1} more)` : ''}`,
      { details: { findings } }
    )
    this.findings = findings
  }
}

type Path = ReadonlyArray<string | number>

function formatPath(path: Path): string {
  let out = ''
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`
  return out === '' ? '(top level)' : out
}

export const TOP_KEYS = [
  'identity',
  'passphrase-file',
  'passphrase-credential',
  'cert',
  'trust',
  'crl',
  'allow-missing-crl',
  'policy',
  'log',
  'log-ship',
  'runtime-dir',
  'crl-refresh',
  'drain-seconds',
  'log-level',
  'shares',
  'proxies',
  'swarms',
  'workspace',
  'enrollment'
]
export const SHARE_KEYS = ['name', 'path', 'listen', 'max-ops']
export const PROXY_KEYS = ['service', 'listen', 'target', 'action', 'tls', 'proxy-protocol']
export const SWARM_KEYS = ['manifest', 'file', 'listen', 'max-upload']
const NAME = /^[A-Za-z0-9._-]{1,200}$/
const HOST_PORT = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/

/** Reads one document's values, collecting located findings. */
class Checker {
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

function shareOf(c: Checker, v: unknown, path: Path, at: (p: string) => string): ShareService | undefined {
  const o = c.object(v, path, SHARE_KEYS)
  if (o === undefined) return undefined
  const dir = c.string(o, path, 'path', true)
  const name = c.string(o, path, 'name', true, NAME)
  const listen = c.hostPort(o, path, 'listen', true)
  const maxOps = c.int(o, path, 'max-ops', 1, 10_000, 8)
  if (dir === undefined || name === undefined) return undefined
  return { name, path: at(dir), listen, maxOps }
}

function proxyOf(c: Checker, v: unknown, path: Path): ProxyService | undefined {
  const o = c.object(v, path, PROXY_KEYS)
  if (o === undefined) return undefined
  const service = c.string(o, path, 'service', true, NAME)
  const listen = c.hostPort(o, path, 'listen', true)
  const target = c.hostPort(o, path, 'target', false)
  const action = c.string(o, path, 'action', false, NAME) ?? 'get'
  const tls = c.bool(o, path, 'tls')
  const proxyProtocol = c.bool(o, path, 'proxy-protocol')
  if (service === undefined) return undefined
  return { service, listen, target, action, tls, proxyProtocol }
}

function swarmOf(c: Checker, v: unknown, path: Path, at: (p: string) => string): SwarmService | undefined {
  const o = c.object(v, path, SWARM_KEYS)
  if (o === undefined) return undefined
  const manifest = c.string(o, path, 'manifest', true)
  const file = c.string(o, path, 'file', true)
  const listen = c.hostPort(o, path, 'listen', true)
  const maxUpload = o['max-upload'] === undefined ? undefined : c.int(o, path, 'max-upload', 1024, 1e12, 1024)
  if (manifest === undefined || file === undefined) return undefined
  return { manifest: at(manifest), file: at(file), listen, ...(maxUpload === undefined ? {} : { maxUpload }) }
}

/** Duplicate share names, services and listen addresses are findings too. */
function checkUnique(
  c: Checker,
  shares: Array<ShareService | undefined>,
  proxies: Array<ProxyService | undefined>,
  swarms: Array<SwarmService | undefined>
): void {
  const seen = new Map<string, string>()
  const claim = (key: string, path: Path, what: string): void => {
    const before = seen.get(key)
    if (before !== undefined) c.fail(path, `${what} is already used by ${before}`)
    else seen.set(key, formatPath(path))
  }
  shares.forEach((s, i) => {
    if (s === undefined) return
    claim(`name:${s.name}`, ['shares', i, 'name'], `share name "${s.name}"`)
    if (s.listen.port !== 0) claim(`listen:${s.listen.port}`, ['shares', i, 'listen'], `port ${s.listen.port}`)
  })
  proxies.forEach((p, i) => {
    if (p === undefined) return
    claim(`service:${p.service}`, ['proxies', i, 'service'], `service "${p.service}"`)
    if (p.listen.port !== 0) claim(`listen:${p.listen.port}`, ['proxies', i, 'listen'], `port ${p.listen.port}`)
  })
  swarms.forEach((w, i) => {
    if (w === undefined) return
    claim(`manifest:${w.manifest}`, ['swarms', i, 'manifest'], `manifest ${JSON.stringify(w.manifest)}`)
    if (w.listen.port !== 0) claim(`listen:${w.listen.port}`, ['swarms', i, 'listen'], `port ${w.listen.port}`)
  })
}

/**
 * Check a config text; `file` names it in findings and anchors relative paths. Returns the
 * config or every finding (never throws for bad input).
 */
export function checkNodeConfig(text: string, file: string): { config?: NodeConfig; findings: ConfigFinding[] } {
  const lines = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false })
  if (doc.errors.length > 0) {
    return {
      findings: doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0])
        return { file, line: pos.line, column: pos.col, path: '(syntax)', message: e.message.split('\n')[0] as string }
      })
    }
  }
  const c = new Checker(file, doc, lines)
  const base = dirname(resolve(file))
  const at = (p: string): string => resolve(base, p)
  let js: unknown
  try {
    js = doc.toJS({ maxAliasCount: 100 })
  } catch (err) {
    // An alias without its anchor, or an alias bomb: the yaml library throws while converting.
    c.fail([], `YAML: ${(err as Error).message.split('\n')[0]}`)
    return { findings: c.findings }
  }
  const top = c.object(js, [], TOP_KEYS)
  if (top === undefined) return { findings: c.findings }
  const identity = c.string(top, [], 'identity', true)
  const passphraseFile = c.string(top, [], 'passphrase-file', false)
  const passphraseCredential = c.string(top, [], 'passphrase-credential', false)
  if (passphraseFile !== undefined && passphraseCredential !== undefined)
    c.fail(['passphrase-credential'], 'give either passphrase-file or passphrase-credential, not both')
  const cert = c.string(top, [], 'cert', true)
  const trust = c.string(top, [], 'trust', true)
  const crl = c.list(top, [], 'crl').flatMap((v, i) => {
    if (typeof v === 'string' && v.length > 0) return [at(v)]
    c.fail(['crl', i], 'expected a CRL file path')
    return []
  })
  const allowMissingCrl = c.bool(top, [], 'allow-missing-crl')
  const policy = c.string(top, [], 'policy', true)
  const log = c.string(top, [], 'log', false)
  const logShip = c.string(top, [], 'log-ship', false)
  const runtimeDir = c.string(top, [], 'runtime-dir', false)
  const crlRefresh = c.int(top, [], 'crl-refresh', 0, 86_400, 300)
  const drainSeconds = c.int(top, [], 'drain-seconds', 0, 3600, DEFAULT_DRAIN_SECONDS)
  const logLevel = c.string(top, [], 'log-level', false)
  if (logLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(logLevel))
    c.fail(['log-level'], `expected error, warn, info or debug, got ${JSON.stringify(logLevel)}`)
  const shares = c.list(top, [], 'shares').map((v, i) => shareOf(c, v, ['shares', i], at))
  const proxies = c.list(top, [], 'proxies').map((v, i) => proxyOf(c, v, ['proxies', i]))
  const swarms = c.list(top, [], 'swarms').map((v, i) => swarmOf(c, v, ['swarms', i], at))
  checkUnique(c, shares, proxies, swarms)
  const workspace = workspaceOf(c, top.workspace, at)
  const enrollment = enrollmentOf(c, top.enrollment, at)
  if (shares.length === 0 && proxies.length === 0 && swarms.length === 0 && enrollment === undefined && c.findings.length === 0)
    c.fail(
      [],
      'the node serves nothing: add at least one entry under "shares", "proxies" or "swarms", or an "enrollment" section'
    )
  if (c.findings.length > 0) return { findings: c.findings }
  return {
    findings: [],
    config: {
      file: resolve(file),
      identity: at(identity as string),
      ...(passphraseFile === undefined ? {} : { passphraseFile: at(passphraseFile) }),
      ...(passphraseCredential === undefined ? {} : { passphraseCredential }),
      cert: at(cert as string),
      trust: at(trust as string),
      crl,
      allowMissingCrl,
      policy: at(policy as string),
      ...(log === undefined ? {} : { log: at(log) }),
      ...(logShip === undefined ? {} : { logShip: logShip === 'syslog' ? logShip : at(logShip) }),
      ...(runtimeDir === undefined ? {} : { runtimeDir: at(runtimeDir) }),
      crlRefresh,
      drainSeconds,
      ...(logLevel === undefined ? {} : { logLevel: logLevel as LogLevel }),
      shares: shares as ShareService[],
      proxies: proxies as ProxyService[],
      swarms: swarms as SwarmService[],
      ...(workspace === undefined ? {} : { workspace }),
      ...(enrollment === undefined ? {} : { enrollment })
    }
  }
}

/** Read and check a config file; throws NodeConfigError (node-config-invalid) with every finding. */
export async function loadNodeConfig(file: string): Promise<NodeConfig> {
  let text: string
  try {
    const bytes = await readFile(file)
    if (bytes.length > MAX_NODE_CONFIG_BYTES)
      throw new PeerguardError('invalid-argument', `${file}: the node config is larger than ${MAX_NODE_CONFIG_BYTES} bytes`)
    text = bytes.toString('utf8')
  } catch (err) {
    if (err instanceof PeerguardError) throw err
    const code = (err as NodeJS.ErrnoException).code
    throw new PeerguardError(code === 'ENOENT' ? 'not-found' : 'io-error', `${file}: cannot read the node config (${code})`, {
      cause: err
    })
  }
  const { config, findings } = checkNodeConfig(text, file)
  if (config === undefined) throw new NodeConfigError(findings)
  return config
}

/**
 * The keys whose change a running node cannot apply: everything but `drain-seconds` and `log-level` (the files
 * the config names — certificate, trust, CRLs, policy — reload live by content, not by name).
 */
export function restartKeys(running: NodeConfig, next: NodeConfig): string[] {
  const changed: string[] = []
  const a = running as unknown as Record<string, unknown>
  const b = next as unknown as Record<string, unknown>
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (k === 'drainSeconds' || k === 'logLevel' || k === 'file') continue
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) changed.push(k)
  }
  return changed
}
