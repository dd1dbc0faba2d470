import type { AuditContext, ExpectedFtpData } from '../context.js'
import type { FindingCollector } from '../findings.js'
import type { Flow, FlowApp } from '../flow.js'

/** Failed logins from one client to one server that make a brute-force finding. */
export const FTP_BRUTEFORCE_FAILURES = 5
/** Client/server pairs tracked (bounded memory). */
const MAX_PAIRS = 100_000

/** An FTP data connection announced on a control channel: a cleartext file transfer. */
export class FtpDataApp implements FlowApp {
  readonly name = 'ftp-data'
  done = false
  #bytes = 0
  #frames: number[] = []
  constructor(
    readonly ctx: AuditContext,
    readonly flow: Flow,
    readonly expected: ExpectedFtpData
  ) {
    ctx.classify(flow, 'ftp-data', { encrypted: false, share: true })
  }
  data(_fromClient: boolean, _buf: Buffer, _off: number, len: number, frame: number): void {
    this.#bytes += len
    if (this.#frames.length < 8) this.#frames.push(frame)
    if (this.#bytes > 65536) this.done = true
  }
  gap(): void {}
  finish(): void {
    // The finding is reported on the control channel (with the file name); this flow is the data.
    const cmd = this.expected.command()
    const resource =
      cmd !== undefined && cmd.file !== '' && /^(RETR|STOR|STOU|APPE)$/.test(cmd.verb) ? `file:${cmd.file}` : undefined
    this.ctx.classify(this.flow, 'ftp-data', { encrypted: false, share: true, ...(resource === undefined ? {} : { resource }) })
  }
}

interface FtpLoginStats {
  client: string
  server: string
  port: number
  users: Set<string>
  failed: number
  ok: number
  frames: number[]
}

/** FTP logins across connections, per client, server and port: `ftp-bruteforce` at the end. */
export class FtpLoginTracker {
  readonly #pairs = new Map<string, FtpLoginStats>()

  login(client: string, server: string, user: string, ok: boolean, frame: number, port = 21): void {
    const key = `${client}|${server}|${port}`
    let s = this.#pairs.get(key)
    if (s === undefined) {
      if (this.#pairs.size >= MAX_PAIRS) return
      s = { client, server, port, users: new Set(), failed: 0, ok: 0, frames: [] }
      this.#pairs.set(key, s)
    }
    if (s.users.size < 32) s.users.add(user)
    if (ok) s.ok++
    else {
      s.failed++
      if (s.frames.length < 32) s.frames.push(frame)
    }
  }

  /** Emit one `ftp-bruteforce` per pair with at least FTP_BRUTEFORCE_FAILURES failed logins. */
  finish(findings: FindingCollector): void {
    for (const s of this.#pairs.values()) {
      if (s.failed < FTP_BRUTEFORCE_FAILURES) continue
      findings.add({
        code: 'ftp-bruteforce',
        title: `${s.failed} failed FTP logins from ${s.client} to ${s.server}:${s.port}`,
        flow: { proto: 'tcp', src: s.client, srcPort: 0, dst: s.server, dstPort: s.port },
        evidence: {
          client: s.client,
          server: s.server,
          port: s.port,
          failedLogins: s.failed,
          successfulLogins: s.ok,
          users: [...s.users]
        },
        frames: s.frames
      })
    }
  }
}
