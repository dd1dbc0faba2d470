import type { Command } from 'commander'
import type { CliIO } from '../io.js'

/** Every noun of the `peerguard` command. One import and one call per noun. */
export function registerAll(program: Command, io: CliIO): void {
  void program
  void io
}
