/**
 * The workspace identifier and the announcement key, both derived from the workspace root
 * certificate (SPEC.md §1): the ID names the workspace on the wire without naming anything else;
 * the key hides announcement bodies from whoever lacks the root.
 */
import { createHash, hkdfSync } from 'node:crypto'
import { parseCertificate } from '@peerguard/pki'

export const WORKSPACE_ID_LENGTH = 16
const ANNOUNCE_KEY_INFO = 'peerguard-workspace-announce-key-v1'

/** The first 16 bytes of SHA-256 over the root's SubjectPublicKeyInfo DER. */
export function workspaceIdOf(rootDer: Uint8Array): Uint8Array {
  const spki = parseCertificate(rootDer).publicKey.spki
  return new Uint8Array(createHash('sha256').update(spki).digest().subarray(0, WORKSPACE_ID_LENGTH))
}

/** The workspace ID as lowercase hex (for people and JSON). */
export function workspaceIdHex(rootDer: Uint8Array): string {
  return Buffer.from(workspaceIdOf(rootDer)).toString('hex')
}

/** HKDF-SHA256(root DER, salt = workspace ID, info = "peerguard-workspace-announce-key-v1"): 32 bytes. */
export function announceKeyOf(rootDer: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', rootDer, workspaceIdOf(rootDer), ANNOUNCE_KEY_INFO, 32))
}
