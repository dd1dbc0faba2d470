/**
 * `peerguard node`, black box: the built binary hosts two shares and a proxy service from one
 * config over 127.0.0.1; `node status` shows a connected client; `node reload` applies a policy
 * edit and refuses a config edit that needs a restart; SIGTERM under load (concurrent downloads)
 * exits 0 promptly and leaves a decision log that verifies.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { saveIdentity } from '@peerguard/identity'
import { pemEncode } from '@peerguard/pki'
import { channelTransport, connectShare, type ShareClient } from '@peerguard/share'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'
import { ensureCliBuilt } from './built-cli.js'
import { replaceFile, servicePort, startNodeProcess } from './node-process.js'
import { runCli } from './run-cli.js'

const POLICY = (docs: string[]): string => `version: 1
groups:
  staff: ["ou:staff"]
rules:
  - id: docs
    allow: [read, write]
    peers: [${docs.join(', ')}]
    resources: ["share:docs/**"]
  - id: scans
    allow: [read]
    peers: [staff]
    resources: ["share:scans/**"]
`

const CONFIG = `identity: nas.key
cert: nas.pem
trust: ca.pem
crl: [ca.crl]
policy: office.yaml
log: decisions.jsonl
runtime-dir: run
drain-seconds: 20
shares:
  - name: docs
    path: docs
    listen: 127.0.0.1:0
  - name: scans
    path: scans
    listen: 127.0.0.1:0
proxies:
  - service: echo
    listen: 127.0.0.1:0
    target: 127.0.0.1:9
`

let dir: string
let pki: TestPki
const children: ChildProcessWithoutNullStreams[] = []
const peer = (name: string): TestPeer => pki.peers[name] as TestPeer
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex')

const portOf = servicePort

async function client(port: number, who: TestPeer): Promise<ShareClient> {
  const transport = channelTransport({ identity: who.identity, chain: who.chain, trust: await pki.trustWithCrl() })
  return connectShare({ host: '127.0.0.1', port }, { transport })
}

async function status(): Promise<{
  services: Array<{ name: string; kind: string; listening: string; peers: Array<Record<string, unknown>> }>
  policy: { sha256: string }
  crls: Array<{ stale: boolean }>
}> {
  const r = await runCli(['node', 'status', '--config', join(dir, 'node.yaml'), '--json'])
  expect(r.code).toBe(0)
  return JSON.parse(r.stdout)
}

beforeAll(async () => {
  ensureCliBuilt()
  dir = await mkdtemp(join(tmpdir(), 'pg-node-'))
  pki = await makeTestPki({
    peers: [
      { name: 'nas', groups: ['servers'] },
      { name: 'alice', groups: ['staff'] },
      { name: 'bob', groups: ['staff'] }
    ]
  })
  await saveIdentity(join(dir, 'nas.key'), peer('nas').identity)
  await writeFile(
    join(dir, 'nas.pem'),
    peer('nas')
      .chain.map((c) => pemEncode(c, 'CERTIFICATE'))
      .join('')
  )
  await writeFile(join(dir, 'ca.pem'), pemEncode(pki.ca.certificate, 'CERTIFICATE'))
  await writeFile(join(dir, 'ca.crl'), (await pki.ca.crl()).pem)
  await writeFile(join(dir, 'office.yaml'), POLICY(['staff']))
  await writeFile(join(dir, 'node.yaml'), CONFIG)
  await mkdir(join(dir, 'docs'))
  await mkdir(join(dir, 'scans'))
  await writeFile(join(dir, 'docs', 'plan.txt'), 'plan\n')
  await writeFile(join(dir, 'scans', 'big.bin'), Buffer.alloc(24 * 1024 * 1024, 7))
}, 180_000)

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL')
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('peerguard node', () => {
  it('hosts two shares and a proxy; status, reload and SIGTERM under load', async () => {
    const node = await startNodeProcess(dir, children)
    expect(node.ready.services.map((s) => `${s.kind}:${s.name}`)).toEqual(['share:docs', 'share:scans', 'proxy:echo'])

    // status reflects a connected client
    const alice = await client(portOf(node, 'docs'), peer('alice'))
    expect((await alice.list('')).entries.map((e) => e.name)).toEqual(['plan.txt'])
    let s = await status()
    const docs = s.services.find((v) => v.name === 'docs')
    expect(docs?.peers).toEqual([expect.objectContaining({ name: 'alice', peerId: peer('alice').peerId, operations: 0 })])
    expect(s.services.find((v) => v.name === 'scans')?.peers).toEqual([])
    expect(s.services.find((v) => v.name === 'echo')?.listening).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(s.crls).toEqual([expect.objectContaining({ stale: false })])
    expect(s.policy.sha256).toBe(sha256(POLICY(['staff'])))

    // a policy edit applied through the control socket: alice loses docs on her open connection
    const edited = POLICY(['"name:bob"'])
    await replaceFile(join(dir, 'office.yaml'), edited)
    const r = await runCli(['node', 'reload', '--config', join(dir, 'node.yaml'), '--json'])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ policySha256: sha256(edited) })
    await expect(alice.stat('plan.txt')).rejects.toMatchObject({ code: 'share-denied' })
    s = await status()
    expect(s.policy.sha256).toBe(sha256(edited))

    // a config edit that needs a restart is refused; the node keeps serving under the config in force
    await replaceFile(
      join(dir, 'node.yaml'),
      CONFIG.replace('path: docs\n    listen: 127.0.0.1:0', 'path: docs\n    listen: 127.0.0.1:1')
    )
    const refused = await runCli(['node', 'reload', '--config', join(dir, 'node.yaml')])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/node-reload-refused.*shares changed: restart the node/)
    await replaceFile(join(dir, 'node.yaml'), CONFIG)
    await expect(alice.list('')).rejects.toMatchObject({ code: 'share-denied' })
    expect((await status()).services.map((v) => v.listening)).toEqual(s.services.map((v) => v.listening))
    alice.close()

    // SIGTERM under load: three downloads running
    const bobs = await Promise.all([1, 2, 3].map(() => client(portOf(node, 'scans'), peer('bob'))))
    const downloads = bobs.map((b) =>
      b.readFile('big.bin').then(
        (buf) => buf.length,
        (err: { code?: string }) => err.code
      )
    )
    for (;;) {
      const running = (await status()).services.find((v) => v.name === 'scans')?.peers ?? []
      if (running.reduce((n, p) => n + Number(p.operations), 0) > 0) break
      await new Promise((res) => setTimeout(res, 10))
    }
    const signalled = Date.now()
    node.child.kill('SIGTERM')
    expect(await node.exited).toBe(0)
    // bounded: within drain-seconds (20) plus the hard-stop grace, with room for a busy machine
    expect(Date.now() - signalled).toBeLessThan(60_000)
    const outcomes = await Promise.all(downloads)
    for (const o of outcomes) expect([24 * 1024 * 1024, 'aborted', 'share-connection-closed']).toContain(o)
    for (const b of bobs) b.close()
    const verify = await runCli(['audit', 'log', 'verify', join(dir, 'decisions.jsonl'), '--key', join(dir, 'nas.pem')])
    expect(verify.stdout).toMatch(/: OK: \d+ entries/)
    expect(verify.code).toBe(0)
    // the control socket is gone with the node
    await expect(runCli(['node', 'status', '--config', join(dir, 'node.yaml')])).resolves.toMatchObject({ code: 3 })
  }, 300_000)
})
