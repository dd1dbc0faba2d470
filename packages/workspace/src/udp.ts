/**
 * The workspace's UDP socket: bound to the multicast port (shared with other members on the same
 * host) and joined to the group with TTL 1 so announcements never leave the link, or bound to a
 * unicast address. Socket failures become `io-error` with what was tried.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import { PeerguardError } from '@peerguard/interface'
import type { WorkspaceOptions } from './options.js'

export async function openUdp(
  o: Pick<WorkspaceOptions, 'multicast' | 'udp'>,
  onMessage: (msg: Buffer, rinfo: RemoteInfo) => void,
  onError: (err: Error) => void
): Promise<Socket> {
  const m = o.multicast
  const port = o.udp?.port ?? m?.port ?? 0
  const host = o.udp?.host ?? (m === undefined ? '127.0.0.1' : '0.0.0.0')
  const udp = createSocket({ type: 'udp4', reuseAddr: m !== undefined })
  try {
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject)
      udp.bind(port, host, () => {
        udp.off('error', reject)
        resolve()
      })
    })
  } catch (err) {
    udp.close()
    throw new PeerguardError('io-error', `workspace: cannot bind UDP ${host}:${port}: ${(err as Error).message}`, { cause: err })
  }
  if (m !== undefined) {
    try {
      udp.addMembership(m.group, m.interface)
      if (m.interface !== undefined) udp.setMulticastInterface(m.interface)
      udp.setMulticastTTL(1)
      udp.setMulticastLoopback(true)
    } catch (err) {
      udp.close()
      throw new PeerguardError(
        'io-error',
        `workspace: cannot join multicast group ${m.group}${m.interface === undefined ? '' : ` on ${m.interface}`}: ${(err as Error).message}`,
        { cause: err }
      )
    }
  }
  udp.on('message', onMessage)
  udp.on('error', onError)
  return udp
}
