/**
 * The CA node's enrollment service, as `peerguard node` runs it from its `enrollment:` section and
 * `peerguard ca serve-enrollment` runs it alone: a TCP listener redeeming `ca token` tokens with
 * `@peerguard/workspace`'s EnrollmentService, every outcome (and every token seen filed) in the
 * decision log and on the console.
 */
import { stat } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { type DecisionLog, RefusalSummarizer } from '@peerguard/decision-log'
import type { KeyPair } from '@peerguard/identity'
import { CA_FILES, openCaDirectory, readCaDirectory } from '@peerguard/pki'
import { type EnrollEvent, EnrollmentService, type TokenRecord, TokenStore } from '@peerguard/workspace'
import type { RefusalGroups } from '../console-refusals.js'
import { type CliIO, terminalJson } from '../io.js'
import { passphraseOf, readCrls } from '../common.js'
import { hostOfAddress } from '@peerguard/interface'

/** The root a CA directory chains to: its own certificate, or the last of chain.pem for an intermediate. */
export async function caRootOf(dir: string): Promise<Uint8Array> {
  const { certificate, issuers } = await readCaDirectory(dir)
  return issuers.at(-1) ?? certificate.der
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

/** Refusals naming a filed token written in full (the first per token and code), at most. */
const MAX_NAMED_REFUSALS = 4096

function logRecord(e: EnrollEvent) {
  // the token's name and groups are the peer's only once it proved the token's secret: a stranger
  // who merely named the token ID is not logged as that member (the name goes to the reason)
  const holder = e.outcome === 'enrolled' || e.proven === true
  return {
    kind: 'operation' as const,
    allowed: e.outcome === 'enrolled',
    code: e.outcome === 'enrolled' ? 'allow' : e.code,
    reason: holder || e.name === undefined ? e.reason : `${e.reason} (a token for ${e.name}, its secret not proved)`,
    peer: {
      ...(e.peerId === undefined ? {} : { peerId: e.peerId }),
      ...(e.name === undefined || !holder ? {} : { name: e.name }),
      ...(e.groups === undefined || !holder ? {} : { groups: e.groups }),
      ...(e.address === undefined ? {} : { address: e.address })
    },
    action: 'write',
    verb: 'enroll',
    resource: `enroll:${e.tokenId ?? 'unknown-token'}`
  }
}

export interface EnrollmentHostOptions {
  /** The CA directory (its key is opened with `passphraseFile`). */
  caDir: string
  passphraseFile?: string
  identity: KeyPair
  /** This node's certificate chain, leaf first. */
  chain: readonly Uint8Array[]
  listen: { host: string; port: number }
  policy?: () => Promise<string | undefined>
  bundle?: () => Promise<Uint8Array | undefined>
  days?: number
  log?: DecisionLog
  io: CliIO
  json: boolean
  /** The CA directory's token store (default: a TokenStore on caDir); tests pass one that counts reads. */
  tokens?: TokenStore
  /**
   * The console's refusal groups (`peerguard node`): a stranger's refusals are grouped per address
   * there instead of one line each. Without it every outcome is a line of `io.out`.
   */
  refusals?: RefusalGroups
}

export interface EnrollmentHost {
  readonly address: string
  close(): Promise<void>
}

/** Open the CA, listen, and redeem tokens until `close()`. */
export async function startEnrollmentHost(o: EnrollmentHostOptions): Promise<EnrollmentHost> {
  const { io, log } = o
  const ca = await openCaDirectory(o.caDir, await passphraseOf(o.passphraseFile))
  const root = await caRootOf(o.caDir)
  let tokenSeen: (t: TokenRecord) => void = () => {}
  const tokens = o.tokens ?? new TokenStore(o.caDir)
  const warn = (err: Error): void => io.err(`peerguard: warning: decision log: ${err.message}`)
  // a refusal before the joiner proved a token's secret is a stranger's: counted per address and
  // window, so a flood of connections cannot grow the log (one entry each before) nor, under
  // `peerguard node`, the console (grouped with the other services' refusals). The first
  // refusal naming a filed token, per token and code, stays an entry (a used token tried again is
  // how the admin learns it was redeemed by someone else): bounded by the tokens the admin made.
  const strangers = log === undefined ? undefined : new RefusalSummarizer(log, { onError: (err) => warn(err as Error) })
  const named = new Set<string>()
  const inFull = (e: EnrollEvent): boolean => {
    if (e.outcome === 'enrolled' || e.proven === true) return true
    // a token ID that names no filed token is anyone's guess
    if (e.tokenId === undefined || e.code === 'enroll-token-unknown' || named.size >= MAX_NAMED_REFUSALS) return false
    const key = `${e.tokenId} ${e.code}`
    if (named.has(key)) return false
    named.add(key)
    return true
  }
  const service = new EnrollmentService({
    ca,
    root,
    tokens,
    onToken: (t) => tokenSeen(t),
    identity: o.identity,
    chain: [...o.chain],
    // re-read at each join, so a `ca revoke` / `ca crl` meanwhile is what a new member gets
    crl: () => currentCrl(o.caDir),
    ...(o.bundle === undefined ? {} : { bundle: o.bundle }),
    ...(o.policy === undefined ? {} : { policy: o.policy }),
    ...(o.days === undefined ? {} : { days: o.days }),
    onEvent: (e) => {
      const full = inFull(e)
      if (!full && o.refusals !== undefined) {
        const addr = hostOfAddress(e.address)
        o.refusals.refused(`enroll\n${addr}`, { service: 'enroll', addr, group: addr, code: e.code, reason: e.reason })
      } else if (o.json) io.out(terminalJson({ event: e.outcome, ...e }, 0))
      else if (e.outcome === 'enrolled') io.out(`enrolled ${e.name} as ${e.peerId} (serial ${e.serial})`)
      else io.out(`refused ${e.address ?? 'a joiner'}: ${e.code}: ${e.reason}`)
      if (strangers !== undefined && !full) strangers.refused(hostOfAddress(e.address), e.code)
      else void log?.append(logRecord(e)).catch(warn)
    }
  })
  // `ca token` runs without this service: the tokens filed at start are logged as issued, and one
  // filed since when a joiner names it. No scan per connection: an unauthenticated client gets no
  // disk work before the handshake limits and the channel, and then only its one token's file.
  const logged = new Set<string>()
  const logIssued = async (t: TokenRecord & { readonly used?: boolean }): Promise<void> => {
    if (logged.has(t.tokenId)) return
    logged.add(t.tokenId)
    await log?.append({
      kind: 'operation',
      allowed: true,
      code: 'allow',
      reason: `token issued ${t.createdAt} for ${t.name}, expires ${t.expiresAt}${t.used === true ? ', already used' : ''}`,
      peer: { name: t.name, groups: t.groups },
      action: 'write',
      verb: 'token',
      resource: `enroll:${t.tokenId}`
    })
  }
  for (const t of await tokens.list()) await logIssued(t)
  tokenSeen = (t) => void logIssued(t).catch(warn)
  const server = createServer((socket) => void service.handle(socket))
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.listen.port, o.listen.host, resolve)
  })
  const bound = server.address()
  const address =
    typeof bound === 'object' && bound !== null ? `${bound.address}:${bound.port}` : `${o.listen.host}:${o.listen.port}`
  return {
    address,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await strangers?.close()
    }
  }
}
