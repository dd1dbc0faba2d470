import type { Command } from 'commander'
import { PeerguardError } from '@peerguard/interface'
import { type CliIO, terminalJson } from '../io.js'
import { readLimited, wantsJson } from '../common.js'
import { checkNodeConfig, loadNodeConfig, MAX_NODE_CONFIG_BYTES } from '../node/config.js'
import { askControl, type ControlServer, controlSocketPath, listenControl } from '../node/control.js'
import { type NodeHost, type NodeReloadResult, startNode } from '../node/host.js'
import { formatStatus, type NodeStatus } from '../node/status.js'
import { consoleLogFor, loggedIO } from '../console-log.js'
import { ServiceConsole } from '../service-console.js'

/** Extra time after `drain-seconds` before a stuck node is ended anyway (exit 1). */
const HARD_STOP_GRACE_MS = 10_000

/** The control socket a status/reload command talks to: --socket, or the config's, or the default. */
async function socketOf(opts: { socket?: string; config?: string }): Promise<string> {
  if (opts.socket !== undefined) return opts.socket
  if (opts.config !== undefined) return controlSocketPath((await loadNodeConfig(opts.config)).runtimeDir)
  return controlSocketPath()
}

/** `peerguard node --config FILE`: run every service of the config until SIGTERM or SIGINT. */
async function nodeRun(plainIO: CliIO, opts: { config?: string }, cmd: Command): Promise<void> {
  if (opts.config === undefined)
    throw new PeerguardError('usage', 'peerguard node needs --config FILE (or a subcommand: check, status, reload)')
  const config = await loadNodeConfig(opts.config)
  // the console log (service-console.ts): connections, refusals, reloads; stderr lines go through it
  const flags = cmd.optsWithGlobals()
  const svc = new ServiceConsole(consoleLogFor(plainIO, flags, config.logLevel))
  // log-level in the config reloads live unless --log-level or -v set it
  const levelFixed = flags.logLevel !== undefined || (flags.verbose ?? 0) > 0
  const io = loggedIO(plainIO, svc.log)
  const json = wantsJson(cmd)
  let host: NodeHost | undefined
  let stop: () => void = () => {}
  const stopped = new Promise<void>((r) => {
    stop = r
  })
  const onHup = (): void => void host?.reload('SIGHUP')
  process.on('SIGHUP', onHup)
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  let control: ControlServer | undefined
  try {
    // The control socket first: a second node on the same socket stops here, before binding ports.
    control = await listenControl(controlSocketPath(config.runtimeDir), async (what) => {
      if (host === undefined) throw new PeerguardError('node-control-unavailable', 'the node is starting')
      return what === 'status' ? host.status() : host.reload('request')
    })
    host = await startNode(config, io, svc)
    host.onLogLevel = (level) => {
      if (levelFixed) return
      svc.log.level = level ?? 'info'
      svc.log.event('info', 'reload', `log level ${svc.log.level}`, { what: 'log-level', code: 'ok' })
    }
    await host.watch()
    const status = host.status()
    for (const s of status.services) svc.started(`${s.kind}:${s.name}`, `listening on ${s.listening}`)
    if (json) io.out(terminalJson({ event: 'ready', control: control.path, ...status }, 0))
    else {
      for (const s of status.services) io.out(`${s.kind} ${s.name} listening on ${s.listening}`)
      io.out(`node ready (pid ${process.pid}); control socket ${control.path}; SIGHUP or \`peerguard node reload\` reloads`)
    }
    await stopped
    const hard = setTimeout(
      () => {
        io.err('peerguard: error: the node did not stop in time; exiting')
        process.exit(1)
      },
      config.drainSeconds * 1000 + HARD_STOP_GRACE_MS
    )
    hard.unref()
    if (!json) io.err('peerguard: stopping: no new connections; letting running operations finish')
    const drained = await host.stop()
    host = undefined
    clearTimeout(hard)
    if (!drained) io.err(`peerguard: warning: operations still running after ${config.drainSeconds} s were cut off`)
    svc.stopped(drained ? 'node stopped' : 'node stopped; operations cut off at the drain deadline')
    if (json) io.out(terminalJson({ event: 'stopped', drained }, 0))
    else io.out('node stopped')
  } finally {
    process.off('SIGHUP', onHup)
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
    await host?.stop().catch(() => {})
    await control?.close()
    svc.close()
  }
}

/** `peerguard node check FILE`: every located error, exit 3 when there is one. */
async function nodeCheck(io: CliIO, file: string, cmd: Command): Promise<void> {
  const text = (await readLimited(file, 'node config', MAX_NODE_CONFIG_BYTES)).toString('utf8')
  const { findings } = checkNodeConfig(text, file)
  if (wantsJson(cmd)) io.json({ file, ok: findings.length === 0, errors: findings.length, findings })
  else {
    for (const f of findings) io.out(`${f.file}:${f.line}:${f.column}: error: ${f.path}: ${f.message} [node-config-invalid]`)
    io.out(`${file}: ${findings.length === 0 ? 'OK' : `${findings.length} error${findings.length === 1 ? '' : 's'}`}`)
  }
  if (findings.length > 0) io.setExitCode(3)
}

/** `peerguard node …`: one service for shares, proxies and swarm seeds, its config check, status and reload. */
export function registerNodeCommands(program: Command, io: CliIO): void {
  const node = program
    .command('node')
    .description('run every share, proxy and swarm seed of one config file as one node; check it, ask its status, reload it')
    .option('--config <file>', 'the node config (YAML; see packages/cli/node.schema.json and examples/node.yaml)')
    .option('--json', 'machine-readable output (JSON Lines events on stdout)')
    .addHelpText(
      'after',
      `
SIGHUP (or \`peerguard node reload\`) re-reads the config and the certificate, trust, CRL and policy
files; a bad file keeps the one in force. Config keys other than drain-seconds need a restart (an
edit to them is refused: node-reload-refused). SIGTERM stops accepting, lets running operations
finish for drain-seconds (default 10), closes the decision log and exits.

Example:
  $ peerguard node check office-node.yaml
  $ peerguard node --config office-node.yaml
  $ peerguard node status --config office-node.yaml`
    )
    .action((opts: { config?: string }, cmd: Command) => nodeRun(io, opts, cmd))

  node
    .command('check')
    .description('validate a node config; every error with file:line:column (exit 3 when there is one)')
    .argument('<file>', 'the node config (YAML or JSON)')
    .option('--json', 'machine-readable output (JSON on stdout)')
    .action((file: string, _opts: unknown, cmd: Command) => nodeCheck(io, file, cmd))

  node
    .command('status')
    .description("the running node's services, listening addresses, connected peers (bytes, operations), CRLs and policy hash")
    .option('--socket <path>', 'the control socket (default: from --config, else $XDG_RUNTIME_DIR/peerguard/node.sock)')
    .option('--json', 'machine-readable output (JSON on stdout)')
    .action(async (opts: { socket?: string }, cmd: Command) => {
      const status = (await askControl(await socketOf(cmd.optsWithGlobals()), 'status')) as NodeStatus
      if (wantsJson(cmd)) io.json(status)
      else for (const line of formatStatus(status)) io.out(line)
      void opts
    })

  node
    .command('reload')
    .description('re-read the config and the files it names now (as SIGHUP does)')
    .option('--socket <path>', 'the control socket (default: from --config, else $XDG_RUNTIME_DIR/peerguard/node.sock)')
    .option('--json', 'machine-readable output (JSON on stdout)')
    .action(async (_opts: unknown, cmd: Command) => {
      const r = (await askControl(await socketOf(cmd.optsWithGlobals()), 'reload')) as NodeReloadResult
      if (wantsJson(cmd)) io.json(r)
      else {
        io.out(
          `reloaded; policy sha256 ${r.policySha256 ?? '(none)'}${r.policySha256Before === r.policySha256 ? ' (unchanged)' : ''}`
        )
        if (r.refused !== undefined) io.err(`peerguard: warning: config not applied (${r.refused.code}): ${r.refused.reason}`)
      }
      if (r.refused !== undefined) io.setExitCode(1)
    })
}
