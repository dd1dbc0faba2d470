#!/usr/bin/env node
// @ts-check
// One end of a bulk transfer for bench/netns.bench.js, run inside a network namespace
// (`ip netns exec <ns> node bench/netns-peer.js …`): the same Node sender and receiver over plain
// TCP (through a Nebula tunnel, or the bare veth) or over the peerguard channel (Noise, certificate
// chains checked on both sides; credentials from a JSON file, see bench/share-server.js).
//   recv <tcp|channel> <host> <port> <bytes> [creds.json]   prints "listening <port>", answers "ok"
//                                                           after <bytes>, then exits
//   send <tcp|channel> <host> <port> <bytes> [creds.json]   prints {"mbs": …}: MB/s from the first
//                                                           write (after the handshake) to the answer
// 64 KiB writes; MB = 10^6 bytes.
import { readFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { createListener, secureOutbound } from '@peerguard/channel'
import { credsChannelOptions } from './share-server.js'

const [role, kind, host = '', portArg, bytesArg, credsFile] = process.argv.slice(2)
const port = Number(portArg)
const bytes = Number(bytesArg)
const options = kind === 'channel' ? credsChannelOptions(JSON.parse(readFileSync(String(credsFile), 'utf8'))) : undefined

/** Count `bytes`, answer "ok", exit. @param {import('node:stream').Duplex} s */
function receive(s) {
  let n = 0
  s.on('error', () => {})
  s.on('data', (d) => {
    n += d.length
    if (n >= bytes) s.end('ok', () => setTimeout(() => process.exit(0), 200))
  })
}

if (role === 'recv') {
  /** @type {import('node:net').Server} */
  let server
  if (options === undefined) server = createServer(receive)
  else {
    const l = createListener(options, receive)
    l.on('handshakeError', (err) => console.error(`netns-peer: handshake failed: ${err.message}`))
    server = l.server
  }
  server.listen(port, host, () => {
    const a = /** @type {import('node:net').AddressInfo} */ (server.address())
    console.log(`listening ${a.port}`)
  })
} else if (role === 'send') {
  const socket = await new Promise((resolve, reject) => {
    const s = connect({ host, port }, () => resolve(s))
    s.once('error', reject)
  })
  /** @type {import('node:stream').Duplex} */
  const s = options === undefined ? socket : await secureOutbound(socket, options)
  const answered = new Promise((resolve) => s.once('data', resolve))
  const chunk = Buffer.alloc(64 * 1024, 0x5a)
  const start = performance.now()
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (!s.write(chunk)) await new Promise((r) => s.once('drain', r))
  }
  await answered
  const seconds = (performance.now() - start) / 1000
  console.log(JSON.stringify({ mbs: bytes / 1e6 / seconds }))
  s.destroy()
  process.exit(0)
} else {
  console.error('usage: netns-peer.js recv|send tcp|channel <host> <port> <bytes> [creds.json]')
  process.exit(2)
}
