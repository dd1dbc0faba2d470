// @ts-check
// One long-lived session per peer for the share load benchmark (bench/share-load.bench.js), with
// the same three operations on every tool: get (remote file to a local file), put (local file to
// a remote file, overwriting) and ls (a folder's entries with sizes and times).
// - peerguard: a ShareClient (connectShare) in the bench process.
// - sftp: one `sftp -b -` process per peer (OpenSSH; its own key), commands written to its stdin;
//   each command is followed by `pwd` (answered locally by sftp) whose reply marks its end.
// - smbclient: one `smbclient` process per peer, under `script` for a pty (smbclient buffers its
//   output when it is not a terminal), the same way with `pwd`.
// A failed command counts as an error (sftp: a line on stderr, the command prefixed with `-` so
// sftp carries on; smbclient: an NT_STATUS_ in its reply); it never stops the peer.
import { spawn } from 'node:child_process'
import { connectShare } from '@peerguard/share'
import { sftpArgs, smbclientArgs } from './daemons.js'

/**
 * @typedef {{ get: (remote: string, local: string) => Promise<void>, put: (local: string, remote: string) => Promise<void>,
 *   ls: (folder: string) => Promise<number>, errors: () => number, close: () => Promise<void> }} Session
 * Paths are share-relative with `/`; each session maps them to its tool. `ls` resolves to the
 * number of entries listed.
 */

/**
 * @param {{ host: string, port: number }} addr @param {import('@peerguard/share').ShareTransport | undefined} transport
 * @returns {Promise<Session>}
 */
export async function peerguardSession(addr, transport) {
  const client = await connectShare(addr, transport === undefined ? {} : { transport })
  return {
    get: async (remote, local) => {
      await client.download(remote, local)
    },
    put: async (local, remote) => {
      await client.upload(local, remote)
    },
    ls: async (folder) => (await client.list(folder)).entries.length,
    errors: () => 0,
    close: async () => client.close()
  }
}

/**
 * A child process driven over pipes: `run(cmd)` writes the command and the marker command and
 * resolves to the output before the marker's reply.
 * @param {import('node:child_process').ChildProcessWithoutNullStreams} p @param {string} marker @param {RegExp} reply
 */
function driven(p, marker, reply) {
  let out = ''
  /** @type {{ resolve: (s: string) => void, reject: (e: Error) => void } | undefined} */
  let waiting
  let exited = false
  let stderrLines = 0
  p.stdout.setEncoding('utf8')
  p.stdout.on('data', (d) => {
    out += d
    const m = reply.exec(out)
    if (m === null || waiting === undefined) return
    const w = waiting
    waiting = undefined
    const before = out.slice(0, m.index)
    out = out.slice(m.index + m[0].length)
    w.resolve(before)
  })
  p.stderr.setEncoding('utf8')
  p.stderr.on('data', (d) => {
    stderrLines += String(d)
      .split('\n')
      .filter((l) => l.trim() !== '').length
  })
  p.once('exit', (code) => {
    exited = true
    waiting?.reject(new Error(`${p.spawnfile} exited ${code}: ${out.slice(-300)}`))
    waiting = undefined
  })
  return {
    stderrLines: () => stderrLines,
    /** @param {string} cmd @returns {Promise<string>} */
    run: (cmd) =>
      new Promise((resolve, reject) => {
        if (exited) return reject(new Error(`${p.spawnfile} has exited`))
        waiting = { resolve, reject }
        p.stdin.write(`${cmd === '' ? '' : `${cmd}\n`}${marker}\n`)
      }),
    /** @param {string} last */
    close: async (last) => {
      if (exited) return
      const done = new Promise((r) => p.once('exit', r))
      p.stdin.end(last)
      const t = setTimeout(() => p.kill('SIGKILL'), 5000)
      await done
      clearTimeout(t)
    }
  }
}

/**
 * @param {import('./daemons.js').Sshd} sshd @param {string} key @param {string} root the share's folder on disk
 * @returns {Promise<Session>}
 */
export async function sftpSession(sshd, key, root) {
  const p = spawn('sftp', sftpArgs(sshd, key), { stdio: ['pipe', 'pipe', 'pipe'] })
  const s = driven(p, 'pwd', /^Remote working directory: .*\n/m)
  await s.run('') // logged in
  /** @param {string} path */
  const remote = (path) => `"${root}/${path}"`
  return {
    get: async (r, local) => {
      await s.run(`-get ${remote(r)} "${local}"`)
    },
    put: async (local, r) => {
      await s.run(`-put "${local}" ${remote(r)}`)
    },
    ls: async (folder) =>
      (await s.run(`-ls -l ${remote(folder)}`)).split('\n').filter((l) => l !== '' && !l.startsWith('sftp>')).length,
    errors: s.stderrLines,
    close: () => s.close('')
  }
}

/** @param {import('./daemons.js').Smbd} smbd @returns {Promise<Session>} */
export async function smbSession(smbd) {
  const cmd = ['smbclient', ...smbclientArgs(smbd)].map((a) => `'${a}'`).join(' ')
  const p = spawn('script', ['-qfc', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] })
  const s = driven(p, 'pwd', /Current directory is [^\n]*\n/)
  let errors = 0
  /** @param {string} c */
  const run = async (c) => {
    const out = await s.run(c)
    if (out.includes('NT_STATUS_')) errors++
    return out
  }
  await run('') // logged in
  /** @param {string} path */
  const remote = (path) => `"${path.replaceAll('/', '\\')}"`
  return {
    get: async (r, local) => {
      await run(`get ${remote(r)} "${local}"`)
    },
    put: async (local, r) => {
      await run(`put "${local}" ${remote(r)}`)
    },
    ls: async (folder) =>
      (await run(`ls ${remote(`${folder}/*`)}`))
        .split('\n')
        .filter((l) => /\s\d+\s+\w{3} \w{3} [ \d]\d /.test(l) && !/^\s*\.{1,2}\s/.test(l)).length,
    errors: () => errors + s.stderrLines(),
    close: () => s.close('exit\n')
  }
}
