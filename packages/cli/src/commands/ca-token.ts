/**
 * `peerguard ca token` (a one-time enrollment token, printed once) and `peerguard ca
 * serve-enrollment` (the CA node's enrollment service that redeems them), issue #13. The token
 * directory, codec and wire are `@peerguard/workspace`'s (its SPEC.md §6).
 */
import type { Command } from 'commander'
import { type DecisionLog, openDecisionLog } from '@peerguard/decision-log'
import { InvalidArgumentError } from '@peerguard/interface'
import { MAX_BUNDLE_BYTES, parseHostPort, rootFingerprintOf, TokenStore } from '@peerguard/workspace'
import { type CliIO, terminalJson } from '../io.js'
import { collect, parseDuration, parseListen, readCertificates, readKey, readLimited, wantsJson } from '../common.js'
import { ConsoleLog } from '../console-log.js'
import { RefusalGroups } from '../console-refusals.js'
import { caRootOf, type EnrollmentHost, startEnrollmentHost } from '../node/enrollment-node.js'
import { untilStopSignal } from '../stop-signal.js'

const DEFAULT_TTL = '15m'

function groupsOf(opts: { group: string[]; groups?: string }): string[] {
  const fromList = opts.groups === undefined ? [] : opts.groups.split(',').map((g) => g.trim())
  return [...opts.group, ...fromList].filter((g) => g.length > 0)
}

function positiveDays(value: string): number {
  if (!/^\d{1,4}$/.test(value) || Number(value) < 1 || Number(value) > 3650)
    throw new InvalidArgumentError(`--days: expected a whole number of days 1..3650, got ${JSON.stringify(value)}`)
  return Number(value)
}

export function registerCaTokenCommands(ca: Command, io: CliIO): void {
  ca.command('token')
    .description('make a one-time, short-lived enrollment token bound to a name and groups (printed once)')
    .requiredOption('--ca <dir>', 'the CA directory (no key or passphrase needed)')
    .requiredOption('--name <name>', 'the name (certificate CN) the new member gets')
    .option('--group <group>', 'a group (certificate OU) the new member gets; repeatable', collect, [])
    .option('--groups <list>', 'groups as a comma-separated list (g1,g2)')
    .option('--ttl <duration>', 'how long the token is valid: 90s, 15m, 2h (at most 1d)', DEFAULT_TTL)
    .option('--address <host:port>', "the CA node's enrollment service, carried in the token so `join` needs no --ca")
    .option('--json', 'machine-readable output (JSON on stdout)')
    .addHelpText(
      'after',
      `
The token is printed once and never stored: the CA directory keeps only the SHA-256 of its
secret, the name, groups and expiry (enroll-tokens/, mode 0600). It carries the fingerprint of
the root, so the joiner refuses any other CA. Redeem it with \`peerguard join TOKEN\` against
\`peerguard ca serve-enrollment\`. Single use: a second join with it is refused (enroll-token-used).

Example:
  $ peerguard ca token --ca lan-ca --name carol --groups family,printers --ttl 15m --address 192.168.1.2:47180`
    )
    .action(
      async (
        opts: { ca: string; name: string; group: string[]; groups?: string; ttl: string; address?: string },
        cmd: Command
      ) => {
        const ttlMs = parseDuration('--ttl', opts.ttl)
        if (opts.address !== undefined) parseHostPort('--address', opts.address)
        const root = await caRootOf(opts.ca)
        const made = await new TokenStore(opts.ca).create({
          name: opts.name,
          groups: groupsOf(opts),
          ttlMs,
          rootFingerprint: rootFingerprintOf(root),
          ...(opts.address === undefined ? {} : { address: opts.address })
        })
        if (wantsJson(cmd)) {
          io.json({ token: made.token, ...made.record })
          return
        }
        io.out(made.token)
        const g = made.record.groups
        io.err(
          `peerguard: token for ${made.record.name}${g.length > 0 ? ` (groups: ${g.join(', ')})` : ''}, single use, expires ${made.record.expiresAt}`
        )
      }
    )

  ca.command('serve-enrollment')
    .description('run the enrollment service: redeem `ca token` tokens from `peerguard join` (until SIGTERM)')
    .requiredOption('--ca <dir>', 'the CA directory')
    .option('--passphrase-file <file>', 'passphrase of the CA key')
    .requiredOption('--identity <keystore>', "this CA node's identity key")
    .option('--identity-passphrase-file <file>', "passphrase of this node's identity key")
    .requiredOption('--cert <file>', "this CA node's certificate chain (the joiner checks it against the token's root)")
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:47180')
    .option('--policy <file>', 'the policy file every new member receives')
    .option('--bundle <file>', 'the signed workspace bundle every new member receives (bundle.pgwb)')
    .option('--days <n>', 'lifetime of the issued certificates in days (default 30)')
    .option('--log <file>', 'append every enrollment and refusal to this decision log')
    .option('--json', 'machine-readable output (JSON lines on stdout)')
    .action(
      async (
        opts: {
          ca: string
          passphraseFile?: string
          identity: string
          identityPassphraseFile?: string
          cert: string
          listen: string
          policy?: string
          bundle?: string
          days?: string
          log?: string
        },
        cmd: Command
      ) => {
        const json = wantsJson(cmd)
        const listen = parseListen(opts.listen)
        const days = opts.days === undefined ? undefined : positiveDays(opts.days)
        const identity = await readKey(opts.identity, opts.identityPassphraseFile)
        const chain = await readCertificates(opts.cert)
        const { policy, bundle } = opts
        const log: DecisionLog | undefined =
          opts.log === undefined ? undefined : await openDecisionLog({ path: opts.log, identity })
        // a stranger's refusals: one line in full per address, then summaries (as under `peerguard node`)
        const refusals = new RefusalGroups(new ConsoleLog({ write: (l) => io.out(l), format: json ? 'json' : 'text' }))
        let host: EnrollmentHost
        try {
          host = await startEnrollmentHost({
            caDir: opts.ca,
            ...(opts.passphraseFile === undefined ? {} : { passphraseFile: opts.passphraseFile }),
            identity,
            chain,
            listen,
            ...(policy === undefined ? {} : { policy: async () => (await readLimited(policy, 'policy')).toString('utf8') }),
            ...(bundle === undefined
              ? {}
              : { bundle: async () => new Uint8Array(await readLimited(bundle, 'bundle', MAX_BUNDLE_BYTES)) }),
            ...(days === undefined ? {} : { days }),
            ...(log === undefined ? {} : { log }),
            io,
            json,
            refusals
          })
        } catch (err) {
          refusals.close()
          await log?.close()
          throw err
        }
        if (json) io.out(terminalJson({ event: 'listening', address: host.address }, 0))
        else io.out(`enrollment service on ${host.address} (CA ${opts.ca})`)
        await untilStopSignal()
        await host.close()
        refusals.close()
        await log?.close()
      }
    )
}
