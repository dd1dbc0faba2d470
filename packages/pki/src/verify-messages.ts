import type { PeerguardErrorOptions } from '@peerguard/interface'
import type { ParsedCertificate } from './certificate.js'

/** How verification errors name a certificate: details for --json, a label and times for people. */

export function describe(cert: ParsedCertificate, index: number): PeerguardErrorOptions['details'] {
  return { index, serial: cert.serial, subject: cert.subject.text }
}

export function label(cert: ParsedCertificate): string {
  return cert.subject.commonName !== undefined ? `"${cert.subject.commonName}"` : `(${cert.subject.text || 'empty subject'})`
}

export function iso(ms: number): string {
  return new Date(ms).toISOString()
}
