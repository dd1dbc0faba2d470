import type { Command } from 'commander'
import type { CliIO } from '../io.js'
import { registerIdCommands } from './id.js'
import { registerCaCommands } from './ca.js'
import { registerCertCommands } from './cert.js'
import { registerPolicyCommands } from './policy.js'
import { registerAuditCommands } from './audit.js'
import { registerDemoCommands } from './demo.js'
import { registerShareCommands } from './share.js'
import { registerProxyCommands } from './proxy.js'
import { registerSwarmCommands } from './swarm.js'
import { registerNodeCommands } from './node.js'
import { registerWorkspaceCommands } from './workspace.js'
import { registerPeersCommand } from './peers.js'
import { registerJoinCommand } from './join.js'

/** Every noun of the `peerguard` command. One import and one call per noun. */
export function registerAll(program: Command, io: CliIO): void {
  registerIdCommands(program, io)
  registerCaCommands(program, io)
  registerCertCommands(program, io)
  registerPolicyCommands(program, io)
  registerAuditCommands(program, io)
  registerDemoCommands(program, io)
  registerShareCommands(program, io)
  registerProxyCommands(program, io)
  registerSwarmCommands(program, io)
  registerNodeCommands(program, io)
  registerWorkspaceCommands(program, io)
  registerPeersCommand(program, io)
  registerJoinCommand(program, io)
  void program
  void io
}
