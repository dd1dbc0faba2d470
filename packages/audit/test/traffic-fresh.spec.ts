/**
 * Fresh traffic from real clients, captured live on loopback and audited: curl (HTTP Basic, FTP
 * with a passive data connection) and Samba's smbclient against a throw-away smbd on an unusual
 * port. Each part needs root, the `pcap` build and its client tools: needs() skips visibly, or
 * fails under PEERGUARD_REQUIRE_ALL=1.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect } from '@jest/globals'
import { captureLive, createTrafficAuditor, type TrafficAuditReport } from '@peerguard/audit'
import { needs } from '@peerguard/test-utils'

const LIVE = ['root', 'pcap'] as const
const withCurl = needs([...LIVE, 'curl'], 'traffic-fresh: curl traffic captured live').it
const withSamba = needs([...LIVE, 'smbd', 'smbclient', 'smbpasswd'], 'traffic-fresh: Samba traffic captured live').it

/**
 * Capture `filter` on lo while `work` runs, then audit. The work starts once libpcap is listening
 * (onReady), not after a guessed delay; on abort the capture drains what the kernel holds.
 */
async function captureWhile(filter: string, work: () => Promise<void>): Promise<TrafficAuditReport> {
  const auditor = createTrafficAuditor()
  const ac = new AbortController()
  let ready!: () => void
  const listening = new Promise<void>((r) => (ready = r))
  const capture = captureLive(auditor, { iface: 'lo', filter, signal: ac.signal, onReady: ready })
  await Promise.race([listening, capture])
  try {
    await work()
  } finally {
    ac.abort()
    await capture
  }
  return auditor.finish()
}

function run(cmd: string, args: string[], input?: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    p.stdout.on('data', (d) => (out += d))
    p.stderr.on('data', (d) => (out += d))
    if (input !== undefined) p.stdin.end(input)
    else p.stdin.end()
    const t = setTimeout(() => p.kill('SIGKILL'), 30000)
    p.on('close', (code) => {
      clearTimeout(t)
      resolve({ code, out })
    })
  })
}

function listen(server: Server | ReturnType<typeof createHttpServer>): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)))
}

/** Just enough of RFC 959 for curl: USER, PASS, PWD, TYPE, EPSV/PASV, SIZE, RETR, QUIT. */
function ftpServer(file: Buffer): Server {
  return createServer((s: Socket) => {
    let data: Server | undefined
    s.write('220 peerguard test ftp\r\n')
    s.on('data', async (d) => {
      for (const line of d.toString('latin1').split('\r\n').filter(Boolean)) {
        const [verb] = line.split(' ')
        switch (verb?.toUpperCase()) {
          case 'USER':
            s.write('331 password please\r\n')
            break
          case 'PASS':
            s.write('230 logged in\r\n')
            break
          case 'PWD':
            s.write('257 "/"\r\n')
            break
          case 'CWD':
            s.write('250 ok\r\n')
            break
          case 'TYPE':
            s.write('200 ok\r\n')
            break
          case 'SIZE':
            s.write(`213 ${file.length}\r\n`)
            break
          case 'EPSV':
          case 'PASV': {
            data = createServer((ds) => ds.end(file))
            const port = await listen(data)
            s.write(
              verb === 'EPSV'
                ? `229 Entering Extended Passive Mode (|||${port}|)\r\n`
                : `227 Entering Passive Mode (127,0,0,1,${port >> 8},${port & 255})\r\n`
            )
            break
          }
          case 'RETR':
            s.write('150 sending\r\n')
            setTimeout(() => {
              s.write('226 done\r\n')
              data?.close()
            }, 200)
            break
          case 'QUIT':
            s.end('221 bye\r\n')
            break
          default:
            s.write('502 not implemented\r\n')
        }
      }
    })
  })
}

describe('fresh traffic from real clients', () => {
  withCurl('curl with HTTP Basic against a local server: http-basic-auth, password masked', async () => {
    const server = createHttpServer((_req, res) => res.end('ok'))
    const port = await listen(server)
    const r = await captureWhile(`tcp port ${port}`, async () => {
      const c = await run('curl', ['-s', '-u', 'alice:curl-secret-77', `http://127.0.0.1:${port}/private/`])
      expect(c.code).toBe(0)
    })
    server.close()
    const f = r.findings.find((x) => x.code === 'http-basic-auth')
    expect(f?.evidence).toMatchObject({ users: ['alice'], passwordMasked: true })
    expect(f?.flow).toMatchObject({ dst: '127.0.0.1', dstPort: port })
    expect(JSON.stringify(r)).not.toContain('curl-secret-77')
  })

  withCurl('curl downloading over FTP (passive data connection): credentials, file name, data flow', async () => {
    const server = ftpServer(Buffer.alloc(300_000, 65))
    const port = await listen(server)
    const r = await captureWhile('host 127.0.0.1 and tcp', async () => {
      const c = await run('curl', ['-s', '-o', '/dev/null', '--user', 'bob:ftp-secret-42', `ftp://127.0.0.1:${port}/pub/big.iso`])
      expect(c.code).toBe(0)
    })
    server.close()
    expect(r.findings.find((x) => x.code === 'ftp-cleartext-credentials')?.evidence).toMatchObject({
      users: ['bob'],
      succeeded: 1
    })
    expect(r.findings.find((x) => x.code === 'cleartext-file-transfer')?.evidence).toMatchObject({
      protocol: 'ftp',
      files: [{ command: 'RETR', file: 'big.iso', path: 'pub/big.iso' }]
    })
    expect(r.flows.some((f) => f.protocol === 'ftp-data' && f.bytes.rev + f.bytes.fwd > 300_000)).toBe(true)
    expect(JSON.stringify(r)).not.toContain('ftp-secret-42')
  })

  describe('Samba', () => {
    let smbd: ChildProcess | undefined
    afterAll(() => {
      if (smbd?.pid !== undefined) smbd.kill('SIGTERM')
    })

    withSamba(
      'smbclient against a local smbd on an unusual port: SMB found by content, NTLM user, unencrypted file',
      async () => {
        const dir = mkdtempSync(join(tmpdir(), 'pg-smb-'))
        for (const d of ['private', 'lock', 'state', 'cache', 'pid', 'ncalrpc', 'share']) mkdirSync(join(dir, d))
        // a TCP port free just now (bound and released), for smbd's config
        const probe = createServer()
        await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
        const port = (probe.address() as { port: number }).port
        await new Promise<void>((resolve) => probe.close(() => resolve()))
        const conf = join(dir, 'smb.conf')
        writeFileSync(
          conf,
          `[global]
  workgroup = AUDITLAB
  netbios name = PGTEST
  interfaces = lo
  bind interfaces only = yes
  smb ports = ${port}
  disable netbios = yes
  server min protocol = SMB2_10
  server signing = auto
  passdb backend = tdbsam:${dir}/private/passdb.tdb
  private dir = ${dir}/private
  lock directory = ${dir}/lock
  state directory = ${dir}/state
  cache directory = ${dir}/cache
  pid directory = ${dir}/pid
  ncalrpc dir = ${dir}/ncalrpc
  log file = ${dir}/log.%m
  load printers = no
  printcap name = /dev/null
  disable spoolss = yes
[plain]
  path = ${dir}/share
  read only = no
  force user = root
`
        )
        const add = await run('smbpasswd', ['-c', conf, '-s', '-a', 'root'], 'Smb-secret-5!\nSmb-secret-5!\n')
        expect(add.code).toBe(0)
        // Its own process group: smbd signals its group when it stops.
        smbd = spawn('smbd', ['--foreground', '--no-process-group', '-s', conf], { stdio: 'ignore', detached: true })
        // Wait until smbd listens (a generous deadline: smbd starts slowly on a busy machine; 10 s
        // and then going on regardless made smbclient fail by chance).
        let listening = false
        for (const deadline = Date.now() + 90_000; !listening && Date.now() < deadline; ) {
          listening = await new Promise<boolean>((resolve) => {
            const c = connect(port, '127.0.0.1', () => {
              c.destroy()
              resolve(true)
            })
            c.on('error', () => resolve(false))
          })
          if (!listening) await new Promise((r) => setTimeout(r, 100))
        }
        expect(listening).toBe(true)
        writeFileSync(join(dir, 'report.txt'), 'quarterly numbers\n'.repeat(5000))
        const r = await captureWhile(`tcp port ${port}`, async () => {
          const c = await run('smbclient', [
            `//127.0.0.1/plain`,
            '-p',
            String(port),
            '-U',
            'root%Smb-secret-5!',
            '-W',
            'AUDITLAB',
            '-m',
            'SMB3',
            '--client-protection=off',
            '-c',
            `put ${join(dir, 'report.txt')} fresh-report.txt; get fresh-report.txt /dev/null`
          ])
          expect(c.out).not.toMatch(/NT_STATUS_(LOGON_FAILURE|CONNECTION_REFUSED)/)
        })
        smbd.kill('SIGTERM')
        const codes = r.findings.map((f) => f.code)
        expect(r.flows.some((f) => f.dstPort === port && f.protocol === 'smb')).toBe(true)
        expect(r.findings.find((f) => f.code === 'ntlm-auth')?.evidence).toMatchObject({ user: 'root', domain: 'AUDITLAB' })
        expect(codes).toContain('smb-unencrypted')
        expect(JSON.stringify(r.findings.find((f) => f.code === 'smb-unencrypted')?.evidence)).toContain('fresh-report.txt')
        expect(codes).not.toContain('smb1-in-use')
        expect(JSON.stringify(r)).not.toContain('Smb-secret-5!')
      },
      240_000
    )
  })
})
