import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { InvalidArgumentError, PeerguardError } from '@peerguard/interface'
import type { TrafficAuditor } from './auditor.js'
import { CaptureParser } from './capture-reader.js'
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
  /**
   * Called once libpcap has opened the interface and installed the filter: every packet sent from
   * now on is captured. Start the traffic to watch here rather than after a guessed delay.
   */
  onReady?: () => void
}

export interface LiveCaptureResult {
  packets: number
  /**
   * libpcap's counters (received, dropped by the kernel buffer, dropped by the interface), packets
   * the capture process dropped because the auditor fell far behind (`userDropped`), and packets
   * forwarded with headers only (first 256 bytes) while it was behind (`payloadShed`).
   */
  stats: { received: number; dropped: number; ifDropped: number; userDropped: number; payloadShed: number }
  savedFiles: string[]
  linktype: number
}

/** Resolve the optional `pcap` package (libpcap binding); a clear error when it is missing. */
export async function loadPcap(): Promise<string> {
  try {
    const path = createRequire(import.meta.url).resolve('pcap')
    // Load it once here so a binding that did not build fails now, with the hint below.
    await import(path)
    return path
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
 * The capture process. libpcap runs in a child process that writes a pcap stream on stdout and its
 * counters over IPC: node_pcap's session cannot be closed cleanly in-process (its close() leaves a
 * referenced poll handle, and finishing the close frees memory the poll callback still uses), so
 * the child is simply ended. CommonJS, run with `node -e`, arguments: pcap path, JSON options.
 */
const CHILD_SOURCE = String.raw`(() => {
const pcap = require(process.argv[1])
const o = JSON.parse(process.argv[2])
const LINKTYPES = { LINKTYPE_NULL: 0, LINKTYPE_ETHERNET: 1, LINKTYPE_RAW: 101, LINKTYPE_LINUX_SLL: 113, LINKTYPE_IEEE802_11_RADIO: 127 }
pcap.warningHandler = () => {}
let session
try {
  session = pcap.createSession(o.iface, { filter: o.filter, snap_length: o.snaplen, buffer_size: o.bufferBytes, buffer_timeout: 50, promiscuous: false })
} catch (e) {
  process.send({ error: String((e && e.message) || e) }, () => process.exit(3))
  return
}
const linktype = LINKTYPES[session.link_type] ?? 1
const g = Buffer.alloc(24)
g.writeUInt32LE(0xa1b2c3d4, 0); g.writeUInt16LE(2, 4); g.writeUInt16LE(4, 6); g.writeUInt32LE(o.snaplen, 16); g.writeUInt32LE(linktype, 20)
let parts = [g], bytes = 24, userDropped = 0
const flush = () => {
  if (bytes === 0) return
  const b = parts.length === 1 ? parts[0] : Buffer.concat(parts, bytes)
  const n = parts.length
  parts = []; bytes = 0
  // Never let the pipe grow without bound: beyond 512 MB queued, count the packets and drop them.
  if (process.stdout.writableLength > 512e6) { userDropped += n; return }
  process.stdout.write(b)
}
let shed = 0
session.on('packet', (p) => {
  let caplen = p.header.readUInt32LE(8)
  // When the auditor falls behind (64 MB queued), forward only the headers of each packet (like a
  // snaplen): every packet is still counted and decoded, only payload inspection thins out.
  if (process.stdout.writableLength > 64e6 && caplen > 256) { caplen = 256; shed++ }
  const rec = Buffer.allocUnsafe(16 + caplen)
  p.header.copy(rec, 0, 0, 16)
  rec.writeUInt32LE(caplen, 8)
  p.buf.copy(rec, 16, 0, caplen)
  parts.push(rec); bytes += rec.length
  if (bytes >= 262144) flush()
})
setInterval(flush, 20)
process.send({ ready: true, linktype })
process.on('message', (m) => {
  if (!m || !m.stop) return
  // Drain what the kernel already holds for us before the counters and the end of the stream.
  for (let i = 0; i < 1e6 && session.session.dispatch(session.buf, session.header) > 0; i++);
  flush()
  const s = session.stats()
  process.stdout.end(() => process.send({ stats: { received: s.ps_recv, dropped: s.ps_drop, ifDropped: s.ps_ifdrop, userDropped, payloadShed: shed } }, () => process.exit(0)))
})
process.on('disconnect', () => process.exit(0))
})()
`

function openError(iface: string, msg: string): PeerguardError {
  if (/permission|not permitted|EPERM|privilege/i.test(msg)) {
    return new CapturePermissionError(`cannot capture on ${iface}: ${msg}`, {
      details: { hint: 'run as root, or: setcap cap_net_raw,cap_net_admin=eip "$(command -v node)"' }
    })
  }
  if (/no such device|doesn't exist|not found|No such/i.test(msg))
    return new PeerguardError('not-found', `interface ${iface} does not exist (${msg})`)
  if (/syntax|filter/i.test(msg)) return new InvalidArgumentError(`filter: ${msg}`)
  return new PeerguardError('io-error', `cannot capture on ${iface}: ${msg}`)
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
  if (options.onReady !== undefined && typeof options.onReady !== 'function')
    throw new InvalidArgumentError('onReady: expected a function')
  const pcapPath = await loadPcap()
  const snaplen = options.snaplen ?? 262144
  const config = {
    iface: options.iface,
    filter: options.filter ?? '',
    snaplen,
    bufferBytes: options.bufferBytes ?? 64 * 1024 * 1024
  }
  const child = spawn(process.execPath, ['-e', CHILD_SOURCE, pcapPath, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc']
  })
  let childErr = ''
  child.stderr!.on('data', (d: Buffer) => {
    if (childErr.length < 4096) childErr += d.toString('utf8')
  })
  type Msg = { ready?: boolean; linktype?: number; error?: string; stats?: LiveCaptureResult['stats'] }
  const messages: Msg[] = []
  const waiters: ((m: Msg) => void)[] = []
  child.on('message', (m: Msg) => {
    const w = waiters.shift()
    if (w !== undefined) w(m)
    else messages.push(m)
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const next = (): Promise<Msg> =>
    messages.length > 0
      ? Promise.resolve(messages.shift()!)
      : new Promise<Msg>((resolve) => {
          waiters.push(resolve)
          void exited.then(() =>
            resolve({
              error: `the capture process ended unexpectedly${childErr === '' ? '' : `: ${childErr.trim().split('\n').pop()}`}`
            })
          )
        })
  const first = await next()
  if (first.error !== undefined || first.ready !== true) {
    child.kill('SIGKILL')
    throw openError(options.iface, first.error ?? 'no answer from the capture process')
  }
  const linktype = first.linktype ?? 1
  const writer =
    options.save === undefined
      ? undefined
      : new RotatingPcapWriter(options.save, {
          linktype,
          snaplen,
          ...(options.rotateBytes === undefined ? {} : { rotateBytes: options.rotateBytes })
        })
  auditor.setSource({ interface: options.iface, format: 'live', linktypes: [linktype] })
  options.onReady?.()
  let packets = 0
  const sink = {
    packet(lt: number, buf: Buffer, off: number, caplen: number, len: number, ts: number): void {
      packets++
      auditor.packet(lt, buf, off, caplen, len, ts)
      writer?.write(buf, off, caplen, len, ts)
    }
  }
  const parser = new CaptureParser(sink, auditor.engine.errors)
  let pending = Buffer.alloc(0)
  const drained = new Promise<void>((resolve) => child.stdout!.on('end', () => resolve()))
  child.stdout!.on('data', (chunk: Buffer) => {
    const buf = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    const used = parser.parse(buf, 0, buf.length, false)
    pending = used >= buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(used))
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
    void exited.then(done)
    if (options.onProgress !== undefined) {
      const tick = (): void => {
        options.onProgress?.(packets)
        timers.push(setTimeout(tick, 1000))
      }
      timers.push(setTimeout(tick, 1000))
    }
  })
  // Give the kernel a moment to hand over its current block (buffer_timeout 50 ms), then stop: the
  // capture process drains what is buffered, then sends the counters.
  await new Promise((r) => setTimeout(r, 150))
  let stats: LiveCaptureResult['stats'] = { received: 0, dropped: 0, ifDropped: 0, userDropped: 0, payloadShed: 0 }
  if (child.connected) {
    child.send({ stop: true })
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000)
    const m = await next()
    if (m.stats !== undefined) stats = m.stats
    await Promise.race([drained, exited])
    await exited
    clearTimeout(kill)
  }
  writer?.close()
  return { packets, stats, savedFiles: writer?.files ?? [], linktype }
}
