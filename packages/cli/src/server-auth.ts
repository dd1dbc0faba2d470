/**
 * How the client commands (`share get/put/ls/…`, `swarm fetch`, `proxy client`) authenticate the
 * server beyond its certificate (SECURITY.md, "Which server answers"): by a pin (`--expect-peer`)
 * or, by default, by a known-peers file like SSH's known_hosts: the first server seen at an
 * address is recorded, a different one later is refused with `channel-known-peer-changed`.
 */
import { mkdir } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import type { Command } from 'commander'
import { KnownPeers } from '@peerguard/channel'
import { peerIdFromString } from '@peerguard/identity'
import { InvalidArgumentError, isPeerguardError, type PeerInfo, PeerguardError } from '@peerguard/interface'
import type { CliIO } from './io.js'

export interface ServerAuthFlags {
  /** `--expect-peer`: one peer ID, or several (swarm fetch). */
  expectPeer?: string | string[]
  /** The flag the pin came from, for error messages. Default `--expect-peer`. */
  pinFlag?: string
  /** `--known-peers FILE`. */
  knownPeers?: string
}

/** What a client holds the server to. */
export interface ServerAuth {
  /** Pinned peer IDs (`--expect-peer`); when set the known-peers file is not used. */
  readonly expectedPeerIds?: string[]
  /** The known-peers store otherwise. */
  readonly knownPeers?: KnownPeers
  /** Its file. */
  readonly file?: string
}

/** How the server that answered was accepted. */
export type ServerAcceptance = 'pinned' | 'known' | 'recorded'

/** `$XDG_CONFIG_HOME/peerguard/known-peers`, else `~/.config/peerguard/known-peers`. */
export function defaultKnownPeersFile(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME
  const base = xdg?.startsWith('/') === true ? xdg : join(env.HOME ?? homedir(), '.config')
  return join(base, 'peerguard', 'known-peers')
}

/** Help of `--known-peers FILE`. */
export const KNOWN_PEERS_HELP =
  'servers seen before, by address: the first one is recorded, a different one later is refused (default: ~/.config/peerguard/known-peers)'

/** Add `--expect-peer PEER-ID` and `--known-peers FILE` (a client that reaches one server). */
export function serverAuthOptions(cmd: Command): Command {
  return cmd
    .option('--expect-peer <peerId>', 'accept only a server with this peer ID (overrides --known-peers)')
    .option('--known-peers <file>', KNOWN_PEERS_HELP)
}

function pins(value: string | string[] | undefined, flag: string): string[] | undefined {
  if (value === undefined) return undefined
  const list = Array.isArray(value) ? value : [value]
  return list.map((p) => {
    try {
      return peerIdFromString(p).toString()
    } catch (err) {
      throw new InvalidArgumentError(`${flag}: ${(err as Error).message}`, { cause: err })
    }
  })
}

/** Read the flags: pins, or the known-peers file (its folder is created, mode 0700, for the first record). */
export async function loadServerAuth(flags: ServerAuthFlags): Promise<ServerAuth> {
  const expectedPeerIds = pins(flags.expectPeer, flags.pinFlag ?? '--expect-peer')
  if (expectedPeerIds !== undefined) return { expectedPeerIds }
  const file = flags.knownPeers ?? defaultKnownPeersFile()
  const knownPeers = await KnownPeers.load(file)
  await mkdir(dirname(file), { recursive: true, mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
    throw new PeerguardError('io-error', `${dirname(file)}: cannot create the known-peers folder (${err.code ?? err.message})`, {
      cause: err,
      details: { hint: 'pass --known-peers FILE in a writable folder, or --expect-peer PEER-ID' }
    })
  })
  return { knownPeers, file }
}

/** The known-peers entry name of a server: `<kind>@<host>:<port>` as the user wrote the address. */
export function serverEntryName(kind: 'share' | 'swarm' | 'proxy', host: string, port: number): string {
  return `${kind}@${host.includes(':') ? `[${host}]` : host}:${port}`
}

/** Note before connecting which entries exist, to tell `known` from `recorded` after. */
export function acceptanceOf(auth: ServerAuth): (name: string) => ServerAcceptance {
  if (auth.expectedPeerIds !== undefined) return () => 'pinned'
  const before = new Set((auth.knownPeers?.entries() ?? []).map(([name]) => name))
  return (name) => (before.has(name) ? 'known' : 'recorded')
}

/** The `server` object of `--json` output. */
export function serverJson(
  peer: PeerInfo,
  address: string,
  how: ServerAcceptance
): { name?: string; peerId: string; address: string; accepted: ServerAcceptance } {
  return { ...(peer.name === undefined ? {} : { name: peer.name }), peerId: peer.peerId, address, accepted: how }
}

/** Say on stderr who answered, and when it was recorded for the first time. */
export function reportServer(io: CliIO, auth: ServerAuth, peer: PeerInfo, address: string, how: ServerAcceptance): void {
  const who = `${peer.name ?? '(no certificate name)'} (${peer.peerId})`
  const note =
    how === 'pinned'
      ? 'pinned by --expect-peer'
      : how === 'known'
        ? `known in ${auth.file}`
        : `first use: recorded in ${auth.file}; a different server at this address will be refused`
  io.err(`peerguard: server ${address}: ${who}, ${note}`)
}

/**
 * A refusal of the server, with a hint on what to do. `channel-known-peer-changed` means a
 * different (certified) server answers at the address: possibly an impostor.
 */
export function explainServerRefusal(err: unknown, auth: ServerAuth, address: string): unknown {
  if (!isPeerguardError(err) || err.code !== 'channel-known-peer-changed' || auth.file === undefined) return err
  const d = (err.details ?? {}) as Record<string, unknown>
  const actual = typeof d.actualName === 'string' ? `${String(d.actual)} (${d.actualName})` : String(d.actual)
  return new PeerguardError(
    'channel-known-peer-changed',
    `the server at ${address} is not the one recorded in ${auth.file}: expected ${String(d.expected)}, got ${actual}; no data was sent`,
    {
      cause: err,
      details: {
        ...d,
        hint: `if the server was replaced on purpose, delete the line "${String(d.name)}" from ${auth.file} (or pass --expect-peer ${String(d.actual)}); otherwise someone else answers at this address`
      }
    }
  )
}
