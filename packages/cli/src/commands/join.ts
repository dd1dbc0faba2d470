/**
 * `peerguard join TOKEN`: enroll this machine with a one-time token from `peerguard ca token`
 * (issue #13). Makes the identity key, reaches the CA node's enrollment service (the address in
 * the token or --ca), proves the token over a channel whose server proved a certificate under the
 * token's root, and writes what a member needs plus a starter node config.
 */
import { mkdir, stat } from 'node:fs/promises'
import { isIPv4 } from 'node:net'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import { generateKeyPair, saveIdentity } from '@peerguard/identity'
import { InvalidArgumentError, isPeerguardError, PeerguardError, wipe, writeFileAtomic } from '@peerguard/interface'
import { pemEncode } from '@peerguard/pki'
import {
  BUNDLE_FILE,
  discoverEnrollment,
  type Enrolled,
  enroll,
  fromUnprovenServer,
  parseHostPort,
  parseToken
} from '@peerguard/workspace'
import type { CliIO } from '../io.js'
import { parseDuration, readLimited, readPassphraseFile, wantsJson } from '../common.js'

const FILES = {
  identity: 'identity.key',
  cert: 'cert.pem',
  trust: 'trust',
  root: 'trust/ca.pem',
  crl: 'trust/ca.crl',
  policy: 'policy.yaml',
  bundleDir: 'bundle',
  config: 'node.yaml'
} as const

/** The starter config: the member's files; services are the admin's to add. */
function starterConfig(hasPolicy: boolean, encrypted: boolean): string {
  return [
    '# peerguard node config written by `peerguard join` (schema: packages/cli/node.schema.json).',
    '# Add shares:, proxies: or swarms:, then run `peerguard node --config node.yaml`.',
    `identity: ${FILES.identity}`,
    ...(encrypted ? ['# passphrase-file: FILE   # the identity key is encrypted'] : []),
    `cert: ${FILES.cert}`,
    `trust: ${FILES.trust}/`,
    'crl: []',
    hasPolicy ? `policy: ${FILES.policy}` : '# policy: FILE   # the CA node handed out no policy',
    'log: decisions.jsonl',
    '# a node serves at least one share, proxy or swarm, e.g.:',
    '# shares:',
    '#   - name: docs',
    '#     path: /srv/docs',
    '#     listen: 0.0.0.0:4455',
    ''
  ].join('\n')
}

interface JoinFlags {
  ca?: string
  dir: string
  passphraseFile?: string
  discover: string
  enrollPort: string
  discoverTimeout: string
  tokenFile?: string
}

/** No address in the token or on the command line: look for the CA node among the workspace's announcers. */
async function discover(
  rootFingerprint: Uint8Array,
  opts: JoinFlags,
  io: CliIO,
  check: (candidate: { host: string; port: number }) => Promise<boolean>
): Promise<{ host: string; port: number }> {
  const listen = parseHostPort('--discover', opts.discover)
  const enrollPort = Number(opts.enrollPort)
  if (!/^\d{1,5}$/.test(opts.enrollPort) || enrollPort < 1 || enrollPort > 65535)
    throw new InvalidArgumentError(`--enroll-port: expected a TCP port 1..65535, got ${JSON.stringify(opts.enrollPort)}`)
  const timeoutMs = parseDuration('--discover-timeout', opts.discoverTimeout)
  const first = Number(listen.host.split('.')[0])
  const multicast = isIPv4(listen.host) && first >= 224 && first <= 239
  io.err(`peerguard: no CA address given: looking for the workspace's CA node (${opts.discover}, up to ${opts.discoverTimeout})`)
  const found = await discoverEnrollment({
    rootFingerprint,
    ...(multicast ? { multicast: { group: listen.host, port: listen.port } } : { udp: listen }),
    enrollPort,
    timeoutMs,
    check
  })
  return found
}

export function registerJoinCommand(program: Command, io: CliIO): void {
  program
    .command('join')
    .description('enroll this machine in a workspace with a one-time token from `peerguard ca token`')
    .argument('[token]', 'the pgjoin1-… token, or - to read it from stdin (on the command line it is visible in ps)')
    .option('--token-file <file>', 'read the token from the first line of FILE (instead of the argument)')
    .option('--ca <host:port>', "the CA node's enrollment service (default: the address in the token)")
    .option(
      '--discover <group:port>',
      "without an address: find the CA node by its workspace's announcements on this multicast GROUP:PORT (or unicast HOST:PORT to listen on)",
      '239.255.77.77:47177'
    )
    .option('--enroll-port <port>', "the enrollment service's TCP port on a discovered CA node", '47180')
    .option('--discover-timeout <duration>', 'how long to look for the CA node', '30s')
    .option('--dir <dir>', 'where to write the identity, certificate, trust, policy and node.yaml', 'peerguard')
    .option('--passphrase-file <file>', 'encrypt the new identity key with the first line of this file (recommended)')
    .option('--json', 'machine-readable output (JSON on stdout)')
    .addHelpText(
      'after',
      `
Writes into --dir (which must not hold an identity yet): identity.key, cert.pem (the issued
chain), trust/ca.pem and trust/ca.crl (root and CRL), policy.yaml and bundle/bundle.pgwb when the
CA node hands them out, and a starter node.yaml. The CA node is authenticated by the root
fingerprint in the token: any other server is refused (enroll-ca-mismatch) before the token's
secret leaves this machine.

Hand the token over on stdin (-) or in a file (--token-file): on the command line it is visible
to other local users (ps, /proc), who could redeem it first.

Examples:
  $ peerguard join - --dir /etc/peerguard --passphrase-file node.pass < token.txt
  $ peerguard join --token-file token.txt --dir /etc/peerguard --passphrase-file node.pass`
    )
    .action(async (text: string | undefined, opts: JoinFlags, cmd: Command) => {
      const token = parseToken(await tokenText(text, opts.tokenFile, io))
      const where = opts.ca ?? token.address
      const direct = where === undefined ? undefined : parseHostPort('--ca', where)
      const dir = resolve(opts.dir)
      const keyPath = join(dir, FILES.identity)
      if (
        await stat(keyPath).then(
          () => true,
          () => false
        )
      )
        throw new PeerguardError('already-exists', `${keyPath}: already exists; refusing to overwrite an identity`, {
          details: { hint: 'join into another --dir' }
        })
      const passphrase = opts.passphraseFile === undefined ? undefined : await readPassphraseFile(opts.passphraseFile)
      const identity = generateKeyPair()
      // found by announcements: whatever a server says before it proves itself may be an impostor's
      // (anyone who saw an announcement knows the workspace ID): try the next candidate
      let at = direct
      const discoverAndEnroll = async (): Promise<Enrolled> => {
        let got: Enrolled | undefined
        let unproven: unknown
        let proven: unknown
        const check = async (c: { host: string; port: number }): Promise<boolean> => {
          io.err(`peerguard: found a candidate at ${c.host}:${c.port} (checked against the token's root next)`)
          try {
            got = await enroll({ token, identity, host: c.host, port: c.port })
            at = c
            return true
          } catch (err) {
            if (!fromUnprovenServer(err)) {
              proven = err
              throw err
            }
            unproven = err
            io.err(
              `peerguard: warning: ${c.host}:${c.port} did not prove itself the workspace's CA node (${isPeerguardError(err) ? err.code : 'internal'}); still looking`
            )
            return false
          }
        }
        await discover(token.rootFingerprint, opts, io, check).catch((err: unknown) => {
          throw proven ?? unproven ?? err
        })
        return got as Enrolled
      }
      try {
        const got = direct === undefined ? await discoverAndEnroll() : await enroll({ token, identity, ...direct })
        await mkdir(join(dir, FILES.trust), { recursive: true, mode: 0o700 })
        await saveIdentity(keyPath, identity, passphrase === undefined ? {} : { passphrase })
        const leafAndIntermediates = got.chain.slice(0, -1)
        await writeFileAtomic(join(dir, FILES.cert), leafAndIntermediates.map((c) => pemEncode(c, 'CERTIFICATE')).join(''), {
          mode: 0o644
        })
        await writeFileAtomic(join(dir, FILES.root), pemEncode(got.root, 'CERTIFICATE'), { mode: 0o644 })
        if (got.crl !== undefined) await writeFileAtomic(join(dir, FILES.crl), pemEncode(got.crl, 'X509 CRL'), { mode: 0o644 })
        if (got.policy !== undefined) await writeFileAtomic(join(dir, FILES.policy), got.policy, { mode: 0o644 })
        if (got.bundle !== undefined) {
          await mkdir(join(dir, FILES.bundleDir), { recursive: true })
          await writeFileAtomic(join(dir, FILES.bundleDir, BUNDLE_FILE), got.bundle, { mode: 0o644 })
        }
        const config = join(dir, FILES.config)
        await writeFileAtomic(config, starterConfig(got.policy !== undefined, passphrase !== undefined), {
          mode: 0o644,
          exclusive: true
        }).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'EEXIST') throw err
          io.err(`peerguard: warning: ${config} exists; left as it is`)
        })
        if (wantsJson(cmd)) {
          io.json({
            name: got.name,
            groups: got.groups,
            peerId: got.peerId,
            caPeerId: got.caPeerId,
            dir,
            files: {
              identity: keyPath,
              cert: join(dir, FILES.cert),
              trust: join(dir, FILES.trust),
              policy: got.policy === undefined ? null : join(dir, FILES.policy),
              config
            }
          })
          return
        }
        io.out(`joined as ${got.name}${got.groups.length > 0 ? ` (groups: ${got.groups.join(', ')})` : ''}`)
        io.out(`  peer ID:   ${got.peerId}`)
        io.out(`  CA node:   ${got.caPeerId} at ${at?.host}:${at?.port}`)
        io.out(`  files:     ${dir} (node config: ${config})`)
        if (passphrase === undefined) io.err('peerguard: hint: use --passphrase-file FILE to encrypt the key at rest')
      } finally {
        wipe(identity.secretKey)
      }
    })
}

/** The token's text: from --token-file, stdin (`-`) or, with a warning, the command line. */
async function tokenText(arg: string | undefined, file: string | undefined, io: CliIO): Promise<string> {
  if (file !== undefined && arg !== undefined)
    throw new PeerguardError('usage', 'give the token either as an argument (or -) or with --token-file, not both')
  if (file !== undefined) return firstLine(await readLimited(file, 'token file', 4096))
  if (arg === undefined) throw new PeerguardError('usage', 'give the token: - (stdin), --token-file FILE, or the token itself')
  if (arg === '-') return readStdinLine()
  io.err(
    'peerguard: warning: a token on the command line is visible to other local users (ps) until it is redeemed; use - (stdin) or --token-file FILE'
  )
  return arg
}

const firstLine = (b: Buffer): string => b.toString('utf8').split('\n')[0] ?? ''

async function readStdinLine(): Promise<string> {
  const parts: Buffer[] = []
  let size = 0
  for await (const chunk of process.stdin) {
    size += (chunk as Buffer).length
    if (size > 4096) break
    parts.push(chunk as Buffer)
  }
  return firstLine(Buffer.concat(parts))
}
