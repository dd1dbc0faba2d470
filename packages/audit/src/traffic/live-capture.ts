import { createSocket } from 'node:dgram'
import { InvalidArgumentError, PeerguardError } from '@peerguard/interface'
import type { TrafficAuditor } from './auditor.js'
import { CapturePermissionError, CaptureUnavailableError } from './errors.js'
import { RotatingPcapWriter } from './pcap-writer.js'

export interface LiveCaptureOptions {
  /** Interface to capture on (`lo`, `eth0`). */
  iface: string
  /** BPF filter (tcpdump syntax). */
  filter?: string
  /** Stop after this many seconds; without it, run until `signal` aborts. */
  durationSeconds?: number
  signal?: AbortSignal
  /** Bytes captured per packet. @default 262144 */
  snaplen?: number
  /** libpcap kernel buffer (bytes): large enough that nothing drops. @default 64 MiB */
  bufferBytes?: number
  /** Also save the capture here (pcap). */
  save?: string
  /** Rotate the saved capture at this size (bytes). */
  rotateBytes?: number
  /** Called about once a second with the packets seen so far (progress display). */
  onProgress?: (packets: number) => void
}

export interface LiveCaptureResult {
  packets: number
  /** libpcap's counters: received, dropped by the kernel buffer, dropped by the interface. */
  stats: { received: number; dropped: number; ifDropped: number }
  savedFiles: string[]
  linktype: number
}

interface PcapModule {
  createSession(device: string, options: Record<string, unknown>): PcapSessionLike
  lib_version?: string
}
interface PcapSessionLike {
  link_type: string
  buf?: Buffer
  header?: Buffer
  session?: { dispatch(buf: Buffer, header: Buffer): number }
  on(event: 'packet', fn: (p: { buf: Buffer; header: Buffer }) => void): void
  stats(): { ps_recv: number; ps_drop: number; ps_ifdrop: number }
  close(): void
}

const LINKTYPES: Record<string, number> = {
  LINKTYPE_NULL: 0,
  LINKTYPE_ETHERNET: 1,
  LINKTYPE_RAW: 101,
  LINKTYPE_LINUX_SLL: 113,
  LINKTYPE_IEEE802_11_RADIO: 127
}

/** Load the optional `pcap` package (libpcap binding); a clear error when it is missing. */
export async function loadPcap(): Promise<PcapModule> {
  const name = 'pcap'
  try {
    const mod = (await import(name)) as { default?: PcapModule } & PcapModule
    return mod.default ?? mod
  } catch (err) {
    throw new CaptureUnavailableError('live capture needs the optional `pcap` package, which is not installed or did not build', {
      cause: err,
      details: {
        hint: 'apt-get install libpcap-dev && npm install pcap (or capture with `tcpdump -w FILE` and run `peerguard audit read FILE`)'
      }
    })
  }
}

/**
 * Capture live from an interface through libpcap and feed every packet to `auditor`, optionally
 * saving it (with rotation). Resolves when the duration ends or `signal` aborts, with libpcap's
 * drop counters.
 */
export async function captureLive(auditor: TrafficAuditor, options: LiveCaptureOptions): Promise<LiveCaptureResult> {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options: expected an object')
  if (typeof options.iface !== 'string' || options.iface === '')
    throw new InvalidArgumentError('iface: expected an interface name')
  if (options.durationSeconds !== undefined && !(options.durationSeconds > 0))
    throw new InvalidArgumentError(`durationSeconds: expected a positive number, got ${options.durationSeconds}`)
  if (options.filter !== undefined && typeof options.filter !== 'string')
    throw new InvalidArgumentError('filter: expected a BPF expression')
  const pcap = await loadPcap()
  // node_pcap's close() only calls pcap_breakloop(): the session is released (and its poll handle,
  // which keeps the process alive, stopped) at the next packet. A UDP datagram to a port of ours
  // on 127.0.0.1 is that packet on loopback; the filter lets it through, the auditor never sees it.
  const wake = createSocket('udp4')
  await new Promise<void>((resolve) => wake.bind(0, '127.0.0.1', () => resolve()))
  const wakePort = wake.address().port
  const wakeClause = `(udp and dst host 127.0.0.1 and dst port ${wakePort})`
  const filter = options.filter === undefined || options.filter.trim() === '' ? '' : `(${options.filter}) or ${wakeClause}`
  let session: PcapSessionLike
  try {
    session = pcap.createSession(options.iface, {
      filter,
      snap_length: options.snaplen ?? 262144,
      buffer_size: options.bufferBytes ?? 64 * 1024 * 1024,
      buffer_timeout: 100,
      promiscuous: false
    })
  } catch (err) {
    wake.close()
    const msg = err instanceof Error ? err.message : String(err)
    if (/permission|not permitted|EPERM|privilege/i.test(msg)) {
      throw new CapturePermissionError(`cannot capture on ${options.iface}: ${msg}`, {
        cause: err,
        details: { hint: 'run as root, or: setcap cap_net_raw,cap_net_admin=eip "$(command -v node)"' }
      })
    }
    if (/no such device|doesn't exist|not found|No such/i.test(msg))
      throw new PeerguardError('not-found', `interface ${options.iface} does not exist (${msg})`, { cause: err })
    if (/syntax|filter/i.test(msg)) throw new InvalidArgumentError(`filter: ${msg}`, { cause: err })
    throw new PeerguardError('io-error', `cannot capture on ${options.iface}: ${msg}`, { cause: err })
  }
  const linktype = LINKTYPES[session.link_type] ?? 1
  const writer =
    options.save === undefined
      ? undefined
      : new RotatingPcapWriter(options.save, {
          linktype,
          ...(options.rotateBytes === undefined ? {} : { rotateBytes: options.rotateBytes })
        })
  auditor.setSource({ interface: options.iface, format: 'live', linktypes: [linktype] })
  let packets = 0
  let closing = false
  session.on('packet', (p) => {
    const h = p.header
    if (closing) return
    const ts = h.readUInt32LE(0) + h.readUInt32LE(4) / 1e6
    const caplen = h.readUInt32LE(8)
    const len = h.readUInt32LE(12)
    packets++
    auditor.packet(linktype, p.buf, 0, caplen, len, ts)
    writer?.write(p.buf, 0, caplen, len, ts)
  })
  await new Promise<void>((resolve) => {
    const timers: NodeJS.Timeout[] = []
    const done = (): void => {
      for (const t of timers) clearTimeout(t)
      options.signal?.removeEventListener('abort', done)
      resolve()
    }
    if (options.durationSeconds !== undefined) timers.push(setTimeout(done, options.durationSeconds * 1000))
    if (options.signal !== undefined) {
      if (options.signal.aborted) done()
      else options.signal.addEventListener('abort', done, { once: true })
    }
    if (options.onProgress !== undefined) {
      const tick = (): void => {
        options.onProgress?.(packets)
        timers.push(setTimeout(tick, 1000).unref())
      }
      timers.push(setTimeout(tick, 1000).unref())
    }
  })
  // Give libpcap a moment to hand over what is already buffered, then read the counters.
  await new Promise((r) => setTimeout(r, 150))
  const s = session.stats()
  closing = true
  session.close()
  // The wake-up datagram lets node_pcap finish closing (see above).
  await new Promise<void>((resolve) => wake.send(Buffer.from('peerguard-capture-stop'), wakePort, '127.0.0.1', () => resolve()))
  await new Promise((r) => setTimeout(r, 50))
  wake.close()
  writer?.close()
  return {
    packets,
    stats: { received: s.ps_recv, dropped: s.ps_drop, ifDropped: s.ps_ifdrop },
    savedFiles: writer?.files ?? [],
    linktype
  }
}
