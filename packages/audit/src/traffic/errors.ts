import { PeerguardError, type PeerguardErrorOptions } from '@peerguard/interface'

/** The input is not a pcap or pcapng capture (bad magic number, truncated global header). */
export class CaptureFormatError extends PeerguardError {
  constructor(message = 'not a pcap or pcapng capture', options?: PeerguardErrorOptions) {
    super('capture-format-invalid', message, options)
  }
}

/** The capture path names a directory or another file that is not a regular file. */
export class CaptureNotAFileError extends PeerguardError {
  constructor(message = 'not a regular file: expected a capture file', options?: PeerguardErrorOptions) {
    super('capture-not-a-file', message, options)
  }
}

/** Live capture cannot run here: the optional `pcap` package or libpcap is missing. */
export class CaptureUnavailableError extends PeerguardError {
  constructor(
    message = 'live capture is unavailable: install libpcap-dev and the optional `pcap` package',
    options?: PeerguardErrorOptions
  ) {
    super('capture-unavailable', message, options)
  }
}

/** Live capture was refused by the kernel: not root and no CAP_NET_RAW. */
export class CapturePermissionError extends PeerguardError {
  constructor(message = 'live capture needs root or CAP_NET_RAW', options?: PeerguardErrorOptions) {
    super('capture-permission-denied', message, options)
  }
}

/** An audit profile file is not valid. */
export class AuditProfileError extends PeerguardError {
  constructor(message = 'the audit profile is not valid', options?: PeerguardErrorOptions) {
    super('audit-profile-invalid', message, options)
  }
}

/** An inventory file is not valid. */
export class AuditInventoryError extends PeerguardError {
  constructor(message = 'the audit inventory is not valid', options?: PeerguardErrorOptions) {
    super('audit-inventory-invalid', message, options)
  }
}
