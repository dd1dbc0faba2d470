/**
 * `peerguard peers`: who is up in the workspace and what they offer, as the local node sees it
 * (asked over its control socket). Members only, unless `--all` (then also the peers held as
 * unverified or revoked, with the code that keeps them out).
 */
import { PeerguardError } from '@peerguard/interface'
import type { Command } from 'commander'
import { wantsJson } from '../common.js'
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

export function formatPeers(ws: WorkspaceStatus, all: boolean): string[] {
  const rows = ws.peers.filter((p) => all || p.up)
  const lines = [`workspace ${ws.workspaceId}  bundle version ${ws.bundleVersion}  ${rows.length} peer(s)`]
  for (const p of rows) {
    const services = p.services.map((s) => `${s.kind}:${s.name}@${s.port}`).join(' ')
    const state = p.up ? 'up' : p.state === 'member' ? 'down' : `${p.state} (${p.code ?? '?'})`
    lines.push(`  ${p.name ?? '(unverified)'}  ${p.peerId}  ${state}  ${p.host ?? '-'}  v${p.bundleVersion}  ${services}`)
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
