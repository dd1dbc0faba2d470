// @ts-check
// Throughput (MB/s) and connections per second through a TCP proxy pair (client → server →
// target) on loopback: a direct TCP connection (the ceiling), the peerguard proxy over its Noise
// channel and over TLS 1.3, and stunnel4 (TLS 1.3, mutual certificate verification, the same
// client+server shape) when it is installed. The proxies run as separate processes (the built
// `peerguard` binary, stunnel4); the load generator and the target share this process.
// Run: node bench/proxy.bench.js [--quick]   (or: npm run bench -- proxy). Needs a build.
//
// MB = 10^6 bytes. Rounds alternate the paths; medians are reported and recorded. Connections per
// second are warm on both sides: stunnel's client resumes TLS sessions (its default), the peerguard
// proxy keeps its channel caches (static key and signature, verified bindings and chains).
// Goal (issue 15): peerguard proxy throughput >= 1.0x stunnel's.
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { at, figure, show } from './lib.js'
import { cpuMs } from './proc-cpu.js'
import { proxyClientArgs, proxyServerArgs, startPeerguardProxy, writeProxyFixtures } from './proxy-fixtures.js'

const QUICK = process.argv.includes('--quick')
const BYTES = (QUICK ? 32 : 128) * 1024 * 1024
const CONN_MS = QUICK ? 700 : 2000
/** Rounds, alternating the paths: a shared, loaded machine skews any single run. */
const ROUNDS = QUICK ? 1 : 3
const CONCURRENCY = 16
const dir = mkdtempSync(join(tmpdir(), 'peerguard-proxy-bench-'))
/** @type {import('node:child_process').ChildProcess[]} */
const children = []
const cleanup = () => {
  for (const c of children) c.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
}
process.on('exit', cleanup)

// ---- fixtures: one CA, a server and a client peer, files for peerguard and stunnel ----
const peers = await writeProxyFixtures(dir)

// ---- the target: counts bytes and answers on end (throughput), or echoes (connections) ----
const target = createServer({ allowHalfOpen: true }, (s) => {
  let n = 0
  s.on('data', (c) => {
    if (n === 0 && c.length === 1 && c[0] === 0x2a) {
      s.end(c) // a one-byte ping: echo and close
      return
    }
    n += c.length
  })
  s.on('end', () => s.end(`${n}`))
  s.on('error', () => {})
})
await new Promise((r) => target.listen(0, '127.0.0.1', () => r(undefined)))
/** @param {import('node:net').Server} s */
const portOf = (s) => /** @type {import('node:net').AddressInfo} */ (s.address()).port
const targetPort = portOf(target)

async function freePort() {
  const s = createServer()
  await new Promise((r) => s.listen(0, '127.0.0.1', () => r(undefined)))
  const p = portOf(s)
  await new Promise((r) => s.close(() => r(undefined)))
  return p
}

/** @param {number} port @returns {Promise<void>} */
function waitPort(port, ms = 90_000) {
  const end = Date.now() + ms
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = connect({ port, host: '127.0.0.1' })
      s.once('connect', () => {
        s.destroy()
        resolve()
      })
      s.once('error', () => {
        if (Date.now() > end) reject(new Error(`nothing listens on ${port}`))
        else setTimeout(attempt, 50)
      })
    }
    attempt()
  })
}

/** @param {boolean} tls */
async function peerguardPair(tls) {
  const server = await startPeerguardProxy(proxyServerArgs({ listen: '127.0.0.1:0', target: `127.0.0.1:${targetPort}`, tls }), {
    cwd: dir,
    children
  })
  const client = await startPeerguardProxy(
    proxyClientArgs({ listen: '127.0.0.1:0', connect: `127.0.0.1:${server.port}`, peerId: peers.server.peerId, tls }),
    { cwd: dir, children }
  )
  return { port: client.port, pids: [server.pid, client.pid] }
}

function haveStunnel() {
  return spawnSync('stunnel4', ['-version'], { stdio: 'ignore' }).error === undefined
}

async function stunnelPair() {
  const serverPort = await freePort()
  const clientPort = await freePort()
  /** @param {string} name @param {string} body */
  const conf = (name, body) => {
    const path = join(dir, `stunnel-${name}.conf`)
    writeFileSync(path, `foreground = yes\npid =\ndebug = 3\noutput = ${join(dir, `stunnel-${name}.log`)}\n${body}\n`)
    return path
  }
  const common = `sslVersionMin = TLSv1.3\nverifyChain = yes\nCAfile = ${join(dir, 'root.pem')}\nCRLfile = ${join(dir, 'crl.pem')}\n`
  const s = conf(
    'server',
    `[srv]\naccept = 127.0.0.1:${serverPort}\nconnect = 127.0.0.1:${targetPort}\ncert = ${join(dir, 'server.pem')}\nkey = ${join(dir, 'server.key.pem')}\n${common}`
  )
  const c = conf(
    'client',
    `[cli]\nclient = yes\naccept = 127.0.0.1:${clientPort}\nconnect = 127.0.0.1:${serverPort}\ncert = ${join(dir, 'client.pem')}\nkey = ${join(dir, 'client.key.pem')}\n${common}`
  )
  /** @type {(number | undefined)[]} */
  const pids = []
  for (const path of [s, c]) {
    const child = spawn('stunnel4', [path], { stdio: 'ignore' })
    children.push(child)
    pids.push(child.pid)
  }
  await waitPort(serverPort)
  await waitPort(clientPort)
  return { port: clientPort, pids }
}

/** Send BYTES through `port`, half-close, wait for the target's byte count. MB/s. */
/** @param {number} port @returns {Promise<number>} */
function throughput(port) {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(64 * 1024, 7)
    const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true })
    let answer = ''
    let sent = 0
    let t0 = 0
    /** @returns {void} */
    const pump = () => {
      while (sent < BYTES) {
        sent += chunk.length
        if (!s.write(chunk)) {
          s.once('drain', pump)
          return
        }
      }
      s.end()
    }
    s.on('connect', () => {
      t0 = performance.now()
      pump()
    })
    s.on('data', (c) => {
      answer += c
    })
    s.on('end', () => {
      const ms = performance.now() - t0
      if (Number(answer) !== BYTES) reject(new Error(`target saw ${answer} bytes, expected ${BYTES}`))
      else resolve(BYTES / 1e6 / (ms / 1000))
      s.destroy()
    })
    s.on('error', reject)
  })
}

/** Open, ping one byte, read the echo, close; CONCURRENCY at a time for CONN_MS. Connections/s. */
/** @param {number} port */
async function connectionsPerSecond(port) {
  /** @returns {Promise<void>} */
  const once = () =>
    new Promise((resolve, reject) => {
      const s = connect({ port, host: '127.0.0.1' })
      s.on('connect', () => s.write(Buffer.from([0x2a])))
      s.once('data', () => {
        s.destroy()
        resolve()
      })
      s.on('error', reject)
      s.on('close', () => resolve())
    })
  await once() // warm
  let done = 0
  const start = performance.now()
  const worker = async () => {
    while (performance.now() - start < CONN_MS) {
      await once()
      done++
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  return (done * 1000) / (performance.now() - start)
}

/** @type {{ name: string, port: number, pids: (number | undefined)[] }[]} */
const paths = [{ name: 'direct TCP (no proxy)', port: targetPort, pids: [] }]
paths.push({ name: 'peerguard proxy, Noise', ...(await peerguardPair(false)) })
paths.push({ name: 'peerguard proxy, TLS 1.3', ...(await peerguardPair(true)) })
const stunnel = haveStunnel()
if (stunnel) paths.push({ name: 'stunnel4, TLS 1.3', ...(await stunnelPair()) })
for (const { port } of paths) await throughput(port).catch(() => 0) // warm every path up

// CPU per MB of the two proxy processes: what the proxy costs, whatever else runs on the machine
/** @type {{ mbs: number[], cps: number[], cpu: number[] }[]} */
const runs = paths.map(() => ({ mbs: [], cps: [], cpu: [] }))
for (let round = 0; round < ROUNDS; round++) {
  for (const [i, { port, pids }] of paths.entries()) {
    const before = cpuMs(pids)
    const r = at(runs, i)
    r.mbs.push(await throughput(port))
    r.cpu.push((cpuMs(pids) - before) / (BYTES / 1e6))
    r.cps.push(await connectionsPerSecond(port))
  }
}
const KEYS = ['direct', 'noise', 'tls', 'stunnel']
const rows = paths.map(({ name }, i) => {
  const k = KEYS[i]
  const direct = name.startsWith('direct')
  const mbs = figure(`mbs-${k}`, `proxy pair throughput: ${name}`, 'MB/s', at(runs, i).mbs)
  const cps = figure(`cps-${k}`, `proxy pair connections (${CONCURRENCY} in parallel): ${name}`, 'conn/s', at(runs, i).cps)
  const cpu = direct
    ? undefined
    : figure(`cpu-${k}`, `proxy CPU per MB: ${name}`, 'ms/MB', at(runs, i).cpu, { higherIsBetter: false })
  return { name, mbs: mbs.median, cps: cps.median, cpuPerMB: cpu?.median ?? Number.NaN, mbsS: mbs, cpsS: cps }
})

console.log(
  `proxy pair on loopback: ${BYTES / 1024 / 1024} MiB upload per run, connections with ${CONCURRENCY} in parallel for ${CONN_MS} ms; ${ROUNDS} alternating round(s), median; MB = 10^6 bytes`
)
for (const r of rows)
  console.log(
    `  ${r.name.padEnd(28)} ${show(r.mbsS, 'MB/s').padEnd(34)} ${show(r.cpsS, 'conn/s').padEnd(36)} ${r.name.startsWith('direct') ? '' : `proxy CPU ${r.cpuPerMB.toFixed(2)} ms/MB`}`
  )
const st = rows.find((r) => r.name.startsWith('stunnel'))
for (const r of rows.filter((x) => x.name.startsWith('peerguard'))) {
  if (st) {
    const ratio = r.mbs / st.mbs
    console.log(
      `${r.name}: throughput ${ratio.toFixed(2)}x stunnel (goal >= 1.0x: ${ratio >= 1 ? 'met' : 'NOT met'}), connections ${(r.cps / st.cps).toFixed(2)}x, CPU per MB ${(r.cpuPerMB / st.cpuPerMB).toFixed(2)}x stunnel's`
    )
  }
  console.log(`${r.name}: ${((r.mbs / at(rows, 0).mbs) * 100).toFixed(0)}% of direct TCP throughput`)
}
if (!st) console.log('stunnel4 not installed (apt-get install stunnel4): no anchor, goal not checked')
target.close()
cleanup()
process.exit(0)
