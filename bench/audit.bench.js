// @ts-check
// Traffic auditor throughput: peerguard's auditor (streaming reader, decoders, flow table, TCP
// reassembly, every detector) beside tcpdump and tshark on the same capture, with start-up treated
// the same: every contender is a process (peerguard: `node` importing @peerguard/audit) timed from
// spawn to exit, after one untimed read that puts the file in the page cache; their start-up on an
// empty capture is shown apart. Rounds alternate the contenders; medians are reported.
// The capture is a mix: the corpus captures (../shared/corpus/pcaps, real LAN protocols) replayed
// CORPUS_REPLAYS times, then the synthetic one (2,000 TCP flows of SMB, HTTP, FTP, BitTorrent, RPC
// and unknown traffic, whose openers announce large messages so detectors can skip bytes), joined
// with `mergecap -a`. Every packet of the file is counted by every contender.
// Live: a 1 GB loopback transfer captured through libpcap; packets dropped (libpcap, interface,
// capture pipe) and packets shed (forwarded with headers only while the auditor lagged) both count.
// Run: node bench/audit.bench.js [--quick]   (needs a build; tcpdump, tshark and mergecap from Debian).
// Goals (issue 15): audit >= 4x `tcpdump -nr` on the corpus mix; live: nothing dropped or shed.
import { spawn, spawnSync } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { captureLive, createTrafficAuditor, ParseErrors, readCaptureFile } from '@peerguard/audit'
import { figure, QUICK, ratio, show } from './lib.js'

const PACKETS = QUICK ? 100_000 : 1_500_000
const CORPUS_REPLAYS = QUICK ? 5 : 60
const ROUNDS = QUICK ? 1 : 3
const here = dirname(fileURLToPath(import.meta.url))
const repo = dirname(here)
const WORK = join(here, '.work')
mkdirSync(WORK, { recursive: true })
const FILE = join(WORK, `audit-${PACKETS}.pcap`)
const MIX = join(WORK, `audit-mix-${CORPUS_REPLAYS}x-${PACKETS}.pcap`)
const EMPTY = join(WORK, 'audit-empty.pcap')
const CORPUS = join(repo, '..', 'shared', 'corpus', 'pcaps')

// ---------- capture generator: loopback-style Ethernet frames, 2,000 concurrent TCP flows ----------
const FLOWS = 2000
const KINDS = ['smb', 'http', 'ftp', 'bt', 'rpc', 'unknown', 'unknown', 'http']
const SERVER_PORT = { smb: 445, http: 80, ftp: 21, bt: 51413, rpc: 2049, unknown: 9000 }
const random = Buffer.alloc(65536)
for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24

/** @param {string} kind @param {boolean} fromClient @returns {Buffer} */
function opener(kind, fromClient) {
  switch (kind) {
    case 'smb': {
      if (!fromClient) {
        // NBSS + SMB2 READ response header announcing an 8 MiB message: the data that follows is skipped.
        const h = Buffer.alloc(4 + 64)
        h.writeUInt32BE(8 * 1024 * 1024, 0)
        h.write('\xfeSMB', 4, 'latin1')
        h.writeUInt16LE(64, 8)
        h.writeUInt16LE(8, 16)
        h.writeUInt32LE(1, 20)
        return h
      }
      const h = Buffer.alloc(4 + 64 + 36 + 4)
      h.writeUInt32BE(64 + 36 + 4, 0)
      h.write('\xfeSMB', 4, 'latin1')
      h.writeUInt16LE(64, 8)
      h.writeUInt16LE(36, 68)
      h.writeUInt16LE(2, 70)
      h.writeUInt16LE(0x0210, 104)
      h.writeUInt16LE(0x0311, 106)
      return h
    }
    case 'http':
      return fromClient
        ? Buffer.from(
            `GET /files/report.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic ${Buffer.from('bench:pw').toString('base64')}\r\n\r\n`
          )
        : Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 999999999\r\n\r\n')
    case 'ftp':
      return fromClient ? Buffer.from('USER bench\r\nPASS pw\r\nRETR big.iso\r\n') : Buffer.from('220 bench ftp\r\n')
    case 'bt': {
      const h = Buffer.alloc(68 + 13)
      h.write('\x13BitTorrent protocol', 0, 'latin1')
      h.fill(0xab, 28, 48)
      h.write('-BN0001-', 48, 'latin1')
      h.writeUInt32BE(9 + 64 * 1024 * 1024, 68)
      h[72] = 7
      return h
    }
    case 'rpc': {
      const h = Buffer.alloc(4 + 40)
      h.writeUInt32BE((0x80000000 | (8 * 1024 * 1024)) >>> 0, 0)
      h.writeUInt32BE(1, 4)
      h.writeUInt32BE(0, 8)
      h.writeUInt32BE(2, 12)
      h.writeUInt32BE(100003, 16)
      h.writeUInt32BE(3, 20)
      h.writeUInt32BE(7, 24)
      return h
    }
    default:
      return random.subarray(fromClient ? 100 : 200, fromClient ? 500 : 900)
  }
}

/** @param {string} path @param {number} total */
function generate(path, total) {
  const fd = openSync(path, 'w')
  const out = Buffer.alloc(8 * 1024 * 1024)
  let used = 0
  const flush = () => {
    writeSync(fd, out, 0, used)
    used = 0
  }
  const g = Buffer.alloc(24)
  g.writeUInt32LE(0xa1b2c3d4, 0)
  g.writeUInt16LE(2, 4)
  g.writeUInt16LE(4, 6)
  g.writeUInt32LE(262144, 16)
  g.writeUInt32LE(1, 20)
  g.copy(out, 0)
  used = 24
  const flows = Array.from({ length: FLOWS }, (_, i) => ({
    kind: KINDS[i % KINDS.length] ?? 'unknown',
    cport: 30000 + i,
    cseq: 1000,
    sseq: 900000,
    step: 0
  }))
  let n = 0
  let ts = 1_700_000_000
  /** @param {any} f @param {boolean} fromClient @param {Buffer} payload @param {number} flags */
  const frame = (f, fromClient, payload, flags) => {
    const len = 14 + 20 + 20 + payload.length
    if (used + 16 + len > out.length) flush()
    const sec = Math.floor(ts)
    out.writeUInt32LE(sec, used)
    out.writeUInt32LE(Math.round((ts - sec) * 1e6), used + 4)
    out.writeUInt32LE(len, used + 8)
    out.writeUInt32LE(len, used + 12)
    let o = used + 16
    out.fill(0, o, o + 12) // zero MACs, as tcpdump -i lo writes them
    out.writeUInt16BE(0x0800, o + 12)
    o += 14
    out[o] = 0x45
    out[o + 1] = 0
    out.writeUInt16BE(20 + 20 + payload.length, o + 2)
    out.writeUInt32BE(0x40000000, o + 4)
    out[o + 8] = 64
    out[o + 9] = 6
    out.writeUInt16BE(0, o + 10)
    out.writeUInt32BE(0x7f000001, o + 12)
    out.writeUInt32BE(0x7f000001 + (fromClient ? 0 : 0), o + 16)
    o += 20
    const sp = /** @type {Record<string, number>} */ (SERVER_PORT)[f.kind] ?? 9000
    out.writeUInt16BE(fromClient ? f.cport : sp, o)
    out.writeUInt16BE(fromClient ? sp : f.cport, o + 2)
    out.writeUInt32BE(fromClient ? f.cseq : f.sseq, o + 4)
    out.writeUInt32BE(fromClient ? f.sseq : f.cseq, o + 8)
    out[o + 12] = 0x50
    out[o + 13] = flags
    out.writeUInt32BE(0xffff0000, o + 14)
    out.writeUInt16BE(0, o + 18)
    payload.copy(out, o + 20)
    used += 16 + len
    if (fromClient) f.cseq = (f.cseq + payload.length + (flags & 0x03 ? 1 : 0)) >>> 0
    else f.sseq = (f.sseq + payload.length + (flags & 0x03 ? 1 : 0)) >>> 0
    n++
    ts += 0.00001
  }
  const empty = Buffer.alloc(0)
  const bulk = random.subarray(0, 1448)
  while (n < total) {
    for (const f of flows) {
      if (n >= total) break
      // Each step: one data segment and one ACK (half the frames are 1514 bytes, half 54).
      if (f.step === 0) frame(f, true, empty, 0x02)
      else if (f.step === 1) frame(f, false, empty, 0x12)
      else if (f.step === 2) frame(f, false, f.kind === 'ftp' ? opener(f.kind, false) : empty, 0x18)
      else if (f.step === 3) frame(f, true, opener(f.kind, true), 0x18)
      else if (f.step === 4) frame(f, false, f.kind === 'ftp' ? empty : opener(f.kind, false), 0x18)
      else if (f.step % 2 === 1) frame(f, false, bulk, 0x18)
      else frame(f, true, empty, 0x10)
      f.step++
    }
  }
  flush()
  closeSync(fd)
}

/** @param {string} path @param {number} total */
function ensure(path, total) {
  if (existsSync(path) && statSync(path).size > 24) return
  const t = performance.now()
  generate(path, total)
  console.log(
    `generated ${path}: ${total} packets, ${(statSync(path).size / 1e6).toFixed(0)} MB in ${((performance.now() - t) / 1000).toFixed(1)} s`
  )
}

ensure(FILE, PACKETS)
// An empty capture (global header only): each contender's start-up.
{
  const fd = openSync(FILE, 'r')
  const header = Buffer.alloc(24)
  readSync(fd, header, 0, 24, 0)
  closeSync(fd)
  writeFileSync(EMPTY, header)
}
const has = (/** @type {string} */ cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0
if (!existsSync(MIX)) {
  const corpus = existsSync(CORPUS)
    ? readdirSync(CORPUS)
        .filter((f) => f.endsWith('.pcap'))
        .sort()
        .map((f) => join(CORPUS, f))
    : []
  if (corpus.length === 0 || !has('mergecap'))
    throw new Error(`bench audit: need the corpus captures in ${CORPUS} and mergecap (wireshark-common)`)
  const inputs = [...Array.from({ length: CORPUS_REPLAYS }, () => corpus).flat(), FILE]
  const r = spawnSync('mergecap', ['-a', '-F', 'pcap', '-w', MIX, ...inputs], { stdio: ['ignore', 'ignore', 'inherit'] })
  if (r.status !== 0) throw new Error(`bench audit: mergecap failed (exit ${r.status})`)
}
const SIZE = statSync(MIX).size

// ---------- the contenders: processes timed from spawn to exit ----------
const PEERGUARD = `import { createTrafficAuditor } from '@peerguard/audit'
const a = createTrafficAuditor()
await a.readFile(process.argv[1])
const r = a.finish()
console.log(JSON.stringify({ packets: r.summary.packets, flows: r.summary.flows, findings: r.summary.findings.total, parseErrors: r.summary.parseErrors.total }))`
/** @type {Record<string, { cmd: string, args: (file: string) => string[] }>} */
const contenders = {
  peerguard: { cmd: process.execPath, args: (f) => ['--input-type=module', '-e', PEERGUARD, f] },
  'tcpdump -nr': { cmd: 'tcpdump', args: (f) => ['-nr', f] },
  'tcpdump -r -w /dev/null': { cmd: 'tcpdump', args: (f) => ['-r', f, '-w', '/dev/null'] },
  'tshark -z conv,tcp': { cmd: 'tshark', args: (f) => ['-n', '-r', f, '-q', '-z', 'conv,tcp'] }
}
/** Seconds from spawn to exit, and the child's stdout. @param {string} name @param {string} file */
function timed(name, file) {
  const c = /** @type {{ cmd: string, args: (file: string) => string[] }} */ (contenders[name])
  return new Promise((resolve, reject) => {
    const t = performance.now()
    const p = spawn(c.cmd, c.args(file), { cwd: repo, stdio: ['ignore', 'pipe', 'ignore'] })
    let out = ''
    // output is read (and thrown away) the same way for every contender
    p.stdout.on('data', (d) => {
      if (name === 'peerguard') out += d
    })
    p.once('error', reject)
    p.once('close', (code) =>
      code === 0 ? resolve({ seconds: (performance.now() - t) / 1000, out }) : reject(new Error(`${name}: exit ${code}`))
    )
  })
}
const names = Object.keys(contenders).filter((n) => n === 'peerguard' || has(/** @type {any} */ (contenders[n]).cmd))
for (const n of Object.keys(contenders))
  if (!names.includes(n)) console.log(`${n}: not installed (apt-get install tcpdump tshark)`)
spawnSync('cat', [MIX], { stdio: ['ignore', 'ignore', 'ignore'] }) // page cache
/** @type {Record<string, number[]>} */
const seconds = {}
/** @type {Record<string, number[]>} */
const startup = {}
let mixPackets = 0
/** @type {any} */
let pgSummary
for (let round = 0; round < ROUNDS; round++) {
  for (const n of names) {
    const r = /** @type {{ seconds: number, out: string }} */ (await timed(n, MIX))
    ;(seconds[n] ??= []).push(r.seconds)
    if (n === 'peerguard') {
      pgSummary = JSON.parse(r.out)
      mixPackets = pgSummary.packets
    }
    ;(startup[n] ??= []).push(/** @type {{ seconds: number }} */ (await timed(n, EMPTY)).seconds)
  }
}
if (has('capinfos')) {
  const c = spawnSync('capinfos', ['-M', '-c', '-T', '-r', MIX], { encoding: 'utf8' })
  const counted = Number(c.stdout.trim().split('\t').at(-1))
  if (counted !== mixPackets) throw new Error(`bench audit: peerguard read ${mixPackets} packets, capinfos counts ${counted}`)
}
console.log(
  `\ncapture: ${mixPackets.toLocaleString('en-US')} packets, ${(SIZE / 1e6).toFixed(0)} MB: corpus x ${CORPUS_REPLAYS} + ${PACKETS.toLocaleString('en-US')} synthetic; ${ROUNDS} round(s), median; process spawn to exit\n`
)
/** @type {Record<string, import('./lib.js').Summary>} */
const pps = {}
const keys = {
  peerguard: 'mix-peerguard',
  'tcpdump -nr': 'mix-tcpdump-nr',
  'tcpdump -r -w /dev/null': 'mix-tcpdump-w',
  'tshark -z conv,tcp': 'mix-tshark-conv'
}
for (const n of names) {
  const s = figure(
    /** @type {any} */ (keys)[n],
    `audit of the corpus mix: ${n} (process, start-up included)`,
    'packets/s',
    (seconds[n] ?? []).map((x) => mixPackets / x)
  )
  pps[n] = s
  const up = figure(
    `startup-${/** @type {any} */ (keys)[n].slice(4)}`,
    `start-up on an empty capture: ${n}`,
    'ms',
    (startup[n] ?? []).map((x) => x * 1000),
    {
      higherIsBetter: false
    }
  )
  console.log(`${n.padEnd(28)} ${show(s, 'packets/s').padEnd(40)} start-up ${show(up, 'ms')}`)
}
if (pgSummary !== undefined)
  console.log(
    `peerguard: ${pgSummary.flows.total} flows (${pgSummary.flows.evicted} finished early, table full), ${pgSummary.findings} findings, ${pgSummary.parseErrors} parse errors (counted and skipped)`
  )

// In-process context: the reader alone and the `pcap` package's libpcap reader, both counting.
{
  let count = 0
  const t = performance.now()
  await readCaptureFile(MIX, { packet: () => count++ }, new ParseErrors())
  console.log(
    `context: peerguard reader only, in-process, counting: ${Math.round(count / ((performance.now() - t) / 1000)).toLocaleString('en-US')} packets/s`
  )
}
try {
  const pcap = createRequire(import.meta.url)('pcap')
  const t = performance.now()
  const n = await new Promise((resolve) => {
    let c = 0
    const session = pcap.createOfflineSession(MIX, {})
    session.on('packet', () => c++)
    session.on('complete', () => resolve(c))
  })
  console.log(
    `context: \`pcap\` package offline reader, in-process, counting: ${Math.round(Number(n) / ((performance.now() - t) / 1000)).toLocaleString('en-US')} packets/s`
  )
} catch (err) {
  console.log(`context: \`pcap\` package unavailable (${String(/** @type {Error} */ (err).message).split('\n')[0]})`)
}

// Live: capture a loopback transfer through libpcap and count drops. The transfer runs in another
// process (as real traffic would), so this one only captures and audits.
const TRANSFER = `
const net = require('node:net')
const bytes = Number(process.argv[1])
const server = net.createServer((s) => s.on('data', () => {}).on('end', () => s.end()))
server.listen(0, '127.0.0.1', () => {
  process.send({ port: server.address().port })
  process.once('message', () => {
    const c = net.connect(server.address().port, '127.0.0.1')
    const chunk = Buffer.alloc(1024 * 1024, 1)
    let sent = 0
    const t = Date.now()
    const pump = () => {
      while (sent < bytes) {
        sent += chunk.length
        if (!c.write(chunk)) return c.once('drain', pump)
      }
      c.end(() => process.send({ seconds: (Date.now() - t) / 1000 }, () => { server.close(); process.exit(0) }))
    }
    c.on('connect', pump)
  })
})
`
/** @param {number} bytes */
async function live(bytes) {
  const child = spawn(process.execPath, ['-e', TRANSFER, String(bytes)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  /** @returns {Promise<any>} */
  const msg = () => new Promise((r) => child.once('message', r))
  const { port } = await msg()
  const auditor = createTrafficAuditor()
  const ac = new AbortController()
  const capture = captureLive(auditor, {
    iface: 'lo',
    filter: `tcp port ${port}`,
    signal: ac.signal,
    bufferBytes: 256 * 1024 * 1024
  })
  // A capture that cannot start (no libpcap binding for this Node) rejects at once: stop the
  // transfer and let the caller print the skip, instead of an unhandled rejection ending the run.
  const failed = capture.then(
    () => new Promise(() => {}),
    (err) => {
      child.kill()
      throw err
    }
  )
  failed.catch(() => {}) // seen by the races below; `await capture` reports it after them
  await Promise.race([new Promise((r) => setTimeout(r, 300)), failed])
  child.send('go')
  const { seconds } = await Promise.race([msg(), failed])
  await new Promise((r) => setTimeout(r, 500))
  ac.abort()
  const r = await capture
  auditor.finish()
  console.log(
    `live: ${(bytes / 1e9).toFixed(1)} GB over loopback in ${seconds.toFixed(1)} s, captured ${r.packets} packets; libpcap received ${r.stats.received}, dropped ${r.stats.dropped}, interface dropped ${r.stats.ifDropped}; capture pipe dropped ${r.stats.userDropped}, headers-only ${r.stats.payloadShed}`
  )
  figure(
    'live-dropped',
    'live loopback capture: packets dropped',
    'packets',
    [r.stats.dropped + r.stats.ifDropped + r.stats.userDropped],
    { higherIsBetter: false }
  )
  figure('live-shed', 'live loopback capture: packets shed (headers only)', 'packets', [r.stats.payloadShed], {
    higherIsBetter: false
  })
  return { dropped: r.stats.dropped + r.stats.ifDropped + r.stats.userDropped, shed: r.stats.payloadShed, packets: r.packets }
}
/** @type {{ dropped: number, shed: number, packets: number } | undefined} */
let drops
if (process.getuid?.() === 0) {
  try {
    drops = await live(QUICK ? 200e6 : 1e9)
  } catch (err) {
    console.log(`live: skipped (${/** @type {Error} */ (err).message})`)
  }
} else console.log('live: skipped (needs root for libpcap)')

// ---------- goals ----------
const pg = pps.peerguard?.median ?? 0
const nr = pps['tcpdump -nr']?.median
console.log('\ngoals:')
if (nr !== undefined) console.log(`  >= 4x tcpdump -nr on the corpus mix: ${ratio(pg, nr)} (${pg / nr >= 4 ? 'met' : 'NOT met'})`)
const ts = pps['tshark -z conv,tcp']?.median
if (ts !== undefined) console.log(`  context: vs tshark -z conv,tcp ${ratio(pg, ts)}`)
if (drops !== undefined)
  console.log(
    `  live: nothing dropped or shed: ${drops.dropped} dropped, ${drops.shed} shed of ${drops.packets} (${drops.dropped + drops.shed === 0 ? 'met' : 'NOT met'})`
  )
process.exit(0)
