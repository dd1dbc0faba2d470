/**
 * Seeding one swarm under a live configuration: what `peerguard swarm seed` runs and what
 * `peerguard node` runs for each entry under `swarms:` (the same code, so both admit, log and
 * re-check peers alike).
 */
import { readFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import type { KeyPair } from '@peerguard/identity'
import { type DecisionSink, type Logger, PeerguardError } from '@peerguard/interface'
import { createSwarmPeer, MAX_MANIFEST_BYTES, parseManifest, type SwarmManifest, type SwarmPeer } from '@peerguard/swarm'
import type { LiveConfig } from '../live-config.js'

/** Read and parse a manifest file (not-found, io-error, swarm-manifest-invalid). */
export async function readManifest(path: string): Promise<SwarmManifest> {
  const bytes = await readFile(path).catch((err: NodeJS.ErrnoException) => {
    throw new PeerguardError(err.code === 'ENOENT' ? 'not-found' : 'io-error', `${path}: ${err.code ?? err.message}`, {
      cause: err
    })
  })
  if (bytes.length > MAX_MANIFEST_BYTES)
    throw new PeerguardError('swarm-manifest-invalid', `${path}: larger than ${MAX_MANIFEST_BYTES} bytes`)
  return parseManifest(bytes)
}

/** A swarm peer whose certificate, trust, CRLs and policy are those of `live` (kept current by it). */
export function liveSwarmPeer(options: {
  identity: KeyPair
  live: LiveConfig
  /** The decision log (a DecisionLog), or the console's tee in front of it. */
  log: DecisionSink | undefined
  maxUpload?: number
  /** The console's logger for this seed (its refusals are grouped there). Default none. */
  logger?: Logger
}): SwarmPeer {
  const { identity, live, log, maxUpload, logger } = options
  return createSwarmPeer({
    identity,
    chain: live.chain,
    trust: live.trust,
    ...(live.policy === undefined ? {} : { policy: live.policy }),
    ...(log === undefined ? {} : { log }),
    ...(maxUpload === undefined ? {} : { maxUploadBytesPerSecond: maxUpload }),
    connectionCheck: live.checkPeer,
    ...(logger === undefined ? {} : { logger })
  })
}

/**
 * Check `manifest` (publisher chain, signature and policy), verify every piece of `file`, then
 * listen. On failure nothing listens; closing the peer is the caller's.
 */
export async function startSwarmSeed(
  peer: SwarmPeer,
  manifest: SwarmManifest,
  file: string,
  listen: { host: string; port: number }
): Promise<AddressInfo> {
  await peer.seed(manifest, file)
  return peer.listen(listen.port, listen.host)
}
