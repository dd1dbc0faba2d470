import type { AuditContext } from '../context.js'
import type { Flow, FlowApp } from '../flow.js'

/** TLS record header: handshake (22) or other content type, version 3.x (RFC 8446 5.1). */
export function isTls(buf: Buffer, off: number, len: number): boolean {
  return len >= 5 && buf[off]! >= 20 && buf[off]! <= 23 && buf[off + 1] === 3 && buf[off + 2]! <= 4
}

export function isSsh(buf: Buffer, off: number, len: number): boolean {
  return len >= 4 && buf.toString('latin1', off, off + 4) === 'SSH-'
}

/** A stream in a known encrypted protocol: classified and left alone. */
export class EncryptedApp implements FlowApp {
  readonly done = true
  constructor(
    readonly ctx: AuditContext,
    readonly flow: Flow,
    readonly name: string
  ) {}
  data(): void {}
  gap(): void {}
  finish(): void {
    this.ctx.classify(this.flow, this.name, { encrypted: true })
  }
}
