/**
 * `peerguard ca token` (a one-time enrollment token, printed once) and `peerguard ca
 * serve-enrollment` (the CA node's enrollment service that redeems them), issue #13. The token
 * directory, codec and wire are `@peerguard/workspace`'s (its SPEC.md §6).
 */
import { stat } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import type { Command } from 'commander'
import { type DecisionLog, openDecisionLog } from '@peerguard/decision-log'
import { CA_FILES, openCaDirectory, readCaDirectory } from '@peerguard/pki'
import { type EnrollEvent, EnrollmentService, parseHostPort, rootFingerprintOf, TokenStore } from '@peerguard/workspace'
import type { CliIO } from '../io.js'
import {
  collect,
  parseDuration,
  parseListen,
  passphraseOf,
  readCertificates,
  readCrls,
  readKey,
  readLimited,
  wantsJson
} from '../common.js'

const DEFAULT_TTL = '15m'

/** The root the CA directory chains to: its own certificate, or the last of chain.pem for an intermediate. */
async function rootOf(dir: string): Promise<Uint8Array> {
  const { certificate, issuers } = await readCaDirectory(dir)
  return issuers.at(-1) ?? certificate.der
}

function groupsOf(opts: { group: string[]; groups?: string }): string[] {
  const fromList = opts.groups === undefined ? [] : opts.groups.split(',').map((g) => g.trim())
  return [...opts.group, ...fromList].filter((g) => g.length > 0)
}

/** The CA's current CRL (crl.pem), DER, when the directory has one. */
async function currentCrl(dir: string): Promise<Uint8Array | undefined> {
  const path = join(dir, CA_FILES.crl)
  if (
    !(await stat(path).then(
      () => true,
      () => false
    ))
  )
    return undefined
  return (await readCrls(path))[0]
}

function logRecord(e: EnrollEvent) {
  return {
    kind: 'operation' as const,
    allowed: e.outcome === 'enrolled',
    code: e.outcome === 'enrolled' ? 'allow' : e.code,
    reason: e.reason,
    peer: {
      ...(e.peerId === undefined ? {} : { peerId: e.peerId }),
      ...(e.name === undefined ? {} : { name: e.name }),
      ...(e.groups === undefined ? {} : { groups: e.groups }),
      ...(e.address === undefined ? {} : { address: e.address })
    },
    action: 'write',
    verb: 'enroll',
    resource: `enroll:${e.tokenId ?? 'unknown-token'}`
  }
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
        const root = await rootOf(opts.ca)
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
        const authority = await openCaDirectory(opts.ca, await passphraseOf(opts.passphraseFile))
        const identity = await readKey(opts.identity, opts.identityPassphraseFile)
        const chain = await readCertificates(opts.cert)
        const root = await rootOf(opts.ca)
        const policy = opts.policy === undefined ? undefined : (await readLimited(opts.policy, 'policy')).toString('utf8')
        const bundle =
          opts.bundle === undefined ? undefined : new Uint8Array(await readLimited(opts.bundle, 'bundle', 4 * 1024 * 1024))
        const days = opts.days === undefined ? undefined : Number.parseInt(opts.days, 10)
        const log: DecisionLog | undefined =
          opts.log === undefined ? undefined : await openDecisionLog({ path: opts.log, identity })
        let crl = await currentCrl(opts.ca)
        const tokens = new TokenStore(opts.ca)
        const service = new EnrollmentService({
          ca: authority,
          root,
          tokens,
          identity,
          chain,
          crl: () => crl,
          bundle: () => bundle,
          policy: () => policy,
          ...(days === undefined ? {} : { days }),
          onEvent: (e) => {
            if (json) io.out(JSON.stringify({ event: e.outcome, ...e }))
            else if (e.outcome === 'enrolled') io.out(`enrolled ${e.name} as ${e.peerId} (serial ${e.serial})`)
            else io.out(`refused ${e.address ?? 'a joiner'}: ${e.code}: ${e.reason}`)
            void log?.append(logRecord(e)).catch((err: Error) => io.err(`peerguard: warning: decision log: ${err.message}`))
            // a join changes nothing in the CRL; re-read it so a `ca revoke` meanwhile is handed out
            void currentCrl(opts.ca).then(
              (c) => (crl = c),
              () => undefined
            )
          }
        })
        // `ca token` runs without the node: a token filed since the last look is logged as issued
        const logged = new Set<string>()
        const logIssued = async (): Promise<void> => {
          for (const t of await tokens.list()) {
            if (logged.has(t.tokenId)) continue
            logged.add(t.tokenId)
            await log?.append({
              kind: 'operation',
              allowed: true,
              code: 'allow',
              reason: `token issued ${t.createdAt} for ${t.name}, expires ${t.expiresAt}${t.used ? ', already used' : ''}`,
              peer: { name: t.name, groups: t.groups },
              action: 'write',
              verb: 'token',
              resource: `enroll:${t.tokenId}`
            })
          }
        }
        await logIssued()
        const server = createServer((socket) => {
          void logIssued()
            .catch((err: Error) => io.err(`peerguard: warning: decision log: ${err.message}`))
            .then(() => service.handle(socket))
        })
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject)
          server.listen(listen.port, listen.host, resolve)
        })
        const bound = server.address()
        const addr = typeof bound === 'object' && bound !== null ? `${bound.address}:${bound.port}` : opts.listen
        if (json) io.out(JSON.stringify({ event: 'listening', address: addr }))
        else io.out(`enrollment service on ${addr} (CA ${opts.ca})`)
        await new Promise<void>((resolve) => {
          const stop = (): void => {
            process.off('SIGINT', stop)
            process.off('SIGTERM', stop)
            resolve()
          }
          process.on('SIGINT', stop)
          process.on('SIGTERM', stop)
        })
        await new Promise((resolve) => server.close(resolve))
        await log?.close()
      }
    )
}
