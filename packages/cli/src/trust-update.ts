/**
 * How a running node moves from the trust store in force to a freshly loaded one: check the new
 * CRLs first (signature, no CA going back to an older CRL or losing its CRL), then hand back
 * exactly what to install, so the swap itself is one synchronous `TrustStore.replace`.
 */
import { createHash } from 'node:crypto'
import { PeerguardError } from '@peerguard/interface'
import {
  type CrlInput,
  createTrustStore,
  type ParsedCrl,
  parseCertificate,
  parseCrl,
  type TrustStore,
  verifyPeerChainSync
} from '@peerguard/pki'

/** What to install, and what changed (`trust`: the roots; `crl`: the CRLs in force). */
export interface TrustUpdate {
  readonly what: ReadonlyArray<'trust' | 'crl'>
  readonly roots: Uint8Array[]
  readonly crls: CrlInput[]
}

/** A CRL kept across file reloads (fetched from a distribution point), with where it came from. */
export interface KeptCrl {
  readonly der: Uint8Array
  readonly source: string
}

/** One CA's CRLs: the same issuer name and authority key identifier. */
function caKey(crl: ParsedCrl): string {
  return `${Buffer.from(crl.issuer.raw).toString('base64')}/${crl.authorityKeyId ?? ''}`
}

/** >0 when `a` is newer: the higher CRL number (RFC 5280 §5.2.3), then the later thisUpdate. */
function newer(a: ParsedCrl, b: ParsedCrl): number {
  if (a.number !== undefined && b.number !== undefined) {
    const na = BigInt(`0x${a.number}`)
    const nb = BigInt(`0x${b.number}`)
    if (na !== nb) return na > nb ? 1 : -1
  }
  return Math.sign(a.thisUpdate - b.thisUpdate)
}

function newestPerCa(crls: readonly ParsedCrl[]): Map<string, ParsedCrl> {
  const out = new Map<string, ParsedCrl>()
  for (const c of crls) {
    const k = caKey(c)
    const have = out.get(k)
    if (have === undefined || newer(c, have) > 0) out.set(k, c)
  }
  return out
}

function sha256(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex')
}

function fingerprint(ders: readonly Uint8Array[]): string {
  return ders.map(sha256).sort().join()
}

/**
 * Check each new CRL against the CA that signed it, where the node knows that CA: a root of the
 * new store, or an intermediate of this node's own chain. A CRL from a CA known neither way is
 * kept and checked when a chain from that CA is verified (a bad one then refuses: fail closed).
 */
function checkSignatures(rootsDer: Uint8Array[], crls: readonly ParsedCrl[], ownChain: readonly Uint8Array[]): void {
  const probe = createTrustStore({ roots: rootsDer, requireCrl: false })
  try {
    // Verifying our own chain teaches the probe our intermediates, so their CRLs can be checked.
    if (ownChain.length > 1) verifyPeerChainSync(ownChain, { trust: probe, cache: false })
  } catch {
    // our chain does not lead to these roots: only the roots' CRLs can be checked
  }
  for (const crl of [...crls].sort((a, b) => newer(a, b))) {
    try {
      probe.addCrl(crl.der)
    } catch (err) {
      if (err instanceof PeerguardError && err.code === 'crl-unknown-issuer') continue
      throw err
    }
  }
}

/**
 * Plan replacing the contents of `current` with those of `candidate` (a store freshly loaded from
 * the same files), keeping `kept` CRLs (fetched from distribution points). Returns undefined when
 * nothing changed. Throws, so the caller keeps the store in force:
 * `crl-bad-signature` (a new CRL does not verify with its CA's key), `crl-older` (a CA would go
 * back to an older CRL than the one in force), `crl-missing` (a CA that still has a root in the
 * new store, or is in our chain, would lose its CRL).
 */
export function planTrustUpdate(
  current: TrustStore,
  candidate: TrustStore,
  options: { kept?: readonly KeptCrl[]; ownChain?: readonly Uint8Array[] } = {}
): TrustUpdate | undefined {
  const ownChain = options.ownChain ?? []
  const rootsDer = candidate.roots.map((r) => Uint8Array.from(r.der))
  const sources = new Map<ParsedCrl, string>()
  for (const c of candidate.crls) {
    const s = candidate.crlStatus().find((st) => st.issuer === c.issuer.text && st.thisUpdate.getTime() === c.thisUpdate)
    if (s?.source !== undefined) sources.set(c, s.source)
  }
  const keptParsed: ParsedCrl[] = []
  for (const k of options.kept ?? []) {
    const crl = parseCrl(k.der)
    keptParsed.push(crl)
    sources.set(crl, k.source)
  }
  checkSignatures(rootsDer, candidate.crls, ownChain)

  const before = newestPerCa(current.crls)
  const after = newestPerCa([...candidate.crls, ...keptParsed])
  const trustedCas = new Set(
    [...candidate.roots, ...ownChain.slice(1).map((d) => parseCertificate(d))].map((c) =>
      Buffer.from(c.subject.raw).toString('base64')
    )
  )
  for (const [k, inForce] of before) {
    const next = after.get(k)
    if (next === undefined) {
      if (!trustedCas.has(Buffer.from(inForce.issuer.raw).toString('base64'))) continue // the CA itself is gone
      throw new PeerguardError(
        'crl-missing',
        `the new trust configuration has no CRL from ${inForce.issuer.text}, which is still trusted; keeping the CRL in force`,
        { details: { issuer: inForce.issuer.text } }
      )
    }
    if (newer(next, inForce) < 0) {
      const source = sources.get(next)
      throw new PeerguardError(
        'crl-older',
        `the CRL from ${inForce.issuer.text}${source === undefined ? '' : ` in ${source}`} (thisUpdate ${new Date(next.thisUpdate).toISOString()}) is older than the one in force (thisUpdate ${new Date(inForce.thisUpdate).toISOString()})`,
        { details: { issuer: inForce.issuer.text } }
      )
    }
  }

  const what: Array<'trust' | 'crl'> = []
  if (fingerprint(rootsDer) !== fingerprint(current.roots.map((r) => r.der))) what.push('trust')
  const installed = [...after.values()]
  if (fingerprint(installed.map((c) => c.der)) !== fingerprint([...before.values()].map((c) => c.der))) what.push('crl')
  if (what.length === 0) return undefined
  return {
    what,
    roots: rootsDer,
    crls: installed.map((c) => {
      const source = sources.get(c)
      return source === undefined ? Uint8Array.from(c.der) : { crl: Uint8Array.from(c.der), source }
    })
  }
}
