import type { AuditContext } from '../context.js'
import { noteFrame } from '../findings.js'
import type { Flow, FlowApp } from '../flow.js'
import { addDistinct, clean } from './text.js'

/** Telnet commands (RFC 854): IAC, SB/SE, WILL/WONT/DO/DONT. */
const IAC = 0xff
const SB = 0xfa
const SE = 0xf0
const WILL = 0xfb
const DONT = 0xfe
/** Bytes per direction looked at: the login dialogue happens at the start. */
const TELNET_SCAN_BYTES = 32 * 1024
const LOGIN_PROMPT = /(?:login|username|user name)\s*:\s*$/i
const PASSWORD_PROMPT = /(?:password|passcode)\s*:\s*$/i
const FAILED = /(?:incorrect|invalid|fail|denied|bad password)/i

/** Option negotiation (IAC WILL/WONT/DO/DONT) opens nearly every telnet session, from either side. */
export function isTelnetStart(buf: Buffer, off: number, len: number): boolean {
  return len >= 3 && buf[off] === IAC && buf[off + 1]! >= WILL && buf[off + 1]! <= DONT && buf[off + 2]! <= 50
}

/**
 * Removes telnet commands from one direction (IAC IAC is a literal 0xff, option negotiation and
 * subnegotiation are dropped), across chunk boundaries.
 */
class TelnetText {
  #state: 'data' | 'iac' | 'opt' | 'sb' | 'sb-iac' = 'data'
  seen = 0

  strip(buf: Buffer, off: number, len: number): string {
    let out = ''
    this.seen += len
    for (let i = off; i < off + len; i++) {
      const c = buf[i]!
      switch (this.#state) {
        case 'data':
          if (c === IAC) this.#state = 'iac'
          else out += String.fromCharCode(c)
          break
        case 'iac':
          if (c === IAC) {
            out += '\xff'
            this.#state = 'data'
          } else if (c === SB) this.#state = 'sb'
          else if (c >= WILL && c <= DONT) this.#state = 'opt'
          else this.#state = 'data'
          break
        case 'opt':
          this.#state = 'data'
          break
        case 'sb':
          if (c === IAC) this.#state = 'sb-iac'
          break
        case 'sb-iac':
          this.#state = c === SE ? 'data' : 'sb'
          break
      }
    }
    return out
  }
}

/**
 * Telnet sessions: the login dialogue is followed (login and password prompts from the server,
 * the client's answers), so the user name is reported and the password only masked (its length
 * is not kept either). Failed and successful attempts are counted.
 */
export class TelnetApp implements FlowApp {
  readonly name = 'telnet'
  done = false
  readonly #ctx: AuditContext
  readonly #flow: Flow
  readonly #text: [TelnetText, TelnetText] = [new TelnetText(), new TelnetText()]
  /** What the client answers next: a user name, a password, or nothing we look for. */
  #expect: 'user' | 'password' | 'none' = 'none'
  #typed = ''
  #serverTail = ''
  readonly #users: string[] = []
  #passwords = 0
  #failed = 0
  #loginFrames: number[] = []
  #frames: number[] = []
  #banner = ''

  constructor(ctx: AuditContext, flow: Flow) {
    this.#ctx = ctx
    this.#flow = flow
  }

  data(fromClient: boolean, buf: Buffer, off: number, len: number, frame: number): void {
    const t = this.#text[fromClient ? 0 : 1]
    if (t.seen >= TELNET_SCAN_BYTES) {
      if (this.#text[0].seen >= TELNET_SCAN_BYTES && this.#text[1].seen >= TELNET_SCAN_BYTES) this.done = true
      return
    }
    noteFrame(this.#frames, frame)
    const text = t.strip(buf, off, len)
    if (text === '') return
    if (fromClient) this.#client(text, frame)
    else this.#server(text, frame)
  }

  #server(text: string, frame: number): void {
    if (this.#banner === '') {
      const first = text
        .replace(/[^\x20-\x7e\n]/g, '')
        .split('\n')
        .find((l) => l.trim() !== '')
      if (first !== undefined) this.#banner = clean(first.trim(), 120)
    }
    if (this.#expect === 'none' && this.#passwords > 0 && FAILED.test(text)) this.#failed++
    this.#serverTail = (this.#serverTail + text).slice(-200)
    const tail = this.#serverTail.replace(/\s+$/, ' ')
    if (PASSWORD_PROMPT.test(tail)) {
      this.#expect = 'password'
      this.#typed = ''
      noteFrame(this.#loginFrames, frame)
    } else if (LOGIN_PROMPT.test(tail)) {
      this.#expect = 'user'
      this.#typed = ''
      noteFrame(this.#loginFrames, frame)
    }
  }

  #client(text: string, frame: number): void {
    if (this.#expect === 'none') return
    for (const ch of text) {
      if (ch === '\r' || ch === '\n') {
        if (this.#typed === '' && ch === '\n') continue
        if (this.#expect === 'user') addDistinct(this.#users, clean(this.#typed, 64))
        else this.#passwords++
        noteFrame(this.#loginFrames, frame)
        this.#expect = 'none'
        this.#typed = ''
        this.#serverTail = ''
        return
      }
      if (ch === '\b' || ch === '\x7f') this.#typed = this.#typed.slice(0, -1)
      else if (ch !== '\0' && this.#typed.length < 256) this.#typed += ch
    }
  }

  gap(): void {}

  finish(): void {
    // Never keep what was typed at a password prompt.
    this.#typed = ''
    const t = this.#text
    if (t[0].seen === 0 && t[1].seen === 0) return
    const flow = this.#flow.key()
    if (this.#users.length > 0 || this.#passwords > 0) {
      this.#ctx.findings.add({
        code: 'telnet-cleartext-login',
        title: `telnet login ${this.#users.join(', ') || '(user not seen)'} in clear to ${flow.dst}:${flow.dstPort}`,
        flow,
        evidence: {
          users: this.#users,
          passwordsTyped: this.#passwords,
          passwordMasked: true,
          failedLogins: this.#failed,
          banner: this.#banner
        },
        frames: this.#loginFrames
      })
    } else {
      this.#ctx.findings.add({
        code: 'telnet-session',
        title: `telnet session in clear to ${flow.dst}:${flow.dstPort}`,
        flow,
        evidence: { banner: this.#banner, clientBytes: t[0].seen, serverBytes: t[1].seen },
        frames: this.#frames.slice(0, 4)
      })
    }
    this.#ctx.classify(this.#flow, 'telnet', { encrypted: false })
  }
}
