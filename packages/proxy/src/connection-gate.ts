import type { Socket } from 'node:net'
import type { AuthorizeResult } from '@peerguard/channel'
import { logPeer, policyPeerOf } from '@peerguard/interface'
import type { Decision, PeerguardError, PeerInfo, PolicyDecider } from '@peerguard/interface'
import type { HostPort } from './address.js'
import { connectTarget } from './connect-target.js'
import type { ConnectionRecorder } from './connection-recorder.js'
import { encodeProxyV2, peerTlvs } from './proxy-protocol.js'

/** The policy's answer for `peer` asking `action` on `resource` (a channel is always encrypted). */
export function decideService(policy: PolicyDecider, peer: PeerInfo, action: string, resource: string): Decision {
  return policy.decide({
    peer: policyPeerOf(peer),
    action,
    resource,
    context: { encrypted: true }
  })
}

/** What a gate needs from its server; the same for every connection. */
export interface GateContext {
  readonly target: HostPort
  readonly resource: string
  readonly action: string
  readonly maxPerPeer: number
  readonly connectMs: number
  readonly proxyProtocol: boolean
  readonly recorder: ConnectionRecorder
  /** Established and admitted connections per peer ID, shared by the server's gates. */
  readonly perPeer: Map<string, number>
}

/**
 * @internal The gate of one inbound connection, run by the channel once the peer authenticated
 * (`authorize`): the per-peer limit, the policy, the acceptance written to the decision log, then
 * the target connected (and the PROXY v2 header sent). Keeps what it decided for the server.
 */
export class ConnectionGate {
  /** The peer the gate saw, when the handshake got that far. */
  peer: PeerInfo | undefined
  /** The policy's reason for the acceptance. */
  allowReason = ''
  /** `seq` of the acceptance entry, when the log reported one. */
  acceptedSeq: number | undefined
  /** The connected target, once the gate admitted the peer. */
  target: Socket | undefined
  readonly #ctx: GateContext
  readonly #policy: PolicyDecider | undefined
  readonly #socket: Socket
  #counted: string | undefined
  #abandoned = false

  /** `policy`: the one of the configuration in force when the connection came (a reload does not mix two). */
  constructor(ctx: GateContext, policy: PolicyDecider | undefined, socket: Socket) {
    this.#ctx = ctx
    this.#policy = policy
    this.#socket = socket
  }

  readonly authorize = async (peer: PeerInfo): Promise<AuthorizeResult> => {
    const ctx = this.#ctx
    this.peer = peer
    const n = ctx.perPeer.get(peer.peerId) ?? 0
    if (n >= ctx.maxPerPeer)
      return {
        allowed: false,
        code: 'proxy-too-many-peer-connections',
        reason: `peer has ${n} connections (limit ${ctx.maxPerPeer})`
      }
    if (this.#policy === undefined) return { allowed: false, code: 'deny-default', reason: 'no policy configured' }
    const d = decideService(this.#policy, peer, ctx.action, ctx.resource)
    if (!d.allowed) return { allowed: false, code: d.code, reason: d.reason }
    this.allowReason = d.reason
    // Count before connecting so a burst from one peer cannot exceed the limit.
    ctx.perPeer.set(peer.peerId, n + 1)
    this.#counted = peer.peerId
    // Fail closed: the acceptance is in the decision log before the target is connected;
    // a decision that cannot be written refuses the connection (`log-unavailable`).
    try {
      const written = await ctx.recorder.accept({ event: 'accepted', code: 'allow', reason: d.reason, peer: logPeer(peer) })
      const seq = (written as { seq?: unknown } | undefined)?.seq
      if (typeof seq === 'number') this.acceptedSeq = seq
    } catch (err) {
      const e = err as PeerguardError
      return { allowed: false, code: e.code, reason: e.message }
    }
    let connected: Socket
    try {
      connected = await connectTarget(ctx.target, ctx.connectMs)
    } catch (err) {
      const e = err as PeerguardError
      return { allowed: false, code: e.code, reason: e.message }
    }
    if (this.#abandoned) {
      // the handshake deadline passed while the target was connecting: do not leak the socket
      connected.destroy()
      return { allowed: false, code: 'channel-handshake-timeout', reason: 'the handshake timed out' }
    }
    if (ctx.proxyProtocol) connected.write(proxyHeaderFor(this.#socket, peer))
    this.target = connected
    return { allowed: true }
  }

  /** The handshake failed: a target still connecting is closed when it connects. */
  abandon(): void {
    this.#abandoned = true
  }

  /** Give back the peer's slot (once; no-op when the gate took none). */
  release(): void {
    const counted = this.#counted
    if (counted === undefined) return
    const n = (this.#ctx.perPeer.get(counted) ?? 1) - 1
    if (n <= 0) this.#ctx.perPeer.delete(counted)
    else this.#ctx.perPeer.set(counted, n)
    this.#counted = undefined
  }
}

/** The PROXY v2 header for a relayed connection: the peer's socket address, the proxy's, the peer's TLVs. */
function proxyHeaderFor(socket: Socket, peer: PeerInfo): Uint8Array {
  const { remoteAddress, remotePort, localAddress, localPort } = socket
  const known = remoteAddress !== undefined && remotePort !== undefined && localAddress !== undefined && localPort !== undefined
  return encodeProxyV2({
    ...(known
      ? { source: { address: remoteAddress, port: remotePort }, destination: { address: localAddress, port: localPort } }
      : {}),
    tlvs: peerTlvs(peer)
  })
}
