/**
 * The control socket of `peerguard node`: a unix socket, mode 0600, in a directory only its owner
 * can write (`runtime-dir`, else `$XDG_RUNTIME_DIR/peerguard`, else `<tmpdir>/peerguard-<uid>`).
 * One JSON line in (`{"cmd":"status"}` or `{"cmd":"reload"}`), one JSON line out. A socket or
 * directory owned by someone else is refused (node-control-foreign); a stale socket left by a
 * killed node is replaced; a live one means another node runs (node-already-running).
 */
import { lstat, mkdir, unlink, chmod } from 'node:fs/promises'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isPeerguardCode, PeerguardError } from '@peerguard/interface'

/** A request line longer than this is not a control request. */
const MAX_LINE = 4096
/** How long a client waits for the node's answer (a reload re-reads every file). */
const CLIENT_TIMEOUT_MS = 60_000

const uid = (): number => process.getuid?.() ?? -1

/** The control socket path for a runtime dir given by the config (or the default one). */
export function controlSocketPath(runtimeDir?: string): string {
  const dir =
    runtimeDir ??
    (process.env.XDG_RUNTIME_DIR !== undefined && process.env.XDG_RUNTIME_DIR !== ''
      ? join(process.env.XDG_RUNTIME_DIR, 'peerguard')
      : join(tmpdir(), `peerguard-${uid()}`))
  return join(dir, 'node.sock')
}

async function ownDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const s = await lstat(dir)
  if (!s.isDirectory() || s.uid !== uid())
    throw new PeerguardError('node-control-foreign', `${dir}: the runtime directory is not a directory owned by this user`)
  // Not only unwritable: closed. Between listen() and chmod the socket has the umask's mode, so
  // the directory is what keeps other users from connecting in that window.
  if ((s.mode & 0o077) !== 0)
    throw new PeerguardError(
      'node-control-foreign',
      `${dir}: the runtime directory is open to other users (mode ${(s.mode & 0o777).toString(8)}; chmod 700 it)`
    )
}

/** Refuse a path that is not a socket of ours; resolves false when there is nothing there. */
async function checkSocket(path: string): Promise<boolean> {
  const s = await lstat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined
    throw new PeerguardError('io-error', `${path}: ${err.code ?? err.message}`, { cause: err })
  })
  if (s === undefined) return false
  if (!s.isSocket())
    throw new PeerguardError('node-control-foreign', `${path}: exists and is not a socket; refusing to replace it`)
  if (s.uid !== uid())
    throw new PeerguardError('node-control-foreign', `${path}: the control socket belongs to uid ${s.uid}, not this user`)
  return true
}

function tryConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path)
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}

/** A running control socket; `close()` removes it. */
export interface ControlServer {
  readonly path: string
  close(): Promise<void>
}

type Handler = (cmd: string) => Promise<unknown>

function serveOne(socket: Socket, handler: Handler): void {
  let buf = ''
  socket.setEncoding('utf8')
  socket.on('error', () => {})
  socket.on('data', (chunk: string) => {
    buf += chunk
    if (buf.length > MAX_LINE) return void socket.destroy()
    const nl = buf.indexOf('\n')
    if (nl === -1) return
    socket.removeAllListeners('data')
    let cmd: unknown
    try {
      cmd = (JSON.parse(buf.slice(0, nl)) as { cmd?: unknown }).cmd
    } catch {
      cmd = undefined
    }
    const answer =
      cmd === 'status' || cmd === 'reload'
        ? handler(cmd).then(
            (result) => ({ ok: true, result }),
            (err: unknown) => ({
              ok: false,
              code: err instanceof PeerguardError ? err.code : 'internal',
              message: (err as Error).message
            })
          )
        : Promise.resolve({ ok: false, code: 'invalid-argument', message: 'expected {"cmd":"status"} or {"cmd":"reload"}' })
    void answer.then((a) => socket.end(`${JSON.stringify(a)}\n`))
  })
}

/** Listen on the control socket at `path` (see the module comment for what is refused). */
export async function listenControl(path: string, handler: Handler): Promise<ControlServer> {
  await ownDir(join(path, '..'))
  if (await checkSocket(path)) {
    if (await tryConnect(path))
      throw new PeerguardError('node-already-running', `${path}: another node answers on this control socket`)
    await unlink(path) // stale: its node was killed
  }
  const server: Server = createServer((socket) => serveOne(socket, handler))
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new PeerguardError('io-error', `cannot listen on ${path}: ${err.code ?? err.message}`, { cause: err }))
    )
    server.listen(path, () => resolve())
  })
  await chmod(path, 0o600)
  return {
    path,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await unlink(path).catch(() => {})
    }
  }
}

/** Ask the node at `path`; the answer's `result`, or its error as a PeerguardError. */
export async function askControl(path: string, cmd: 'status' | 'reload'): Promise<unknown> {
  if (!(await checkSocket(path)))
    throw new PeerguardError('node-control-unavailable', `${path}: no control socket (is the node running?)`)
  const text = await new Promise<string>((resolve, reject) => {
    const s = connect(path)
    let buf = ''
    s.setEncoding('utf8')
    s.setTimeout(CLIENT_TIMEOUT_MS, () => s.destroy(new Error('timed out')))
    s.on('data', (c: string) => {
      buf += c
    })
    s.on('end', () => resolve(buf))
    s.on('error', (err: NodeJS.ErrnoException) =>
      reject(
        new PeerguardError('node-control-unavailable', `${path}: no node answers (${err.code ?? err.message})`, { cause: err })
      )
    )
    s.write(`${JSON.stringify({ cmd })}\n`)
  })
  let answer: { ok?: boolean; result?: unknown; code?: string; message?: string }
  try {
    answer = JSON.parse(text) as typeof answer
  } catch (err) {
    throw new PeerguardError('node-control-unavailable', `${path}: the node's answer is not JSON`, { cause: err })
  }
  if (answer.ok !== true) {
    throw new PeerguardError(isPeerguardCode(answer.code) ? answer.code : 'internal', answer.message ?? 'the node refused')
  }
  return answer.result
}
