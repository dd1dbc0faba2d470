// @ts-check
// The loopback link's limit, for the channel and proxy benchmarks: the fastest plain-TCP copy Node
// can do (sender in a child process so both cores work, 1 MiB writes, receiver only counting) and
// socat from Debian (C, read/write with 1 MiB buffers, /dev/zero to /dev/null) and iperf3 from
// Debian (C, the usual link-test tool: 128 KiB writes from memory, its own clock from the test's
// start to the last byte received). All are ceilings, not contenders: they encrypt nothing. socat's
// time includes spawning its two processes (a few ms against about a second of transfer); iperf3's
// excludes its start-up (its own figure, as `iperf3 -c` reports it).
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'

/** @param {import('node:net').Server} server @returns {Promise<number>} */
const listen = (server) =>
  new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(/** @type {import('node:net').AddressInfo} */ (server.address()).port))
  )

// A sender in a child process: connects, writes `bytes` zero bytes in 1 MiB writes, ends.
const SENDER = `
const { connect } = require('node:net')
const [port, bytes] = process.argv.slice(1).map(Number)
const s = connect({ port, host: '127.0.0.1' }, () => {
  const chunk = Buffer.alloc(1 << 20)
  let sent = 0
  const pump = () => {
    while (sent < bytes) {
      sent += chunk.length
      if (!s.write(chunk)) return void s.once('drain', pump)
    }
    s.end()
  }
  pump()
})`

/**
 * MB/s (10^6 bytes) of `bytes` sent by a child Node process to this one over loopback TCP, timed
 * from the connection's arrival to the last byte.
 * @param {number} bytes @returns {Promise<number>}
 */
export async function nodeCeiling(bytes) {
  /** @type {(v: number) => void} */
  let done = () => {}
  const finished = new Promise((r) => {
    done = r
  })
  let start = 0
  const server = createServer((s) => {
    start = performance.now()
    let n = 0
    s.on('data', (d) => {
      n += d.length
      if (n >= bytes) done(performance.now())
    })
  })
  const port = await listen(server)
  const child = spawn(process.execPath, ['-e', SENDER, String(port), String(bytes)], { stdio: 'ignore' })
  const end = await finished
  child.kill()
  server.close()
  return bytes / 1e6 / ((end - start) / 1000)
}

/** @param {string[]} args @returns {Promise<void>} */
function run(args) {
  return new Promise((resolve, reject) => {
    const p = spawn('socat', args, { stdio: ['ignore', 'ignore', 'pipe'] })
    let err = ''
    p.stderr.on('data', (d) => {
      err += d
    })
    p.once('error', reject)
    p.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`socat ${args.join(' ')}: exit ${code}: ${err}`))))
  })
}

/**
 * MB/s of `bytes` from socat to socat over loopback TCP (processes spawned inside the clock), or
 * undefined when socat is not installed.
 * @param {number} bytes @returns {Promise<number | undefined>}
 */
export async function socatCeiling(bytes) {
  const probe = createServer()
  const port = await listen(probe)
  await new Promise((r) => probe.close(r))
  const B = String(1 << 20)
  const start = performance.now()
  try {
    const receiver = run(['-u', '-b', B, `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr`, 'OPEN:/dev/null,wronly'])
    const sender = run(['-u', '-b', B, `OPEN:/dev/zero,readbytes=${bytes}`, `TCP:127.0.0.1:${port},retry=100,interval=0.01`])
    await Promise.all([receiver, sender])
  } catch (err) {
    if (/** @type {NodeJS.ErrnoException} */ (err).code === 'ENOENT') return undefined
    throw err
  }
  return bytes / 1e6 / ((performance.now() - start) / 1000)
}

/**
 * MB/s of `bytes` from an iperf3 client to an iperf3 server over loopback TCP, as iperf3 reports
 * it (the receiver's bytes over its seconds), or undefined when iperf3 is not installed.
 * @param {number} bytes @returns {Promise<number | undefined>}
 */
export async function iperf3Ceiling(bytes) {
  const probe = createServer()
  const port = await listen(probe)
  await new Promise((r) => probe.close(r))
  return iperf3Between({ bind: '127.0.0.1', connect: '127.0.0.1', port, bytes, server: [], client: [] })
}

/**
 * One iperf3 run: a server on `bind:port` (command prefix `server`, e.g. `ip netns exec b`), a
 * client (prefix `client`) sending `bytes` to `connect:connectPort` (default `port`; another port
 * when a proxy is in between). MB/s as iperf3's receiver counts it, or undefined when iperf3 is
 * not installed.
 * `onSent` receives iperf3's sender summary (bytes, seconds, retransmits).
 * @param {{ bind: string, connect: string, port: number, connectPort?: number, bytes: number, server: string[], client: string[], onSent?: (sent: { retransmits?: number }) => void }} o
 * @returns {Promise<number | undefined>}
 */
export async function iperf3Between(o) {
  /** @param {string[]} prefix @param {string[]} args */
  const cmd = (prefix, args) => {
    const all = [...prefix, 'iperf3', ...args]
    return spawn(/** @type {string} */ (all[0]), all.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
  }
  const server = cmd(o.server, ['-s', '--forceflush', '-B', o.bind, '-p', String(o.port)])
  try {
    const up = await new Promise((resolve, reject) => {
      let out = ''
      server.once('error', (err) => (/** @type {NodeJS.ErrnoException} */ (err).code === 'ENOENT' ? resolve(false) : reject(err)))
      server.once('exit', (code) => reject(new Error(`iperf3 server exited ${code}: ${out}`)))
      server.stderr.on('data', (d) => {
        out += d
      })
      server.stdout.on('data', (d) => {
        out += d
        if (out.includes('Server listening')) resolve(true)
      })
    })
    if (!up) return undefined
    const client = cmd(o.client, ['-c', o.connect, '-p', String(o.connectPort ?? o.port), '-n', String(o.bytes), '-J'])
    let json = ''
    client.stdout.on('data', (d) => {
      json += d
    })
    const code = await new Promise((resolve, reject) => {
      client.once('error', reject)
      client.once('close', resolve)
    })
    if (code !== 0) throw new Error(`iperf3 client exited ${code}: ${json.slice(0, 500)}`)
    const { end } = JSON.parse(json)
    o.onSent?.(end.sum_sent)
    const sum = end.sum_received
    return sum.bytes / 1e6 / sum.seconds
  } finally {
    server.removeAllListeners('exit')
    if (server.exitCode === null && server.signalCode === null) {
      const exited = new Promise((r) => server.once('exit', r))
      server.kill('SIGTERM')
      await exited
    }
  }
}
