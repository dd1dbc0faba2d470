/**
 * The `workspace:` section of a node config: whether the node joins its CA's workspace, where
 * it announces (multicast group, unicast peers), its workspace service address, the announcement
 * interval, where the bundle is kept, and whether a bundle's policy replaces the node's policy file.
 */

import type { ConfigChecker as Checker } from './config-checker.js'

/** The checked `workspace:` section, paths absolute. */
export interface WorkspaceConfig {
  readonly enable: boolean
  readonly multicast: { host: string; port: number } | undefined
  /** IPv4 address of the interface to announce on (default: the system's choice). */
  readonly interface: string | undefined
  /** TCP address of the workspace service (bundle fetch over a peerguard channel). */
  readonly listen: { host: string; port: number }
  /** Unicast announcement targets (UDP HOST:PORT), for LANs without multicast. */
  readonly peers: ReadonlyArray<{ host: string; port: number }>
  /** UDP port to listen on when there is no multicast group. */
  readonly udpPort: number
  readonly announceIntervalMs: number
  readonly bundleDir: string
  readonly applyPolicy: boolean
}

export const WORKSPACE_KEYS = [
  'enable',
  'multicast',
  'interface',
  'listen',
  'peers',
  'udp-port',
  'announce-interval-ms',
  'bundle-dir',
  'apply-policy'
]
export const DEFAULT_MULTICAST = '239.255.77.77:47177'

const HOST_PORT = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/

/** Check the `workspace:` value (undefined when the section is absent). */
export function workspaceOf(c: Checker, value: unknown, at: (p: string) => string): WorkspaceConfig | undefined {
  if (value === undefined || value === null) return undefined
  const path = ['workspace']
  const o = c.object(value, path, WORKSPACE_KEYS)
  if (o === undefined) return undefined
  const enable = o.enable === undefined ? true : o.enable === true
  if (o.enable !== undefined && typeof o.enable !== 'boolean') c.fail([...path, 'enable'], 'expected true or false')
  const applyPolicy = o['apply-policy'] === undefined ? true : o['apply-policy'] === true
  if (o['apply-policy'] !== undefined && typeof o['apply-policy'] !== 'boolean')
    c.fail([...path, 'apply-policy'], 'expected true or false')
  const multicast =
    o.multicast === false ? undefined : c.hostPort({ multicast: o.multicast ?? DEFAULT_MULTICAST }, path, 'multicast', false)
  const iface = c.string(o, path, 'interface', false)
  const listen = o.listen === undefined ? { host: '0.0.0.0', port: 47178 } : c.hostPort(o, path, 'listen', true)
  const peers = c.list(o, path, 'peers').flatMap((v, i) => {
    const m = typeof v === 'string' ? HOST_PORT.exec(v) : null
    const port = m === null ? 0 : Number(m[3])
    if (m === null || port < 1 || port > 65535) {
      c.fail([...path, 'peers', i], 'expected a UDP HOST:PORT (port 1..65535)')
      return []
    }
    return [{ host: (m[1] ?? m[2]) as string, port }]
  })
  const udpPort = c.int(o, path, 'udp-port', 0, 65535, 0)
  const announceIntervalMs = c.int(o, path, 'announce-interval-ms', 50, 3_600_000, 5000)
  const bundleDir = at(c.string(o, path, 'bundle-dir', false) ?? 'workspace')
  return {
    enable,
    multicast,
    interface: iface,
    listen,
    peers,
    udpPort,
    announceIntervalMs,
    bundleDir,
    applyPolicy
  }
}
