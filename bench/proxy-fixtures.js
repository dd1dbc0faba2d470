// @ts-check
// The peerguard proxy pair of the proxy benchmarks (bench/proxy.bench.js on loopback,
// bench/netns.bench.js between network namespaces): one CA, a server and a client peer (group
// bench) with their identity, chain and PKCS#8 key files, the CA root, its CRL and a policy letting
// the client reach the service; and the built `peerguard proxy` processes started on them.
import { spawn } from 'node:child_process'
import { createPrivateKey } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKeyPair, saveIdentity } from '@peerguard/identity'
import { createCertificateAuthority, pemEncode } from '@peerguard/pki'

/** The built CLI (npm run build). */
export const PEERGUARD_BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'packages', 'cli', 'dist', 'bin.js')

/**
 * Write the fixtures into `dir`: root.pem, crl.pem, policy.yaml and, for `server` and `client`,
 * <name>.key (peerguard identity), <name>.pem (chain), <name>.key.pem (PKCS#8, for stunnel).
 * @param {string} dir @returns {Promise<Record<'server' | 'client', { peerId: string }>>}
 */
export async function writeProxyFixtures(dir) {
  const ca = await createCertificateAuthority({ name: 'Bench LAN CA' })
  writeFileSync(join(dir, 'root.pem'), pemEncode(ca.certificate, 'CERTIFICATE'))
  // both proxies check revocation against the same CRL
  writeFileSync(join(dir, 'crl.pem'), pemEncode((await ca.crl()).der, 'X509 CRL'))
  writeFileSync(
    join(dir, 'policy.yaml'),
    'version: 1\nrules:\n  - id: all\n    allow: [get]\n    peers: ["ou:bench"]\n    resources: ["service:*"]\ngroups: {}\n'
  )
  /** @type {Record<string, { peerId: string }>} */
  const peers = {}
  for (const name of ['server', 'client']) {
    const identity = generateKeyPair()
    const cert = await ca.issuePeer({ publicKey: identity.publicKey, name, groups: ['bench'] })
    await saveIdentity(join(dir, `${name}.key`), identity)
    writeFileSync(join(dir, `${name}.pem`), cert.chain.map((c) => pemEncode(c, 'CERTIFICATE')).join(''))
    const pkcs8 = createPrivateKey({
      key: {
        kty: 'OKP',
        crv: 'Ed25519',
        d: Buffer.from(identity.secretKey.subarray(0, 32)).toString('base64url'),
        x: Buffer.from(identity.publicKey).toString('base64url')
      },
      format: 'jwk'
    }).export({ type: 'pkcs8', format: 'pem' })
    writeFileSync(join(dir, `${name}.key.pem`), pkcs8, { mode: 0o600 })
    peers[name] = { peerId: cert.peerId }
  }
  return /** @type {Record<'server' | 'client', { peerId: string }>} */ (peers)
}

/** Both ends: the fixtures' CA and CRL, no idle timeout. @param {boolean} tls */
const common = (tls) => ['--trust', 'root.pem', '--crl', 'crl.pem', '--idle-timeout', '0', ...(tls ? ['--tls'] : [])]

/**
 * `peerguard proxy server` arguments on the fixtures. @param {{ listen: string, target: string, tls: boolean }} o
 * @returns {string[]}
 */
export const proxyServerArgs = (o) => [
  'server',
  '--listen',
  o.listen,
  '--target',
  o.target,
  '--service',
  'bench',
  '--identity',
  'server.key',
  '--cert',
  'server.pem',
  '--policy',
  'policy.yaml',
  '--max-per-peer',
  '100000',
  ...common(o.tls)
]

/**
 * `peerguard proxy client` arguments on the fixtures. @param {{ listen: string, connect: string, peerId: string, tls: boolean }} o
 * @returns {string[]}
 */
export const proxyClientArgs = (o) => [
  'client',
  '--listen',
  o.listen,
  '--connect',
  o.connect,
  '--identity',
  'client.key',
  '--cert',
  'client.pem',
  '--peer',
  o.peerId,
  ...common(o.tls)
]

/**
 * Start `peerguard proxy <args>` in `cwd` (the fixtures folder), optionally under a command prefix
 * (`ip netns exec <ns>`); resolves when it prints the port it listens on. The process is pushed
 * to `children` (the caller stops it, by its pid).
 * @param {string[]} args @param {{ cwd: string, children: import('node:child_process').ChildProcess[], prefix?: string[] }} o
 * @returns {Promise<{ port: number, pid: number | undefined }>}
 */
export function startPeerguardProxy(args, o) {
  return new Promise((resolve, reject) => {
    const all = [...(o.prefix ?? []), process.execPath, PEERGUARD_BIN, 'proxy', ...args]
    const child = spawn(/** @type {string} */ (all[0]), all.slice(1), { cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    o.children.push(child)
    let out = ''
    let err = ''
    child.stderr.on('data', (c) => {
      err += c
    })
    child.stdout.on('data', (c) => {
      out += c
      const m = /listening on [\d.]+:(\d+)/.exec(out)
      if (m) resolve({ port: Number(m[1]), pid: child.pid })
    })
    child.on('exit', (code) => reject(new Error(`peerguard proxy exited ${code}: ${err}`)))
  })
}
