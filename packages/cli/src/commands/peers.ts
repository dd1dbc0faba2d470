/**
 * `peerguard peers`: who is up in the workspace and what they offer, as the local node sees it
 * (asked over its control socket). Members only, unless `--all` (then also the peers held as
 * unverified or revoked, with the code that keeps them out).
 */
import { InvalidArgumentError, isPeerguardError, PeerguardError } from '@peerguard/interface'
import type { ServiceKind } from '@peerguard/workspace'
import type { Command } from 'commander'
import { wantsJson } from '../common.js'
import { visible } from '../console-log.js'
import type { CliIO } from '../io.js'
import { loadNodeConfig } from '../node/config.js'
import { askControl, controlSocketPath } from '../node/control.js'
import type { NodeStatus } from '../node/status.js'
import type { WorkspaceStatus } from '../node/workspace-node.js'

async function socketPath(opts: { socket?: string; config?: string }): Promise<string> {
  if (opts.socket !== undefined) return opts.socket
  return controlSocketPath(opts.config === undefined ? undefined : (await loadNodeConfig(opts.config)).runtimeDir)
}

/** The local node's workspace status (`workspace-config-invalid` when the node has no `workspace:` section). */
export async function askPeers(opts: { socket?: string; config?: string }): Promise<WorkspaceStatus> {
  const status = (await askControl(await socketPath(opts), 'status')) as NodeStatus
  if (status.workspace === undefined)
    throw new PeerguardError('workspace-config-invalid', 'the node has no workspace: add a `workspace:` section to its config')
  return status.workspace
}

/**
 * A client's target: `HOST:PORT` as given, or `PEER[/SERVICE]` — a member's name or peer ID, and
 * optionally the service name when it offers several of `kind` — looked up in the local node's
 * peer table (default control socket). Returns the address and the member's peer ID, which the
 * client then pins: only that member may answer.
 */
export async function resolvePeer(target: string, kind: ServiceKind): Promise<{ address: string; peerId?: string }> {
  if (target.includes(':')) return { address: target } // HOST:PORT (checked by the caller)
  const [who, service] = target.split('/', 2) as [string, string | undefined]
  let ws: WorkspaceStatus
  try {
    ws = await askPeers({})
  } catch (err) {
    if (!isPeerguardError(err) || err.code !== 'node-control-unavailable') throw err
    throw new InvalidArgumentError(
      `address: expected HOST:PORT, or the name or peer ID of a workspace member (no local node answers to look it up), got ${JSON.stringify(target)}`
    )
  }
  const up = ws.peers.filter((p) => p.up && p.state === 'member')
  const byId = up.filter((p) => p.peerId.replaceAll('-', '') === who.toUpperCase().replaceAll('-', ''))
  const found = byId.length > 0 ? byId : up.filter((p) => p.name === who)
  if (found.length === 0)
    throw new PeerguardError('not-found', `${who}: no workspace member by that name or peer ID is up (see peerguard peers)`)
  if (found.length > 1)
    throw new PeerguardError('usage', `${who}: ${found.length} members have that name; give the peer ID (see peerguard peers)`)
  const peer = found[0] as (typeof found)[number]
  const offers = peer.services.filter((s) => s.kind === kind && (service === undefined || s.name === service))
  if (offers.length !== 1)
    throw new PeerguardError(
      offers.length === 0 ? 'not-found' : 'usage',
      offers.length === 0
        ? `${who} offers no ${kind}${service === undefined ? '' : ` named ${service}`}`
        : `${who} offers several ${kind}s: name one as ${who}/NAME`
    )
  const host = peer.host as string
  return {
    address: `${host.includes(':') ? `[${host}]` : host}:${(offers[0] as (typeof offers)[number]).port}`,
    peerId: peer.peerId
  }
}

export function formatPeers(ws: WorkspaceStatus, all: boolean): string[] {
  const rows = ws.peers.filter((p) => all || p.up)
  const lines = [`workspace ${ws.workspaceId}  bundle version ${ws.bundleVersion}  ${rows.length} peer(s)`]
  for (const p of rows) {
    const services = p.services.map((s) => `${s.kind}:${s.name}@${s.port}`).join(' ')
    const state = p.up ? 'up' : p.state === 'member' ? 'down' : `${p.state} (${p.code ?? '?'})`
    // service names are what a member announced, names from certificates: no terminal controls
    lines.push(
      visible(`  ${p.name ?? '(unverified)'}  ${p.peerId}  ${state}  ${p.host ?? '-'}  v${p.bundleVersion}  ${services}`)
    )
  }
  return lines
}

export function registerPeersCommand(program: Command, io: CliIO): void {
  program
    .command('peers')
    .description('the workspace members the local node sees: name, peer ID, address, services, bundle version')
    .option('--config <file>', 'the node config (finds its control socket)')
    .option('--socket <path>', 'the control socket (default: $XDG_RUNTIME_DIR/peerguard/node.sock)')
    .option('--all', 'also peers held as unverified or revoked, with the code that keeps them out')
    .option('--json', 'machine-readable output (JSON on stdout)')
    .action(async (opts: { config?: string; socket?: string; all?: boolean }, cmd: Command) => {
      const ws = await askPeers(opts)
      if (wantsJson(cmd)) io.json(opts.all === true ? ws : { ...ws, peers: ws.peers.filter((p) => p.up) })
      else for (const line of formatPeers(ws, opts.all === true)) io.out(line)
    })
}
