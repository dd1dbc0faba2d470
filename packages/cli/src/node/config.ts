/**
 * The configuration file of `peerguard node`: YAML (or JSON), described by `node.schema.json`.
 * Every error is located (file:line:column, the key path, what was expected) and all of them are
 * reported at once, like `policy lint`. Relative paths are relative to the file's directory.
 */
import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { PeerguardError } from '@peerguard/interface'
import { LineCounter, parseDocument } from 'yaml'
import { LOG_LEVELS, type LogLevel } from '../console-log.js'
import { ConfigChecker, type ConfigFinding } from './config-checker.js'
import {
  checkUnique,
  PROXY_KEYS,
  type ProxyService,
  proxyOf,
  SHARE_KEYS,
  type ShareService,
  SWARM_KEYS,
  type SwarmService,
  shareOf,
  swarmOf
} from './service-config.js'
import { type WorkspaceConfig, workspaceOf } from './workspace-config.js'
import { type EnrollmentConfig, enrollmentOf } from './enrollment-config.js'

/** A config file larger than this is surely the wrong file. */
export const MAX_NODE_CONFIG_BYTES = 1024 * 1024
/** Default of `drain-seconds`: how long SIGTERM lets running operations finish. */
export const DEFAULT_DRAIN_SECONDS = 10

export type { ConfigFinding } from './config-checker.js'
export type { ProxyService, ShareService, SwarmService } from './service-config.js'
export { PROXY_KEYS, SHARE_KEYS, SWARM_KEYS }

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
  const c = new ConfigChecker(file, doc, lines)
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
