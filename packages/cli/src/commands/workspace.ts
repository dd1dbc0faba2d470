/**
 * `peerguard workspace publish`: on the admin's machine, make the next signed bundle of the
 * workspace — the CA's current CRL and (optionally) a policy file, version + 1, signed with the
 * root CA key — and hand it to the admin's node (`--bundle-dir`: the node watches
 * `<bundle-dir>/publish.pgwb`, takes it and announces it; members fetch it within seconds) or
 * write it to a file (`--out`).
 */
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { InvalidArgumentError, PeerguardError, writeFileAtomic } from '@peerguard/interface'
import { openCaDirectory } from '@peerguard/pki'
import { MAX_POLICY_BYTES } from '@peerguard/policy'
import { MAX_BUNDLE_BYTES, parseBundle, readBundleFile, signBundle } from '@peerguard/workspace'
import type { Command } from 'commander'
import { passphraseOf, readLimited, wantsJson } from '../common.js'
import type { CliIO } from '../io.js'
import { PUBLISH_FILE } from '../node/workspace-node.js'

export interface PublishOptions {
  ca: string
  passphraseFile?: string
  policy?: string
  bundleDir?: string
  out?: string
  version?: string
}

/** The version after the newest bundle in `dir` (held or waiting to be taken); 1 when there is none. */
async function nextVersion(dir: string | undefined): Promise<number> {
  if (dir === undefined) return 1
  const held = await readBundleFile(dir)
  const pending = await readLimited(join(dir, PUBLISH_FILE), 'bundle', MAX_BUNDLE_BYTES).catch(() => undefined)
  let newest = held === undefined ? 0 : parseBundle(held).version
  if (pending !== undefined) newest = Math.max(newest, parseBundle(new Uint8Array(pending)).version)
  // one the node has claimed and is applying (`publish.pgwb.<random>.taking`) counts too
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith(`${PUBLISH_FILE}.`) || !name.endsWith('.taking')) continue
    try {
      const taking = await readLimited(join(dir, name), 'bundle', MAX_BUNDLE_BYTES)
      newest = Math.max(newest, parseBundle(new Uint8Array(taking)).version)
    } catch {
      // gone meanwhile (applied and removed), or damaged (the node refuses it)
    }
  }
  return newest + 1
}

/** Make, sign and write the next bundle; returns its version and where it went. */
export async function publishBundle(opts: PublishOptions): Promise<{ version: number; bytes: number; written: string[] }> {
  if (opts.bundleDir === undefined && opts.out === undefined)
    throw new PeerguardError('usage', 'workspace publish needs --bundle-dir DIR (the admin node) or --out FILE')
  let version: number
  if (opts.version !== undefined) {
    if (!/^[1-9][0-9]{0,14}$/.test(opts.version))
      throw new InvalidArgumentError(`--version: expected a whole number 1..999999999999999, got ${JSON.stringify(opts.version)}`)
    version = Number(opts.version)
  } else version = await nextVersion(opts.bundleDir)
  const ca = await openCaDirectory(opts.ca, await passphraseOf(opts.passphraseFile))
  const crl = (await ca.crl()).der
  const policy =
    opts.policy === undefined ? undefined : (await readLimited(opts.policy, 'policy file', MAX_POLICY_BYTES)).toString('utf8')
  const bytes = signBundle({ version, issuedAtMs: Date.now(), crls: [crl], ...(policy === undefined ? {} : { policy }) }, ca)
  const written: string[] = []
  if (opts.out !== undefined) {
    await writeFileAtomic(opts.out, bytes, { mode: 0o644 })
    written.push(opts.out)
  }
  if (opts.bundleDir !== undefined) {
    const path = join(opts.bundleDir, PUBLISH_FILE)
    await writeFileAtomic(path, bytes, { mode: 0o600 })
    written.push(path)
  }
  return { version, bytes: bytes.length, written }
}

export function registerWorkspaceCommands(program: Command, io: CliIO): void {
  const ws = program
    .command('workspace')
    .description("the CA's workspace: publish the signed CRL/policy bundle that spreads to every member")
  ws.command('publish')
    .description("sign the CA's current CRL (and a policy) as the next bundle; the admin's node spreads it")
    .requiredOption('--ca <dir>', 'the root CA directory (its key signs the bundle)')
    .option('--passphrase-file <file>', "the CA key's passphrase (first line)")
    .option('--policy <file>', 'a policy file every member applies (default: the bundle leaves policy as it is)')
    .option('--bundle-dir <dir>', "the admin node's workspace bundle-dir: the node takes the bundle from there")
    .option('--out <file>', 'also (or only) write the bundle to this file')
    .option('--version <n>', 'the bundle version (default: one more than the newest in --bundle-dir, else 1)')
    .option('--json', 'machine-readable output (JSON on stdout)')
    .action(async (opts: PublishOptions, cmd: Command) => {
      const r = await publishBundle(opts)
      if (wantsJson(cmd)) io.json(r)
      else io.out(`bundle version ${r.version} (${r.bytes} bytes) written to ${r.written.join(', ')}`)
    })
}
