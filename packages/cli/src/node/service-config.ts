/*
 * The service entries of a node config (`shares`, `proxies`, `swarms`): their keys, each entry
 * checked with located findings, and the uniqueness of names, services and listen ports.
 */
import { type ConfigChecker, formatPath, type Path } from './config-checker.js'

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

export const SHARE_KEYS = ['name', 'path', 'listen', 'max-ops']
export const PROXY_KEYS = ['service', 'listen', 'target', 'action', 'tls', 'proxy-protocol']
export const SWARM_KEYS = ['manifest', 'file', 'listen', 'max-upload']
const NAME = /^[A-Za-z0-9._-]{1,200}$/
export function shareOf(c: ConfigChecker, v: unknown, path: Path, at: (p: string) => string): ShareService | undefined {
  const o = c.object(v, path, SHARE_KEYS)
  if (o === undefined) return undefined
  const dir = c.string(o, path, 'path', true)
  const name = c.string(o, path, 'name', true, NAME)
  const listen = c.hostPort(o, path, 'listen', true)
  const maxOps = c.int(o, path, 'max-ops', 1, 10_000, 8)
  if (dir === undefined || name === undefined) return undefined
  return { name, path: at(dir), listen, maxOps }
}

export function proxyOf(c: ConfigChecker, v: unknown, path: Path): ProxyService | undefined {
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

export function swarmOf(c: ConfigChecker, v: unknown, path: Path, at: (p: string) => string): SwarmService | undefined {
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
export function checkUnique(
  c: ConfigChecker,
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
