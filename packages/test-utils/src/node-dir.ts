import { createSocket } from 'node:dgram'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type KeyPair, saveIdentity } from '@peerguard/identity'
import { pemEncode } from '@peerguard/pki'

/** What `writeNodeDir` puts in a folder for `peerguard node --config node.yaml`. */
export interface NodeDirOptions {
  readonly identity: KeyPair
  /** The node's chain, leaf first: PEM text or DER certificates. */
  readonly chain: string | readonly Uint8Array[]
  /** The root certificate (DER) and its current CRL (DER). */
  readonly root: Uint8Array
  readonly crl: Uint8Array
  readonly policy: string
  /** node.yaml lines after the credentials: `shares:`, `proxies:`, `swarms:`, `workspace:` … */
  readonly config: string
}

/**
 * A node's folder: node.key, node.pem, ca.pem, ca.crl, policy.yaml, an empty docs/ (for a share)
 * and node.yaml naming them (runtime-dir `xdg/peerguard`, so XDG_RUNTIME_DIR=<dir>/xdg finds its
 * control socket), followed by `config`.
 */
export async function writeNodeDir(dir: string, o: NodeDirOptions): Promise<void> {
  await mkdir(join(dir, 'docs'), { recursive: true })
  await saveIdentity(join(dir, 'node.key'), o.identity, { overwrite: true })
  const chain = typeof o.chain === 'string' ? o.chain : o.chain.map((c) => pemEncode(c, 'CERTIFICATE')).join('')
  await writeFile(join(dir, 'node.pem'), chain)
  await writeFile(join(dir, 'ca.pem'), pemEncode(o.root, 'CERTIFICATE'))
  await writeFile(join(dir, 'ca.crl'), pemEncode(o.crl, 'X509 CRL'))
  await writeFile(join(dir, 'policy.yaml'), o.policy)
  await writeFile(
    join(dir, 'node.yaml'),
    `identity: node.key
cert: node.pem
trust: ca.pem
crl: [ca.crl]
policy: policy.yaml
runtime-dir: xdg/peerguard
${o.config}
`
  )
}

/** A UDP port free on `host` just now (bound and released): for a config that must name one. */
export async function freeUdpPort(host = '127.0.0.1'): Promise<number> {
  const s = createSocket('udp4')
  await new Promise<void>((resolve) => s.bind(0, host, resolve))
  const port = s.address().port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}
