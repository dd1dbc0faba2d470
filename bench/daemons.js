// @ts-check
// The anchors' servers for the share benchmarks, started the same way every time: OpenSSH's sshd
// (internal-sftp, public-key login, one key per client) and Samba's smbd (SMB3 only, encryption
// required), each on a free loopback port with its own configuration in a temporary folder, and
// the helpers to wait for a port and stop a daemon we started (by its pid, never by name).
// Needs Debian's openssh-server openssh-client / samba smbclient; `sshdAvailable()` and
// `smbdAvailable()` say when they are missing, so a benchmark reports the anchor as skipped.
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { join } from 'node:path'
import { promisify } from 'node:util'

/** A free TCP port on 127.0.0.1 (closed again before returning). @returns {Promise<number>} */
export function freePort() {
  return new Promise((resolve) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (s.address())
      s.close(() => resolve(port))
    })
  })
}

/** @param {string} cmd */
export function which(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0
}

/** Wait until something accepts connections on 127.0.0.1:`port`. @param {number} port */
export async function waitPort(port, ms = 90_000) {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    const ok = await new Promise((r) => {
      const s = connect({ host: '127.0.0.1', port }, () => {
        s.destroy()
        r(true)
      })
      s.on('error', () => r(false))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`nothing listens on ${port}`)
}

/** SIGTERM a daemon we started (by its pid), SIGKILL it after 3 s, and wait for it. */
/** @param {import('node:child_process').ChildProcess} child */
export async function stopDaemon(child) {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGTERM')
  const t = setTimeout(() => child.kill('SIGKILL'), 3000)
  await exited
  clearTimeout(t)
}

/** Why sshd cannot run here, or undefined. */
export const sshdAvailable = () =>
  !existsSync('/usr/sbin/sshd') || !which('sftp') || !which('ssh-keygen')
    ? 'apt-get install openssh-server openssh-client'
    : undefined

/** Why smbd cannot run here, or undefined. */
export const smbdAvailable = () =>
  !existsSync('/usr/sbin/smbd') || !which('smbclient') || !which('smbpasswd') ? 'apt-get install samba smbclient' : undefined

/**
 * @typedef {{ port: number, user: string, keys: string[], stop: () => Promise<void> }} Sshd
 * `keys[i]` is the private key file of client i (each listed in authorized_keys).
 */

/**
 * Start sshd on 127.0.0.1 with `clients` user keys (ed25519, made here) allowed to log in as the
 * current user; sftp is its internal-sftp. MaxStartups/MaxSessions allow `clients` logins at once.
 * @param {string} dir an empty folder for keys and configuration @param {number} [clients]
 * @returns {Promise<Sshd>}
 */
export async function startSshd(dir, clients = 1) {
  const d = join(dir, 'ssh')
  await mkdir(d, { recursive: true })
  await mkdir('/run/sshd', { recursive: true })
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(d, 'host')])
  const run = promisify(execFile)
  const keys = Array.from({ length: clients }, (_, i) => join(d, `user-${i}`))
  for (let i = 0; i < keys.length; i += 16)
    await Promise.all(keys.slice(i, i + 16).map((k) => run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', k])))
  const pubs = await Promise.all(keys.map((k) => readFile(`${k}.pub`, 'utf8')))
  await writeFile(join(d, 'authorized_keys'), pubs.join(''))
  await chmod(join(d, 'authorized_keys'), 0o600)
  const port = await freePort()
  const user = process.env.USER ?? 'root'
  await writeFile(
    join(d, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(d, 'host')}`,
      'PermitRootLogin yes',
      `AuthorizedKeysFile ${join(d, 'authorized_keys')}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      `MaxStartups ${clients + 10}`,
      'Subsystem sftp internal-sftp',
      `PidFile ${join(d, 'sshd.pid')}`
    ].join('\n')
  )
  const sshd = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(d, 'sshd_config')], { stdio: 'ignore', detached: true })
  try {
    await waitPort(port)
  } catch (err) {
    await stopDaemon(sshd)
    throw err
  }
  return { port, user, keys, stop: () => stopDaemon(sshd) }
}

/** The sftp client arguments (batch from stdin) for key `key` of `sshd`. @param {Sshd} sshd @param {string} key */
export const sftpArgs = (sshd, key) => [
  '-q',
  '-b',
  '-',
  '-P',
  String(sshd.port),
  '-i',
  key,
  '-o',
  'StrictHostKeyChecking=no',
  '-o',
  'UserKnownHostsFile=/dev/null',
  '-o',
  'LogLevel=ERROR',
  `${sshd.user}@127.0.0.1`
]

/** @typedef {{ port: number, user: string, pass: string, stop: () => Promise<void> }} Smbd */

/**
 * Start smbd on 127.0.0.1 sharing `root` as `bench` (SMB3 only, encryption required, one account:
 * root with a random password; Samba accounts need Unix users).
 * @param {string} dir an empty folder for its configuration and state @param {string} root
 * @returns {Promise<Smbd>}
 */
export async function startSmbd(dir, root) {
  const d = join(dir, 'smb')
  for (const sub of ['private', 'lock', 'state', 'cache', 'pid', 'log']) await mkdir(join(d, sub), { recursive: true })
  const port = await freePort()
  const conf = join(d, 'smb.conf')
  await writeFile(
    conf,
    `[global]
  server role = standalone server
  smb ports = ${port}
  interfaces = lo
  bind interfaces only = yes
  disable netbios = yes
  private dir = ${join(d, 'private')}
  lock directory = ${join(d, 'lock')}
  state directory = ${join(d, 'state')}
  cache directory = ${join(d, 'cache')}
  pid directory = ${join(d, 'pid')}
  log file = ${join(d, 'log', 'log.%m')}
  passdb backend = tdbsam:${join(d, 'private', 'passdb.tdb')}
  server min protocol = SMB3
  server smb encrypt = required
  load printers = no
  printing = bsd
  printcap name = /dev/null
  map to guest = never
[bench]
  path = ${root}
  read only = no
  force user = root
`
  )
  const user = 'root'
  const pass = Buffer.from(crypto.getRandomValues(new Uint8Array(9))).toString('base64url')
  execFileSync('smbpasswd', ['-c', conf, '-s', '-a', user], { input: `${pass}\n${pass}\n`, stdio: ['pipe', 'ignore', 'ignore'] })
  // its own process group: smbd signals its whole group when it stops
  const smbd = spawn('/usr/sbin/smbd', ['--foreground', '--no-process-group', '-s', conf], { stdio: 'ignore', detached: true })
  try {
    await waitPort(port)
  } catch (err) {
    await stopDaemon(smbd)
    throw err
  }
  return { port, user, pass, stop: () => stopDaemon(smbd) }
}

/** smbclient's arguments for `smbd` (SMB3, encryption required), before `-c` or stdin commands. @param {Smbd} smbd */
export const smbclientArgs = (smbd) => [
  '//127.0.0.1/bench',
  '-p',
  String(smbd.port),
  '-U',
  `${smbd.user}%${smbd.pass}`,
  '-m',
  'SMB3',
  '--client-protection=encrypt'
]
