import { basename } from 'node:path'
import cliProgress from 'cli-progress'
import { type Command, Option } from 'commander'
import { PeerguardError } from '@peerguard/interface'
import {
  channelTransport,
  connectShare,
  parseShareAddress,
  plainTransport,
  type Progress,
  type ShareClient,
  type ShareTransport
} from '@peerguard/share'
import type { CliIO } from '../io.js'
import {
  acceptanceOf,
  explainServerRefusal,
  loadServerAuth,
  reportServer,
  type ServerAuth,
  serverAuthOptions,
  serverEntryName,
  serverJson
} from '../server-auth.js'
import { openKey, type PassphraseFlags } from '../passphrase.js'
import { crlOptions, loadTrust, readCertificates, type TrustFlags, wantsJson } from '../common.js'
import { resolvePeer } from './peers.js'

/** The credential flags of `share` (client and server): hardened with all of identity, cert and trust. */
export interface CredentialOptions extends Partial<TrustFlags>, PassphraseFlags {
  identity?: string
  cert?: string
  expectPeer?: string
  knownPeers?: string
}

/** Hardened when --identity, --cert and --trust are all given; plain when none is. */
async function transportFrom(
  opts: CredentialOptions,
  io: CliIO,
  side: 'server' | 'client',
  server?: { auth: ServerAuth; name: string }
): Promise<ShareTransport> {
  const given = [opts.identity, opts.cert, opts.trust].filter((v) => v !== undefined).length
  if (given === 0) {
    if (side === 'client')
      io.err('peerguard: warning: plain mode: no authentication and no encryption (pass --identity, --cert and --trust)')
    return plainTransport()
  }
  if (given !== 3) {
    throw new PeerguardError('usage', 'hardened mode needs all of --identity, --cert and --trust', {
      details: { hint: 'give all three, or none of them for the plain (unprotected) mode' }
    })
  }
  const identity = await openKey(opts.identity as string, opts, io)
  const chain = await readCertificates(opts.cert as string)
  const { trust } = await loadTrust({ ...opts, trust: opts.trust as string }, io, { chain })
  const auth = server?.auth
  return channelTransport({
    identity,
    chain,
    trust,
    ...(auth?.expectedPeerIds === undefined ? {} : { expectedPeerId: auth.expectedPeerIds }),
    ...(auth?.knownPeers === undefined ? {} : { knownPeers: { store: auth.knownPeers, name: server?.name } })
  })
}

function credentialOptions(cmd: Command): Command {
  return serverAuthOptions(
    crlOptions(
      cmd
        .option('--identity <key>', 'your identity key file (hardened mode)')
        .option('--cert <cert>', 'your certificate chain, PEM (hardened mode)')
        .option('--trust <root>', 'the LAN CA root certificate (file or directory) to verify the server')
    )
  )
    .option('--passphrase-file <file>', 'passphrase of the identity key (first line)')
    .option('--passphrase-credential <name>', 'passphrase of the identity key from systemd credential NAME')
    .option('--json', 'machine-readable output (JSON on stdout)')
}

/**
 * Connect, say who answered (stderr), run `fn`. Returns its value and, in hardened mode, the
 * server for `--json` output.
 */
async function withClient<T>(
  address: string,
  opts: CredentialOptions,
  io: CliIO,
  fn: (c: ShareClient) => Promise<T>
): Promise<{ value: T; server?: ReturnType<typeof serverJson> }> {
  // a workspace member's name or peer ID (peers.ts) becomes its address, and its peer ID is pinned
  const resolved = await resolvePeer(address, 'share')
  const target = parseShareAddress(resolved.address) // a bad address is a usage error before any warning
  const hardened = opts.identity !== undefined || opts.cert !== undefined || opts.trust !== undefined
  const given = hardened ? await loadServerAuth(opts) : undefined
  const auth =
    given === undefined || resolved.peerId === undefined || given.expectedPeerIds !== undefined
      ? given
      : { ...given, expectedPeerIds: [resolved.peerId] }
  const name = serverEntryName('share', target.host, target.port)
  const transport = await transportFrom(opts, io, 'client', auth === undefined ? undefined : { auth, name })
  const how = auth === undefined ? undefined : acceptanceOf(auth)
  let client: ShareClient
  try {
    client = await connectShare(target, { transport })
  } catch (err) {
    throw auth === undefined ? err : explainServerRefusal(err, auth, address)
  }
  let server: ReturnType<typeof serverJson> | undefined
  if (auth !== undefined && how !== undefined && client.remotePeer !== undefined) {
    reportServer(io, auth, client.remotePeer, address, how(name))
    server = serverJson(client.remotePeer, address, how(name))
  }
  try {
    const value = await fn(client)
    return server === undefined ? { value } : { value, server }
  } finally {
    client.close()
  }
}

function progressBar(io: CliIO, json: boolean, label: string): { update(p: Progress): void; stop(): void } {
  if (!io.isTTY || json) return { update() {}, stop() {} }
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}% {value}/{total} bytes {speed}`, hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic
  )
  const started = Date.now()
  let begun = false
  return {
    update(p) {
      if (!begun) {
        bar.start(p.total, 0, { speed: '' })
        begun = true
      }
      const secs = (Date.now() - started) / 1000
      bar.update(p.transferred, { speed: secs > 0 ? `${(p.transferred / secs / 1e6).toFixed(1)} MB/s` : '' })
    },
    stop() {
      if (begun) bar.stop()
    }
  }
}

/** `share ls|get|put|rm|mv|mkdir`: the client subcommands, each with the credential flags. */
export function registerShareClientCommands(share: Command, io: CliIO): void {
  credentialOptions(
    share
      .command('ls')
      .description('list a folder of a share')
      .argument('<addr>', 'HOST:PORT, or a workspace member: NAME or PEER-ID[/SHARE]')
      .argument('[path]', 'folder in the share', '')
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ peerguard share ls 127.0.0.1:4455 public --identity bob.key --cert bob.pem --trust ca.pem --crl ca.crl'
    )
    .action((addr, path, opts, cmd) => shareLs(io, addr, path, opts, cmd))

  credentialOptions(
    share
      .command('get')
      .description('download a file (resumable)')
      .argument('<addr>', 'HOST:PORT, or a workspace member: NAME or PEER-ID[/SHARE]')
      .argument('<path>', 'file in the share')
      .argument('[local]', 'local file (default: the remote name in the current folder)')
      .option('--resume', 'continue an interrupted download (<local>.pgpart)')
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ peerguard share get 127.0.0.1:4455 public/notice.txt notice.txt --identity bob.key --cert bob.pem --trust ca.pem --crl ca.crl'
    )
    .action((addr, path, local, opts, cmd) => shareGet(io, addr, path, local, opts, cmd))

  credentialOptions(
    share
      .command('put')
      .description('upload a file (atomic: the server keeps the old content unless the whole upload verifies)')
      .argument('<addr>', 'HOST:PORT, or a workspace member: NAME or PEER-ID[/SHARE]')
      .argument('<local>', 'local file')
      .argument('[path]', 'destination in the share (default: the local name)')
      .addOption(
        new Option('--mode <mode>', 'create (fail if it exists), overwrite or append')
          .choices(['create', 'overwrite', 'append'])
          .default('overwrite')
      )
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ peerguard share put 127.0.0.1:4455 plan.txt docs/plan.txt --identity alice.key --cert alice.pem --trust ca.pem --crl ca.crl'
    )
    .action((addr, local, path, opts, cmd) => sharePut(io, addr, local, path, opts, cmd))

  credentialOptions(
    share
      .command('rm')
      .description('delete a file or an empty folder')
      .argument('<addr>', 'HOST:PORT, or a workspace member: NAME or PEER-ID[/SHARE]')
      .argument('<path>', 'path in the share')
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ peerguard share rm 127.0.0.1:4455 docs/old.txt --identity alice.key --cert alice.pem --trust ca.pem --crl ca.crl'
    )
    .action((addr, path, opts, cmd) => shareRm(io, addr, path, opts, cmd))

  credentialOptions(
    share
      .command('mv')
      .description('rename or move inside the share')
      .argument('<addr>', 'HOST:PORT, or a workspace member: NAME or PEER-ID[/SHARE]')
      .argument('<from>', 'path in the share')
      .argument('<to>', 'new path in the share')
      .option('--overwrite', 'replace an existing destination')
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ peerguard share mv 127.0.0.1:4455 docs/draft.txt docs/final.txt --identity alice.key --cert alice.pem --trust ca.pem --crl ca.crl'
    )
    .action((addr, from, to, opts, cmd) => shareMv(io, addr, from, to, opts, cmd))

  credentialOptions(
    share
      .command('mkdir')
      .description('create a folder')
      .argument('<addr>', 'HOST:PORT, or a workspace member: NAME or PEER-ID[/SHARE]')
      .argument('<path>', 'path in the share')
      .option('-p, --parents', 'create missing parents')
  )
    .addHelpText(
      'after',
      '\nExample:\n  $ peerguard share mkdir 127.0.0.1:4455 docs/2026 --identity alice.key --cert alice.pem --trust ca.pem --crl ca.crl'
    )
    .action((addr, path, opts, cmd) => shareMkdir(io, addr, path, opts, cmd))
}

/** `share ls`: list a folder of a share. */
async function shareLs(io: CliIO, addr: string, path: string, opts: CredentialOptions, cmd: Command): Promise<void> {
  const {
    value: { entries, truncated },
    server
  } = await withClient(addr, opts, io, (c) => c.list(path))
  if (wantsJson(cmd)) return io.json({ path, entries, truncated, ...(server === undefined ? {} : { server }) })
  for (const e of entries)
    io.out(
      `${e.type === 'dir' ? 'd' : e.type === 'file' ? '-' : 'l'} ${String(e.size).padStart(12)}  ${new Date(e.mtimeMs).toISOString().slice(0, 19)}  ${e.name}${e.type === 'dir' ? '/' : ''}`
    )
  if (truncated) io.err('peerguard: warning: listing truncated at 10000 entries')
}

/** `share get`: download a file (resumable), with a progress bar on a terminal. */
async function shareGet(
  io: CliIO,
  addr: string,
  path: string,
  local: string | undefined,
  opts: CredentialOptions & { resume?: boolean },
  cmd: Command
): Promise<void> {
  const target = local ?? basename(path)
  const json = wantsJson(cmd)
  const bar = progressBar(io, json, basename(path))
  try {
    const { value: r, server } = await withClient(addr, opts, io, (c) =>
      c.download(path, target, { resume: opts.resume === true, onProgress: (p) => bar.update(p) })
    )
    bar.stop()
    if (json)
      io.json({
        path,
        local: target,
        size: r.size,
        ...(r.sha256 === undefined ? {} : { sha256: r.sha256 }),
        resumedFrom: r.resumedFrom,
        ...(server === undefined ? {} : { server })
      })
    else
      io.out(
        `${target}: ${r.size} bytes${r.sha256 === undefined ? ' (authenticated channel)' : `, sha256 ${r.sha256}`}${r.resumedFrom > 0 ? ` (resumed at ${r.resumedFrom})` : ''}`
      )
  } finally {
    bar.stop()
  }
}

/** `share put`: upload a file (atomic on the server). */
async function sharePut(
  io: CliIO,
  addr: string,
  local: string,
  path: string | undefined,
  opts: CredentialOptions & { mode: 'create' | 'overwrite' | 'append' },
  cmd: Command
): Promise<void> {
  const dest = path ?? basename(local)
  const json = wantsJson(cmd)
  const bar = progressBar(io, json, basename(local))
  try {
    const { value: r, server } = await withClient(addr, opts, io, (c) =>
      c.upload(local, dest, { mode: opts.mode, onProgress: (p) => bar.update(p) })
    )
    bar.stop()
    if (json) io.json({ path: dest, size: r.size, sha256: r.sha256, ...(server === undefined ? {} : { server }) })
    else io.out(`${dest}: ${r.size} bytes, sha256 ${r.sha256}`)
  } finally {
    bar.stop()
  }
}

/** `share rm`: delete a file or an empty folder. */
async function shareRm(io: CliIO, addr: string, path: string, opts: CredentialOptions, cmd: Command): Promise<void> {
  const { server } = await withClient(addr, opts, io, (c) => c.delete(path))
  if (wantsJson(cmd)) io.json({ deleted: path, ...(server === undefined ? {} : { server }) })
  else io.out(`deleted ${path}`)
}

/** `share mv`: rename or move inside the share. */
async function shareMv(
  io: CliIO,
  addr: string,
  from: string,
  to: string,
  opts: CredentialOptions & { overwrite?: boolean },
  cmd: Command
): Promise<void> {
  const { server } = await withClient(addr, opts, io, (c) => c.rename(from, to, { overwrite: opts.overwrite === true }))
  if (wantsJson(cmd)) io.json({ renamed: { from, to }, ...(server === undefined ? {} : { server }) })
  else io.out(`renamed ${from} -> ${to}`)
}

/** `share mkdir`: create a folder. */
async function shareMkdir(
  io: CliIO,
  addr: string,
  path: string,
  opts: CredentialOptions & { parents?: boolean },
  cmd: Command
): Promise<void> {
  const { server } = await withClient(addr, opts, io, (c) => c.mkdir(path, { parents: opts.parents === true }))
  if (wantsJson(cmd)) io.json({ created: path, ...(server === undefined ? {} : { server }) })
  else io.out(`created ${path}`)
}
