/**
 * The control socket: mode 0600, one JSON line each way; a live socket means another node runs; a
 * stale one (its node killed) is replaced; a file that is not a socket is never replaced.
 */
import { spawn } from 'node:child_process'
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { PeerguardError } from '@peerguard/interface'
import { askControl, controlSocketPath, listenControl } from '../src/node/control.js'

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-ctl-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('control socket', () => {
  it('answers status and reload, is 0600, and refuses a second node on the same socket', async () => {
    const path = join(dir, 'a', 'node.sock')
    const control = await listenControl(path, async (cmd) => ({ asked: cmd }))
    try {
      expect((await stat(path)).mode & 0o777).toBe(0o600)
      expect((await stat(join(dir, 'a'))).mode & 0o777).toBe(0o700)
      await expect(askControl(path, 'status')).resolves.toEqual({ asked: 'status' })
      await expect(askControl(path, 'reload')).resolves.toEqual({ asked: 'reload' })
      await expect(listenControl(path, async () => 1)).rejects.toMatchObject({ code: 'node-already-running' })
    } finally {
      await control.close()
    }
    await expect(askControl(path, 'status')).rejects.toMatchObject({ code: 'node-control-unavailable' })
  })

  it("passes the node's typed errors through", async () => {
    const path = join(dir, 'e', 'node.sock')
    const control = await listenControl(path, async () => {
      throw new PeerguardError('node-control-unavailable', 'the node is starting')
    })
    try {
      await expect(askControl(path, 'status')).rejects.toMatchObject({
        code: 'node-control-unavailable',
        message: 'the node is starting'
      })
    } finally {
      await control.close()
    }
  })

  it('replaces a stale socket left by a killed node', async () => {
    const path = join(dir, 'b', 'node.sock')
    await mkdir(join(dir, 'b'), { mode: 0o700 })
    const child = spawn(
      process.execPath,
      ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`],
      { stdio: ['ignore', 'pipe', 'inherit'] }
    )
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()))
    const exited = new Promise((r) => child.once('exit', r))
    child.kill('SIGKILL')
    await exited
    expect((await stat(path)).isSocket()).toBe(true)
    const control = await listenControl(path, async () => 'fresh')
    try {
      await expect(askControl(path, 'status')).resolves.toBe('fresh')
    } finally {
      await control.close()
    }
  })

  it('never replaces a file that is not a socket, nor uses a directory others can write or enter', async () => {
    await mkdir(join(dir, 'c'), { mode: 0o700 })
    await writeFile(join(dir, 'c', 'node.sock'), 'precious')
    await expect(listenControl(join(dir, 'c', 'node.sock'), async () => 1)).rejects.toMatchObject({
      code: 'node-control-foreign'
    })
    await expect(askControl(join(dir, 'c', 'node.sock'), 'status')).rejects.toMatchObject({ code: 'node-control-foreign' })
    await mkdir(join(dir, 'd'))
    await chmod(join(dir, 'd'), 0o777)
    await expect(listenControl(join(dir, 'd', 'node.sock'), async () => 1)).rejects.toMatchObject({
      code: 'node-control-foreign'
    })
    // Not writable but open (0755): between listen() and chmod the socket has the umask's mode, and
    // only a closed directory keeps other users from connecting in that window.
    await mkdir(join(dir, 'open'))
    await chmod(join(dir, 'open'), 0o755)
    await expect(listenControl(join(dir, 'open', 'node.sock'), async () => 1)).rejects.toMatchObject({
      code: 'node-control-foreign',
      message: `${join(dir, 'open')}: the runtime directory is open to other users (mode 755; chmod 700 it)`
    })
  })

  it('defaults to $XDG_RUNTIME_DIR/peerguard/node.sock', () => {
    const before = process.env.XDG_RUNTIME_DIR
    process.env.XDG_RUNTIME_DIR = '/run/user/1000'
    try {
      expect(controlSocketPath()).toBe('/run/user/1000/peerguard/node.sock')
      expect(controlSocketPath('/var/run/pg')).toBe('/var/run/pg/node.sock')
    } finally {
      if (before === undefined) delete process.env.XDG_RUNTIME_DIR
      else process.env.XDG_RUNTIME_DIR = before
    }
  })
})
