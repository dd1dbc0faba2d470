import { dirname, isAbsolute, join } from 'node:path'
import type { Severity } from '@peerguard/interface'
import { AuditProfileError } from './errors.js'
import { DEFAULT_SEVERITY, SEVERITY_ORDER } from './findings.js'
import { readYamlFile } from './yaml-file.js'

/** An audit profile (`audits/*.yaml`): which detectors run, their severities, the inventory. */
export interface AuditProfile {
  name: string
  description?: string
  /** Finding codes reported; undefined = all. */
  detectors?: string[]
  severities: Record<string, Severity>
  /** Inventory file, resolved against the profile's directory. */
  inventory?: string
  /** Policy file, resolved against the profile's directory. */
  policy?: string
  flowByteBudget?: number
}

const KEYS = new Set(['name', 'description', 'detectors', 'disable', 'severities', 'inventory', 'policy', 'flowByteBudget'])

/** Validate a profile object; `base` resolves relative file names. */
export function profileFromObject(value: unknown, file = 'profile', base = '.'): AuditProfile {
  const fail = (msg: string): never => {
    throw new AuditProfileError(`${file}: ${msg}`, { details: { file } })
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return fail('expected a mapping')
  const v = value as Record<string, unknown>
  for (const k of Object.keys(v)) if (!KEYS.has(k)) fail(`unknown key \`${k}\` (expected one of ${[...KEYS].join(', ')})`)
  if (typeof v.name !== 'string' || v.name === '') fail('`name` must be a non-empty string')
  const codes = (list: unknown, key: string): string[] => {
    if (!Array.isArray(list)) return fail(`\`${key}\` must be a list of finding codes or "all"`)
    for (const c of list)
      if (typeof c !== 'string' || DEFAULT_SEVERITY[c] === undefined)
        fail(`\`${key}\`: unknown finding code ${JSON.stringify(c)}`)
    return list as string[]
  }
  let detectors: string[] | undefined
  if (v.detectors !== undefined && v.detectors !== 'all') detectors = codes(v.detectors, 'detectors')
  if (v.disable !== undefined) {
    const off = new Set(codes(v.disable, 'disable'))
    detectors = (detectors ?? Object.keys(DEFAULT_SEVERITY)).filter((c) => !off.has(c))
  }
  const severities: Record<string, Severity> = {}
  if (v.severities !== undefined) {
    if (v.severities === null || typeof v.severities !== 'object' || Array.isArray(v.severities))
      fail('`severities` must map finding codes to severities')
    for (const [c, s] of Object.entries(v.severities as Record<string, unknown>)) {
      if (DEFAULT_SEVERITY[c] === undefined) fail(`\`severities\`: unknown finding code ${JSON.stringify(c)}`)
      if (typeof s !== 'string' || !SEVERITY_ORDER.includes(s as Severity))
        fail(`\`severities.${c}\`: expected one of ${SEVERITY_ORDER.join(', ')}`)
      severities[c] = s as Severity
    }
  }
  const path = (key: string): string | undefined => {
    const p = v[key]
    if (p === undefined) return undefined
    if (typeof p !== 'string' || p === '') return fail(`\`${key}\` must be a file name`)
    return isAbsolute(p) ? p : join(base, p)
  }
  if (v.flowByteBudget !== undefined && (!Number.isInteger(v.flowByteBudget) || (v.flowByteBudget as number) < 1))
    fail('`flowByteBudget` must be a positive integer')
  if (v.description !== undefined && typeof v.description !== 'string') fail('`description` must be a string')
  const inventory = path('inventory')
  const policy = path('policy')
  return {
    name: v.name as string,
    ...(typeof v.description === 'string' ? { description: v.description } : {}),
    ...(detectors === undefined ? {} : { detectors }),
    severities,
    ...(inventory === undefined ? {} : { inventory }),
    ...(policy === undefined ? {} : { policy }),
    ...(v.flowByteBudget === undefined ? {} : { flowByteBudget: v.flowByteBudget as number })
  }
}

/** Load an audit profile from a YAML file. */
export function loadAuditProfile(path: string): AuditProfile {
  const value = readYamlFile(path, 'the profile', 'YAML', AuditProfileError)
  return profileFromObject(value, path, dirname(path))
}
