import { isIP } from 'node:net'
import { AuditInventoryError } from './errors.js'
import { readYamlFile } from './yaml-file.js'

/** An enrolled peer and the addresses it uses on the LAN. */
export interface InventoryPeer {
  name: string
  peerId: string
  groups: string[]
  addresses: string[]
  /** The share this peer serves (`docs` → resources `share:docs/…`), when it serves one. */
  share?: string
  /** Runs a hardened peerguard node that writes decision logs. */
  hardened: boolean
}

/** The peers of the LAN mapped to addresses (kept in `audits/`). */
export interface Inventory {
  peers: InventoryPeer[]
  /** Addresses that are infrastructure, not peers (router, DHCP server): never `unknown-peer`. */
  ignore: string[]
}

const PEER_KEYS = new Set(['name', 'peerId', 'groups', 'addresses', 'share', 'hardened'])

/** Validate an inventory object (from YAML or JSON); throws AuditInventoryError naming the field. */
export function inventoryFromObject(value: unknown, file = 'inventory'): Inventory {
  const fail = (msg: string): never => {
    throw new AuditInventoryError(`${file}: ${msg}`, { details: { file } })
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return fail('expected a mapping with `peers`')
  const v = value as Record<string, unknown>
  for (const k of Object.keys(v)) if (k !== 'peers' && k !== 'ignore' && k !== 'description') fail(`unknown key \`${k}\``)
  if (!Array.isArray(v.peers)) return fail('`peers` must be a list')
  const peers = v.peers.map((p, i): InventoryPeer => {
    const at = `peers[${i}]`
    if (p === null || typeof p !== 'object' || Array.isArray(p)) return fail(`${at}: expected a mapping`)
    const o = p as Record<string, unknown>
    for (const k of Object.keys(o)) if (!PEER_KEYS.has(k)) fail(`${at}: unknown key \`${k}\``)
    if (typeof o.name !== 'string' || o.name === '') fail(`${at}.name: expected a non-empty string`)
    if (o.peerId !== undefined && typeof o.peerId !== 'string') fail(`${at}.peerId: expected a string`)
    if (!Array.isArray(o.addresses) || o.addresses.length === 0)
      fail(`${at}.addresses: expected a non-empty list of IP addresses`)
    const addresses = (o.addresses as unknown[]).map((a, j) => {
      if (typeof a !== 'string' || isIP(a) === 0)
        return fail(`${at}.addresses[${j}]: expected an IP address, got ${JSON.stringify(a)}`)
      return a.toLowerCase()
    })
    const groups = o.groups === undefined ? [] : o.groups
    if (!Array.isArray(groups) || groups.some((g) => typeof g !== 'string')) fail(`${at}.groups: expected a list of strings`)
    if (o.share !== undefined && (typeof o.share !== 'string' || o.share === '')) fail(`${at}.share: expected a share name`)
    if (o.hardened !== undefined && typeof o.hardened !== 'boolean') fail(`${at}.hardened: expected true or false`)
    return {
      name: o.name as string,
      peerId: (o.peerId as string | undefined) ?? `name:${o.name as string}`,
      groups: groups as string[],
      addresses,
      ...(o.share === undefined ? {} : { share: o.share as string }),
      hardened: o.hardened === true
    }
  })
  const ignore = v.ignore === undefined ? [] : v.ignore
  if (!Array.isArray(ignore) || ignore.some((a) => typeof a !== 'string' || isIP(a) === 0))
    fail('`ignore` must be a list of IP addresses')
  const seen = new Map<string, string>()
  for (const p of peers) {
    for (const a of p.addresses) {
      const other = seen.get(a)
      if (other !== undefined && other !== p.name) fail(`address ${a} belongs to both ${other} and ${p.name}`)
      seen.set(a, p.name)
    }
  }
  return { peers, ignore: (ignore as string[]).map((a) => a.toLowerCase()) }
}

/** Load an inventory from a YAML or JSON file. */
export function loadInventory(path: string): Inventory {
  const value = readYamlFile(path, 'the inventory', 'YAML or JSON', AuditInventoryError)
  return inventoryFromObject(value, path)
}

/** Multicast, broadcast, unspecified and loopback-free checks for `unknown-peer`. */
export function isUnicastHost(addr: string): boolean {
  if (addr.includes(':')) {
    const a = addr.toLowerCase()
    return !(a.startsWith('ff') || a === '::')
  }
  const first = Number(addr.split('.')[0])
  if (first >= 224) return false
  if (addr === '0.0.0.0' || addr.endsWith('.255')) return false
  return true
}
