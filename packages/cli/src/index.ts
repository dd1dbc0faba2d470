/**
 * @packageDocumentation
 * The `peerguard` command line, the composition root of the peerguard packages.
 *
 * @example
 * ```ts
 * import { run, bufferedIO } from '@peerguard/cli'
 * const io = bufferedIO()
 * const code = await run(['id', 'show', 'alice.key', '--json'], io)
 * ```
 */
export { createProgram, run } from './program.js'
export { bufferedIO, processIO } from './io.js'
export type { BufferedIO, CliIO } from './io.js'
