/**
 * A workspace node never writes a CRL older than the one in force into its `crl:` file
 * (attacker's review, round 3: restarts, files the node writes). At every start the node applies
 * its stored bundle again, and applying wrote the bundle's CRLs over the node's first `crl:` file.
 * When the admin had meanwhile installed a newer CRL there by hand (SECURITY.md, Revocation: "its
 * --crl file rewritten") — one that revokes a peer — the restart replaced it with the bundle's
 * older CRL. The live reload kept the newer one in memory, so nothing showed; at the NEXT start
 * the node loaded the older CRL from the file and accepted the revoked peer again. Invariant:
 * for each CA, the file keeps the newest CRL the node holds. In-process node, real files.
 */
import { createSocket } from 'node:dgram'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { normalizeSerial, parseCrl, pemEncode } from '@peerguard/pki'
import { makeTestPki, type TestPeer, type TestPki, writeNodeDir } from '@peerguard/test-utils'
import { signBundle } from '@peerguard/workspace'
import { readCrls } from '../src/common.js'
import { bufferedIO } from '../src/io.js'
import { loadNodeConfig } from '../src/node/config.js'
import { startNode } from '../src/node/host.js'

jest.setTimeout(60_000)

let dir: string
let pki: TestPki

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4')
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r))
  const port = s.address().port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-crl-keep-'))
  pki = await makeTestPki({ peers: [{ name: 'node' }, { name: 'mallory' }] })
})

afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('a restart applies the stored bundle without rolling the CRL file back', () => {
  it("keeps the newer CRL installed by hand (mallory's revocation) in the crl file", async () => {
    const node = pki.peers.node as TestPeer
    // bundle version 1 carries the CA's first CRL; the node applied and stored it earlier
    const crl1 = (await pki.ca.crl()).der
    await new Promise((r) => setTimeout(r, 1100)) // the next CRL's thisUpdate is a later second
    const bundle = signBundle({ version: 1, issuedAtMs: Date.now(), crls: [crl1] }, pki.ca)
    // then the admin revokes mallory and copies the new CRL into the node's crl file by hand
    await pki.ca.revoke((pki.peers.mallory as TestPeer).certificate.serial)
    const crl2 = (await pki.ca.crl()).der
    const udp = await freeUdpPort()
    await writeNodeDir(dir, {
      identity: node.identity,
      chain: node.chain,
      root: pki.ca.certificate,
      crl: crl2,
      policy: 'version: 1\nrules: []\n',
      config: `shares:\n  - name: docs\n    path: docs\n    listen: 127.0.0.1:0\nworkspace:\n  multicast: false\n  udp-port: ${udp}\n  listen: 127.0.0.1:0\n  bundle-dir: workspace\n`
    })
    await mkdir(join(dir, 'workspace'), { mode: 0o700 })
    await writeFile(join(dir, 'workspace', 'bundle.pgwb'), bundle)
    await writeFile(join(dir, 'workspace', 'bundle.floor'), '1\n')

    const io = bufferedIO()
    const host = await startNode(await loadNodeConfig(join(dir, 'node.yaml')), io)
    try {
      expect(host.workspace?.workspace.bundleVersion).toBe(1) // the stored bundle was applied again
    } finally {
      await host.stop()
    }
    // the crl file still holds the newest CRL: mallory stays revoked at the next start
    const onDisk = (await readCrls(join(dir, 'ca.crl'))).map((d) => parseCrl(d))
    // the CRL's key form (minimal bytes, even length); stripping every leading 0 broke it whenever the
    // random serial's first hex digit was 0 (1 run in 16)
    const mallorySerial = normalizeSerial((pki.peers.mallory as TestPeer).certificate.serial)
    expect(onDisk).toHaveLength(1)
    expect(onDisk[0]?.revoked.has(mallorySerial)).toBe(true)
    expect(pemEncode(onDisk[0]?.der as Uint8Array, 'X509 CRL')).toBe(pemEncode(crl2, 'X509 CRL'))
  })
})
