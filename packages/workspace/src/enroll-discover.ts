/**
 * Finding the CA node without an address (SPEC.md §6.5). A joiner cannot open announcements (it
 * has no root yet), but their clear header names the workspace: its ID is the first 16 bytes of
 * the token's root fingerprint. The joiner listens for announcements of its workspace and tries
 * the enrollment port on each sender until one accepts a TCP connection (and passes `check`).
 * Nothing here is trusted: `enroll()` refuses any server that does not prove a certificate under
 * the token's root, and a joiner that checks candidates with it goes on past an impostor.
 */
import type { RemoteInfo, Socket } from 'node:dgram'
import { connect } from 'node:net'
import { assertBytes, assertInteger, equalBytes, InvalidArgumentError } from '@peerguard/interface'
import { announcementWorkspace } from './announcement.js'
import { EnrollError } from './enroll-errors.js'
import { FINGERPRINT_LENGTH } from './token.js'
import { openUdp } from './udp.js'
import { WORKSPACE_ID_LENGTH } from './workspace-id.js'

/** The enrollment service's default TCP port (the node's `enrollment: listen:` default). */
export const DEFAULT_ENROLL_PORT = 47180

/**
 * Distinct senders probed at most, and probes at once. Announcement headers are clear and their
 * source addresses can be forged, so a stranger could otherwise make a joiner connect to any
 * number of LAN addresses; beyond the cap, discovery ends with a hint to name the CA node.
 */
export const MAX_DISCOVERY_CANDIDATES = 64
const MAX_PROBES_AT_ONCE = 8

export interface DiscoverOptions {
  rootFingerprint: Uint8Array
  /** The workspace's multicast group (the members' `workspace: multicast:`). */
  multicast?: { group: string; port: number; interface?: string }
  /** Or a UDP address to listen on for unicast announcements. */
  udp?: { host: string; port: number }
  /** The TCP port of the enrollment service on the CA node. Default 47180. */
  enrollPort?: number
  /** Give up after this long, ms. */
  timeoutMs: number
  /**
   * Try a reachable candidate (say, enroll with it): true ends the discovery with it, false goes on
   * listening (an impostor answered), a rejection ends it with that error. Default: the first
   * reachable candidate is the answer.
   */
  check?: (candidate: { host: string; port: number }) => Promise<boolean>
}

function reachable(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port })
    s.setTimeout(timeoutMs, () => s.destroy())
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
    s.once('close', () => resolve(false))
  })
}

/** The first sender of an announcement of the token's workspace whose enrollment port answers. */
export async function discoverEnrollment(options: DiscoverOptions): Promise<{ host: string; port: number }> {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options: expected an object')
  assertBytes('options.rootFingerprint', options.rootFingerprint, FINGERPRINT_LENGTH)
  if (options.multicast === undefined && options.udp === undefined)
    throw new InvalidArgumentError('options: expected multicast or udp to listen on')
  const port = options.enrollPort ?? DEFAULT_ENROLL_PORT
  assertInteger('options.enrollPort', port, 1, 65535)
  assertInteger('options.timeoutMs', options.timeoutMs, 1, 3_600_000)
  if (options.check !== undefined && typeof options.check !== 'function')
    throw new InvalidArgumentError('options.check: expected a function')
  const check = options.check ?? (async () => true)
  const workspaceId = options.rootFingerprint.subarray(0, WORKSPACE_ID_LENGTH)
  const tried = new Set<string>()
  let probing = 0
  let udp: Socket | undefined
  let done = false
  return new Promise<{ host: string; port: number }>((resolve, reject) => {
    const finish = (err: Error | undefined, found?: { host: string; port: number }): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      udp?.close()
      if (err !== undefined) reject(err)
      else resolve(found as { host: string; port: number })
    }
    const timer = setTimeout(
      () =>
        finish(
          new EnrollError(
            'enroll-failed',
            `no CA node of this workspace answered on port ${port} within ${options.timeoutMs} ms` +
              (tried.size === 0 ? '' : ` (${tried.size} announcing address${tried.size === 1 ? '' : 'es'} tried)`)
          )
        ),
      options.timeoutMs
    )
    const onMessage = (msg: Buffer, rinfo: RemoteInfo): void => {
      let id: Uint8Array
      try {
        id = announcementWorkspace(new Uint8Array(msg))
      } catch {
        return // not an announcement: ignored
      }
      if (!equalBytes(id, workspaceId) || tried.has(rinfo.address)) return
      // busy: not marked as tried, so the sender's next announcement is probed
      if (probing >= MAX_PROBES_AT_ONCE) return
      // past the cap new senders are ignored; the probes still open may yet find the CA node
      if (tried.size >= MAX_DISCOVERY_CANDIDATES) return
      tried.add(rinfo.address)
      probing++
      const candidate = { host: rinfo.address, port }
      void reachable(rinfo.address, port, Math.min(3000, options.timeoutMs))
        .then((ok) => ok && !done && check(candidate))
        .finally(() => probing--)
        .then(
          (ok) => {
            if (ok) finish(undefined, candidate)
            else if (tried.size >= MAX_DISCOVERY_CANDIDATES && probing === 0)
              finish(
                new EnrollError(
                  'enroll-failed',
                  `discovery: more than ${MAX_DISCOVERY_CANDIDATES} addresses announce this workspace and none is the CA node; name it with --ca HOST:PORT`
                )
              )
          },
          (err: Error) => finish(err)
        )
    }
    openUdp(
      {
        ...(options.multicast === undefined ? {} : { multicast: options.multicast }),
        ...(options.udp === undefined ? {} : { udp: options.udp })
      },
      onMessage,
      (err) => finish(new EnrollError('enroll-failed', `discovery: ${err.message}`, { cause: err }))
    ).then(
      (socket) => {
        udp = socket
        if (done) socket.close()
      },
      (err: Error) => finish(err)
    )
  })
}
