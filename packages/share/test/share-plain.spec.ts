import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { createHash, randomBytes } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectShare, createShareServer, type ShareClient, type ShareServer } from '@peerguard/share'
import { needs } from '@peerguard/test-utils'
// The wire codec is internal (SPEC.md describes the format); these tests speak it raw.
import { encodeFrame, FrameType, PREFACE } from '../src/frame.js'

let dir: string
let root: string
let outside: string
let server: ShareServer
let port: number
let client: ShareClient
let hasDevice = false
const device = needs('mknod', 'share-plain: a character device in the share (mknod)')

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-share-'))
  root = join(dir, 'docs')
  outside = join(dir, 'secret')
  await mkdir(root)
  await mkdir(outside)
  await writeFile(join(outside, 'passwd'), 'root:x:0:0\n')
  await writeFile(join(root, 'readme.txt'), 'hello share\n')
  await mkdir(join(root, 'sub'))
  await writeFile(join(root, 'sub', 'a.bin'), randomBytes(1000))
  await symlink(join(outside, 'passwd'), join(root, 'evil-link'))
  await symlink(outside, join(root, 'evil-dir'))
  await symlink('readme.txt', join(root, 'good-link'))
  execFileSync('mkfifo', [join(root, 'fifo')])
  try {
    execFileSync('mknod', [join(root, 'null-device'), 'c', '1', '3'], { stdio: 'ignore' })
    hasDevice = true
  } catch {
    hasDevice = false
  }
  server = createShareServer({ root, maxConcurrentPerPeer: 16 })
  ;({ port } = await server.listen({ host: '127.0.0.1' }))
  client = await connectShare({ host: '127.0.0.1', port })
})

afterAll(async () => {
  client.close()
  await server.close()
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

describe('share over loopback, plain mode', () => {
  it('lists, stats and reads', async () => {
    const { entries } = await client.list('')
    expect(entries.map((e) => e.name)).toEqual(expect.arrayContaining(['readme.txt', 'sub', 'evil-link']))
    expect(entries.find((e) => e.name === 'sub')?.type).toBe('dir')
    expect(await client.stat('readme.txt')).toMatchObject({ type: 'file', size: 12 })
    expect((await client.readFile('readme.txt')).toString()).toBe('hello share\n')
    // links are never followed, even inside the root (SPEC.md §5.1); list shows them, read refuses them
    expect(entries.find((e) => e.name === 'good-link')?.type).toBe('symlink')
    await expect(client.readFile('good-link')).rejects.toMatchObject({ code: 'share-symlink-refused' })
  })

  it('reads byte ranges', async () => {
    const chunks: Buffer[] = []
    const r = await client.read('readme.txt', (c) => void chunks.push(Buffer.from(c)), { offset: 6, length: 5 })
    expect(Buffer.concat(chunks).toString()).toBe('share')
    expect(r).toMatchObject({ size: 12, offset: 6, length: 5 })
    await expect(client.read('readme.txt', () => {}, { offset: 13 })).rejects.toMatchObject({ code: 'share-range-invalid' })
  })

  it('writes: create, overwrite, append, with the server verifying size and hash', async () => {
    await client.writeFile('new.txt', 'one', { mode: 'create' })
    await expect(client.writeFile('new.txt', 'two', { mode: 'create' })).rejects.toMatchObject({ code: 'share-already-exists' })
    await client.writeFile('new.txt', 'two')
    await client.writeFile('new.txt', '+three', { mode: 'append' })
    expect(await readFile(join(root, 'new.txt'), 'utf8')).toBe('two+three')
    const big = randomBytes(3 * 1024 * 1024 + 17)
    const r = await client.writeFile('big.bin', big)
    expect(r).toEqual({ size: big.length, sha256: sha(big) })
    expect(sha(await readFile(join(root, 'big.bin')))).toBe(sha(big))
    expect(sha(await client.readFile('big.bin'))).toBe(sha(big))
  })

  it('mkdir, rename and delete', async () => {
    await client.mkdir('x/y/z', { parents: true })
    await expect(client.mkdir('q/r')).rejects.toMatchObject({ code: 'share-not-found' })
    await client.writeFile('x/y/z/f.txt', 'f')
    await client.rename('x/y/z/f.txt', 'x/g.txt')
    await client.writeFile('x/h.txt', 'h')
    await expect(client.rename('x/g.txt', 'x/h.txt')).rejects.toMatchObject({ code: 'share-already-exists' })
    await client.rename('x/g.txt', 'x/h.txt', { overwrite: true })
    expect(await readFile(join(root, 'x/h.txt'), 'utf8')).toBe('f')
    await expect(client.delete('x/y')).rejects.toMatchObject({ code: 'share-directory-not-empty' })
    await client.delete('x/y/z')
    await client.delete('x/h.txt')
    await expect(client.stat('x/h.txt')).rejects.toMatchObject({ code: 'share-not-found' })
  })

  it.each([
    ['../secret/passwd', 'share-path-traversal'],
    ['sub/../../secret/passwd', 'share-path-traversal'],
    ['/etc/passwd', 'share-path-traversal'],
    ['C:/Windows/win.ini', 'share-path-traversal'],
    ['readme.txt\0.jpg', 'share-path-invalid'],
    ['sub\\..\\..\\secret', 'share-path-invalid'],
    ['a\nb', 'share-path-invalid'],
    ['.pgtmp-0123', 'share-path-invalid'],
    ['a'.repeat(256), 'share-path-too-long'],
    ['d/'.repeat(2100), 'share-path-too-long'],
    ['evil-link', 'share-symlink-escape'],
    ['evil-dir/passwd', 'share-symlink-escape'],
    ['fifo', 'share-not-regular-file']
  ])('refuses to read %j with %s', async (path, code) => {
    await expect(client.readFile(path.length > 200 ? `${path}f` : path)).rejects.toMatchObject({ code })
  })

  device.it('refuses to read a device with share-not-regular-file', async () => {
    expect(hasDevice).toBe(true)
    await expect(client.readFile('null-device')).rejects.toMatchObject({ code: 'share-not-regular-file' })
  })

  it('refuses writes that escape and leaves the outside untouched', async () => {
    await expect(client.writeFile('../secret/passwd', 'pwned')).rejects.toMatchObject({ code: 'share-path-traversal' })
    await expect(client.writeFile('evil-dir/passwd', 'pwned')).rejects.toMatchObject({ code: 'share-symlink-escape' })
    await expect(client.writeFile('evil-link', 'pwned')).rejects.toMatchObject({ code: 'share-symlink-escape' })
    await expect(client.writeFile('evil-dir/new', 'pwned')).rejects.toMatchObject({ code: 'share-symlink-escape' })
    await expect(client.mkdir('evil-dir/d')).rejects.toMatchObject({ code: 'share-symlink-escape' })
    await expect(client.rename('readme.txt', 'evil-dir/readme.txt')).rejects.toMatchObject({ code: 'share-symlink-escape' })
    await expect(client.delete('evil-dir/passwd')).rejects.toMatchObject({ code: 'share-symlink-escape' })
    await expect(client.writeFile('fifo', 'x')).rejects.toMatchObject({ code: 'share-not-regular-file' })
    await expect(client.list('evil-dir')).rejects.toMatchObject({ code: 'share-symlink-escape' })
    expect(await readFile(join(outside, 'passwd'), 'utf8')).toBe('root:x:0:0\n')
    expect(await readdir(outside)).toEqual(['passwd'])
  })

  it('an upload with the wrong hash or size changes nothing and leaves no temporary file', async () => {
    await writeFile(join(root, 'keep.txt'), 'old content')
    const id = 999
    const raw = await rawConnection()
    const data = Buffer.from('new content!')
    raw.send(FrameType.REQUEST, id, { op: 'write', path: 'keep.txt', mode: 'overwrite', size: data.length })
    expect(await raw.next()).toMatchObject({ ok: true, ready: true })
    raw.sendRaw(FrameType.DATA, id, data)
    raw.send(FrameType.END, id, { sha256: '0'.repeat(64) })
    expect(await raw.next()).toMatchObject({ ok: false, code: 'share-verify-failed' })
    raw.send(FrameType.REQUEST, id + 1, { op: 'write', path: 'keep.txt', mode: 'overwrite', size: 3 })
    expect(await raw.next()).toMatchObject({ ok: true, ready: true })
    raw.sendRaw(FrameType.DATA, id + 1, data)
    expect(await raw.next()).toMatchObject({ ok: false, code: 'share-verify-failed' })
    raw.close()
    expect(await readFile(join(root, 'keep.txt'), 'utf8')).toBe('old content')
    expect((await readdir(root)).filter((n) => n.startsWith('.pgtmp-'))).toEqual([])
  })

  it('a client killed in the middle of an upload leaves no partial file and the old content intact', async () => {
    await writeFile(join(root, 'victim.bin'), 'precious')
    const raw = await rawConnection()
    raw.send(FrameType.REQUEST, 1, { op: 'write', path: 'victim.bin', mode: 'overwrite', size: 10_000_000 })
    expect(await raw.next()).toMatchObject({ ok: true, ready: true })
    raw.sendRaw(FrameType.DATA, 1, randomBytes(500_000))
    await new Promise((r) => setTimeout(r, 100))
    expect((await readdir(root)).some((n) => n.startsWith('.pgtmp-'))).toBe(true)
    raw.kill()
    // the server removes it once it sees the connection gone (after a write in flight): up to 10 s
    for (let i = 0; i < 500 && (await readdir(root)).some((n) => n.startsWith('.pgtmp-')); i++)
      await new Promise((r) => setTimeout(r, 20))
    expect((await readdir(root)).filter((n) => n.startsWith('.pgtmp-'))).toEqual([])
    expect(await readFile(join(root, 'victim.bin'), 'utf8')).toBe('precious')
  })

  it('uploads past the background-sync interval (32 MiB) land whole; one cut off past it leaves nothing', async () => {
    const big = randomBytes(40 * 1024 * 1024 + 5)
    expect(await client.writeFile('large.bin', big)).toEqual({ size: big.length, sha256: sha(big) })
    expect(sha(await readFile(join(root, 'large.bin')))).toBe(sha(big))
    await writeFile(join(root, 'large-victim.bin'), 'precious')
    const raw = await rawConnection()
    raw.send(FrameType.REQUEST, 7, { op: 'write', path: 'large-victim.bin', mode: 'overwrite', size: 64 * 1024 * 1024 })
    expect(await raw.next()).toMatchObject({ ok: true, ready: true })
    const chunk = randomBytes(1024 * 1024)
    for (let i = 0; i < 36; i++) raw.sendRaw(FrameType.DATA, 7, chunk)
    // Wait until the server has written past the interval, then cut the connection.
    for (let i = 0; i < 600; i++) {
      const temps = (await readdir(root)).filter((n) => n.startsWith('.pgtmp-'))
      const sizes = await Promise.all(
        temps.map((n) =>
          stat(join(root, n)).then(
            (s) => s.size,
            () => 0
          )
        )
      )
      if (sizes.some((s) => s >= 34 * 1024 * 1024)) break
      await new Promise((r) => setTimeout(r, 50))
    }
    raw.kill()
    for (let i = 0; i < 600 && (await readdir(root)).some((n) => n.startsWith('.pgtmp-')); i++)
      await new Promise((r) => setTimeout(r, 50))
    expect((await readdir(root)).filter((n) => n.startsWith('.pgtmp-'))).toEqual([])
    expect(await readFile(join(root, 'large-victim.bin'), 'utf8')).toBe('precious')
  }, 120_000)

  it('concurrent writers to one path do not interleave; readers see whole versions', async () => {
    const versions = [randomBytes(2_000_000), randomBytes(2_000_000), randomBytes(2_000_000)]
    const clients = await Promise.all(versions.map(() => connectShare({ host: '127.0.0.1', port })))
    const reader = await connectShare({ host: '127.0.0.1', port })
    await writeFile(join(root, 'race.bin'), versions[0] as Buffer)
    const reads: Promise<Buffer>[] = []
    const writes = clients.map((c, i) => c.writeFile('race.bin', versions[i] as Buffer))
    for (let i = 0; i < 4; i++) reads.push(reader.readFile('race.bin'))
    await Promise.all(writes)
    const hashes = new Set(versions.map(sha))
    for (const r of await Promise.all(reads)) expect(hashes.has(sha(r))).toBe(true)
    expect(hashes.has(sha(await readFile(join(root, 'race.bin'))))).toBe(true)
    for (const c of [...clients, reader]) c.close()
  })

  it('appends from concurrent writers are all kept', async () => {
    await writeFile(join(root, 'log.txt'), '')
    const clients = await Promise.all([0, 1, 2, 3].map(() => connectShare({ host: '127.0.0.1', port })))
    await Promise.all(clients.map((c, i) => c.writeFile('log.txt', `line ${i}\n`, { mode: 'append' })))
    const lines = (await readFile(join(root, 'log.txt'), 'utf8')).trim().split('\n').sort()
    expect(lines).toEqual(['line 0', 'line 1', 'line 2', 'line 3'])
    for (const c of clients) c.close()
  })

  it('an interrupted download resumes by range', async () => {
    const data = randomBytes(5 * 1024 * 1024)
    await writeFile(join(root, 'movie.bin'), data)
    const local = join(dir, 'movie.bin')
    const c1 = await connectShare({ host: '127.0.0.1', port })
    let seen = 0
    await expect(
      c1.download('movie.bin', local, {
        onProgress: (p) => {
          seen = p.transferred
          if (p.transferred > 1_000_000) c1.close()
        }
      })
    ).rejects.toMatchObject({ code: 'share-connection-closed' })
    expect(seen).toBeGreaterThan(1_000_000)
    const partial = (await stat(`${local}.pgpart`)).size
    expect(partial).toBeGreaterThan(0)
    const c2 = await connectShare({ host: '127.0.0.1', port })
    const progress: number[] = []
    const r = await c2.download('movie.bin', local, { resume: true, onProgress: (p) => progress.push(p.transferred) })
    expect(r.resumedFrom).toBe(partial)
    expect(progress[progress.length - 1]).toBe(data.length)
    expect(sha(await readFile(local))).toBe(sha(data))
    c2.close()
  })

  it('refuses a resume when the file changed meanwhile', async () => {
    await writeFile(join(root, 'changing.bin'), randomBytes(1000))
    const st = await stat(join(root, 'changing.bin'))
    await writeFile(join(root, 'changing.bin'), randomBytes(2000))
    await expect(
      client.read('changing.bin', () => {}, { offset: 10, ifMatch: { size: st.size, mtimeMs: st.mtimeMs } })
    ).rejects.toMatchObject({ code: 'share-file-changed' })
  })

  it('limits concurrent operations per peer (plain mode: per source host)', async () => {
    await writeFile(join(root, 'slow.bin'), Buffer.alloc(48 * 1024 * 1024, 1)) // more than socket + send buffers hold
    const s = createShareServer({ root, maxConcurrentPerPeer: 4 })
    const { port: p } = await s.listen()
    const clients = await Promise.all([0, 1, 2, 3, 4].map(() => connectShare({ host: '127.0.0.1', port: p })))
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    // all four admitted and streaming (their first data arrived), not a 100 ms sleep: a stalled
    // server that had not taken them yet let the fifth through
    const started: Promise<void>[] = []
    const slow = clients.slice(0, 4).map((c) => {
      let onStart!: () => void
      started.push(
        new Promise<void>((r) => {
          onStart = r
        })
      )
      return c.read('slow.bin', () => gate, { onStart: () => onStart() })
    })
    await Promise.all(started)
    const fifth = clients[4] as ShareClient
    await expect(fifth.stat('readme.txt')).rejects.toMatchObject({ code: 'share-too-many-operations' })
    release()
    await Promise.all(slow)
    expect(await fifth.stat('readme.txt')).toMatchObject({ size: 12 })
    for (const c of clients) c.close()
    await s.close()
  })

  it('closes on a protocol violation and an oversized request', async () => {
    const raw = await rawConnection()
    raw.socket.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1]))
    await raw.closed
    const raw2 = await rawConnection()
    raw2.send(FrameType.REQUEST, 1, { op: 'list', path: 'x'.repeat(70_000) })
    expect(await raw2.next()).toMatchObject({ ok: false, code: 'share-request-too-large' })
    await raw2.closed
    const raw3 = await rawConnection()
    raw3.send(FrameType.REQUEST, 1, { op: 'format-disk' })
    expect(await raw3.next()).toMatchObject({ ok: false, code: 'invalid-argument' })
    raw3.send(FrameType.REQUEST, 2, { op: 'read', path: 42 })
    expect(await raw3.next()).toMatchObject({ ok: false, code: 'invalid-argument' })
    raw3.close()
    // the server is still fine
    expect(await client.stat('readme.txt')).toMatchObject({ size: 12 })
  })

  it('a client that is not a share client is refused at the preface', async () => {
    const refused = new Promise<{ code: string }>((r) => server.once('refused', r))
    const s = connect({ host: '127.0.0.1', port })
    const answer: Buffer[] = []
    s.on('data', (d: Buffer) => answer.push(d))
    await new Promise((r) => s.once('connect', r))
    s.write('GET / HTTP/1.1\r\n\r\n')
    await new Promise((r) => s.once('close', r))
    // closed by the server without a byte in answer (not even its preface), and counted as refused
    expect(Buffer.concat(answer)).toEqual(Buffer.alloc(0))
    expect(await refused).toMatchObject({ code: 'share-protocol-error' })
    expect(await client.stat('readme.txt')).toMatchObject({ type: 'file' })
  })
})

describe('share server limits and arguments', () => {
  it('closes idle connections', async () => {
    const s = createShareServer({ root, idleTimeoutMs: 150 })
    const { port: p } = await s.listen()
    const c = await connectShare({ host: '127.0.0.1', port: p })
    // waited for (up to 10 s), not a fixed 500 ms a stalled machine could outlast
    for (let i = 0; i < 200 && !c.closed; i++) await new Promise((r) => setTimeout(r, 50))
    expect(c.closed).toBe(true)
    await expect(c.stat('readme.txt')).rejects.toMatchObject({ code: 'share-connection-closed' })
    await s.close()
  })

  it('checks its arguments', async () => {
    expect(() => createShareServer({ root: join(dir, 'missing') })).toThrow(/not an existing directory/)
    expect(() => createShareServer(null as never)).toThrow(/options/)
    expect(() => createShareServer({ root, maxConcurrentPerPeer: 0 })).toThrow(/maxConcurrentPerPeer/)
    expect(() => createShareServer({ root, shareName: 'a/b' })).toThrow(/shareName/)
    expect(() =>
      createShareServer({
        root,
        transport: { mode: 'hardened', accept: async () => ({}) as never, connect: async () => ({}) as never }
      })
    ).toThrow(/authorize/)
    await expect(connectShare('nonsense')).rejects.toMatchObject({ code: 'invalid-argument' })
    await expect(connectShare({ host: '127.0.0.1', port: 0 })).rejects.toMatchObject({ code: 'invalid-argument' })
    await expect(client.write('x', 'str' as never)).rejects.toMatchObject({ code: 'invalid-argument' })
    await expect(client.read(5 as never, () => {})).rejects.toMatchObject({ code: 'invalid-argument' })
    for (const f of [
      () => client.list(7 as never),
      () => client.stat(null as never),
      () => client.delete(''),
      () => client.rename('a', {} as never),
      () => client.mkdir([] as never),
      () => client.write('x', Buffer.from('y'), { mode: 'truncate' as never }),
      () => client.write('x', (async function* () {})(), {}),
      () => client.upload('', 'x'),
      () => client.download('x', '')
    ])
      await expect(f()).rejects.toMatchObject({ code: 'invalid-argument' })
  })
})

async function rawConnection() {
  const socket = connect({ host: '127.0.0.1', port })
  await new Promise((r) => socket.once('connect', r))
  socket.write(PREFACE)
  const replies: Array<Record<string, unknown>> = []
  const waiters: Array<(v: Record<string, unknown>) => void> = []
  let buf = Buffer.alloc(0)
  let gotPreface = false
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d])
    if (!gotPreface && buf.length >= 8) {
      gotPreface = true
      buf = buf.subarray(8)
    }
    while (gotPreface && buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const len = buf.readUInt32BE(0)
      const type = buf[4]
      const payload = buf.subarray(9, 4 + len)
      buf = buf.subarray(4 + len)
      if (type === FrameType.REPLY || type === FrameType.END) {
        const v = JSON.parse(payload.toString())
        const w = waiters.shift()
        if (w) w(v)
        else replies.push(v)
      }
    }
  })
  const closed = new Promise((r) => socket.once('close', r))
  socket.on('error', () => {})
  return {
    socket,
    closed,
    send: (type: 1 | 2 | 3 | 4 | 5, id: number, v: unknown) =>
      socket.write(Buffer.concat(encodeFrame(type, id, Buffer.from(JSON.stringify(v))))),
    sendRaw: (type: 1 | 2 | 3 | 4 | 5, id: number, b: Uint8Array) => socket.write(Buffer.concat(encodeFrame(type, id, b))),
    next: (): Promise<Record<string, unknown>> => {
      const r = replies.shift()
      return r ? Promise.resolve(r) : new Promise((res) => waiters.push(res))
    },
    close: () => socket.end(),
    kill: () => socket.destroy()
  }
}
