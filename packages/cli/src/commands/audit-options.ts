/**
 * What `audit read`, `audit capture` and `audit replay` share: profile names, inventories,
 * policies and decision logs from the command line.
 */
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  type AuditProfile,
  type Inventory,
  loadAuditProfile,
  loadInventory,
  readDecisionLog,
  type VerifiedDecisionLog
} from '@peerguard/audit'
import { InvalidArgumentError } from '@peerguard/interface'

/** The audit profiles shipped with peerguard (`audits/` at the top of the repository). */
export const BUILTIN_PROFILES = fileURLToPath(new URL('../../../../audits/', import.meta.url))

/** Profile folders searched for a name, in order: the project's `./audits/`, then the shipped ones. */
function profileDirs(): string[] {
  return [join(process.cwd(), 'audits'), BUILTIN_PROFILES]
}

function profileNames(): string[] {
  const names = new Set<string>()
  for (const d of profileDirs()) {
    try {
      for (const f of readdirSync(d))
        if (/^[a-z0-9][a-z0-9_-]*\.yaml$/i.test(f) && !f.startsWith('inventory')) names.add(f.slice(0, -5))
    } catch {}
  }
  return [...names].sort()
}

/**
 * `--profile`: a NAME (letters, digits, `-`, `_`) is looked up as `audits/NAME.yaml` in the
 * working directory, then among the profiles shipped with peerguard — never as a file or folder
 * called NAME. Anything else (a `/`, a `.yaml`/`.yml`/`.json` suffix) is a file path.
 */
export function resolveProfile(value: string | undefined): AuditProfile | undefined {
  if (value === undefined) return undefined
  if (/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(value)) {
    for (const d of profileDirs()) {
      const file = join(d, `${value}.yaml`)
      if (existsSync(file) && statSync(file).isFile()) return loadAuditProfile(file)
    }
    throw new InvalidArgumentError(`--profile: no audit profile named ${JSON.stringify(value)}`, {
      details: { hint: `profiles: ${profileNames().join(', ') || 'none'} (or give a .yaml file)` }
    })
  }
  if (existsSync(value) && statSync(value).isDirectory())
    throw new InvalidArgumentError(`--profile: ${value} is a directory; give a profile name or a .yaml file`)
  return loadAuditProfile(value)
}

/** The inventory of `--inventory`, else the profile's. */
export function inventoryOf(path: string | undefined, profile: AuditProfile | undefined): Inventory | undefined {
  const p = path ?? profile?.inventory
  return p === undefined ? undefined : loadInventory(p)
}

/** Every `--decision-log`, read through the log's verifier (pinned to `--log-key` when given). */
export async function decisionLogsOf(
  files: string[] | undefined,
  key: string | undefined
): Promise<VerifiedDecisionLog[] | undefined> {
  if (files === undefined) return undefined
  const logs: VerifiedDecisionLog[] = []
  for (const f of files) logs.push(await readDecisionLog(f, key === undefined ? {} : { key }))
  return logs
}
