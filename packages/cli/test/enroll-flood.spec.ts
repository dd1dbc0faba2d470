/**
 * The CA node's enrollment host under a connection flood: an unauthenticated client gets no disk
 * work before the handshake limits and the channel (the host used to re-read every token file on
 * each TCP connection), and then only the one token it names; a real joiner still gets in.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { TokenStore } from '@peerguard/workspace'
import { bufferedIO } from '../src/io.js'
import { readCertificates, readKey } from '../src/common.js'
import { type EnrollmentHost, startEnrollmentHost } from '../src/node/enrollment-node.js'
import { type CliRun, runCli } from './run-cli.js'
import { makeCliCa } from './cli-ca.js'

jest.setTimeout(120_000)

let dir: string

async function ok(...args: string[]): Promise<CliRun> {
  const r = await runCli(args, { cwd: dir })
  if (r.code !== 0) throw new Error(`peerguard ${args.join(' ')}: exit ${r.code}\n${r.stderr}`)
  return r
}

/** Connect, send a few junk bytes, and resolve when the host has closed the connection. */
function junkConnection(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => s.end(Buffer.from('GET / HTTP/1.0\r\n\r\n')))
    s.on('error', () => resolve())
    s.on('close', () => resolve())
    s.resume()
  })
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'peerguard-enroll-flood-'))
  await makeCliCa(dir, { caName: 'Flood Test CA', members: [{ name: 'admin', groups: ['admins'] }] })
}, 120_000)

afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('enrollment host under a connection flood', () => {
  it('reads no token file for connections that never complete a handshake; the joiner still enrolls', async () => {
    // tokens filed before the host starts (read once, at start) and one joiner's
    for (let i = 0; i < 5; i++) await ok('ca', 'token', '--ca', 'ca', '--name', `spare${i}`, '--ttl', '10m')
    const reads: string[] = []
    const tokens = new TokenStore(join(dir, 'ca'), {
      reader: async (path, maxBytes) => {
        reads.push(path)
        const text = await readFile(path, 'utf8')
        if (text.length > maxBytes) throw new Error('record too large')
        return text
      }
    })
    const io = bufferedIO()
    const host: EnrollmentHost = await startEnrollmentHost({
      caDir: join(dir, 'ca'),
      passphraseFile: join(dir, 'ca.pass'),
      identity: await readKey(join(dir, 'admin.key'), undefined),
      chain: await readCertificates(join(dir, 'admin.pem')),
      listen: { host: '127.0.0.1', port: 0 },
      io,
      json: false,
      tokens
    })
    try {
      const atStart = reads.length
      expect(atStart).toBe(5)
      const made = await ok('ca', 'token', '--ca', 'ca', '--name', 'carol', '--ttl', '10m', '--address', host.address)
      const port = Number(host.address.split(':')[1])
      await Promise.all(Array.from({ length: 60 }, () => junkConnection(port)))
      expect(reads.length).toBe(atStart) // 60 connections, not one token read
      const joined = await ok('join', made.stdout.trim(), '--dir', 'carol')
      expect(joined.stdout).toMatch(/^joined as carol/)
      // the joiner's token only: looked up, secret checked, claimed — a handful of reads of one file
      const joinReads = reads.slice(atStart)
      expect(joinReads.length).toBeGreaterThan(0)
      expect(joinReads.length).toBeLessThanOrEqual(4)
      expect(new Set(joinReads).size).toBe(1)
      expect(io.stdout.join('\n')).toMatch(/enrolled carol as /)
    } finally {
      await host.close()
    }
  })

  it('coalesces concurrent reads of the same token into one read of its file', async () => {
    const made = await ok('ca', 'token', '--ca', 'ca', '--name', 'dave', '--ttl', '10m', '--json')
    const record = JSON.parse(made.stdout) as { tokenId: string }
    let reads = 0
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const tokens = new TokenStore(join(dir, 'ca'), {
      reader: async (path) => {
        reads++
        await gate
        return readFile(path, 'utf8')
      }
    })
    const id = new Uint8Array(Buffer.from(record.tokenId, 'hex'))
    const lookups = Array.from({ length: 20 }, () => tokens.lookup(id))
    release()
    const got = await Promise.all(lookups)
    expect(reads).toBe(1)
    for (const r of got) expect(r.name).toBe('dave')
    // settled reads are not cached: a later lookup reads the file again (a claim meanwhile counts)
    await tokens.lookup(id)
    expect(reads).toBe(2)
  })
})
