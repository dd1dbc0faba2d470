/**
 * What the console-log tests share: a folder with a LAN CA (nas serves, alice is staff), a policy
 * that lets staff read and write share:docs, a docs folder; a client that lists the share as a
 * peer, one that hangs up before any handshake (refused every time), and the JSON Lines reader.
 */
import { connect } from 'node:net'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadTrustStore } from '@peerguard/pki'
import { channelTransport, connectShare } from '@peerguard/share'
import { type LanCa, makeLanCa } from '@peerguard/test-utils'

export const DOCS_POLICY = `version: 1
groups:
  staff: ["ou:staff"]
rules:
  - id: staff-docs
    allow: [read, write]
    peers: [staff]
    resources: ["share:docs/**"]
`

/** A fresh folder: the LAN CA's files, office.yaml (DOCS_POLICY) and docs/plan.txt. */
export async function consoleFixture(prefix: string): Promise<{ dir: string; lan: LanCa }> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  const lan = await makeLanCa({
    dir,
    peers: [
      { name: 'nas', groups: ['servers'] },
      { name: 'alice', groups: ['staff'] }
    ]
  })
  await writeFile(join(dir, 'office.yaml'), DOCS_POLICY)
  await mkdir(join(dir, 'docs'))
  await writeFile(join(dir, 'docs', 'plan.txt'), 'plan\n')
  return { dir, lan }
}

/** `name` lists the share on `port` over a real channel, then closes. */
export async function listAs(lan: LanCa, name: string, port: number): Promise<void> {
  const peer = lan.peer(name)
  const trust = await loadTrustStore(lan.trustDir)
  const client = await connectShare(
    { host: '127.0.0.1', port },
    { transport: channelTransport({ identity: peer.identity, chain: peer.chain, trust }) }
  )
  await client.list('')
  await client.close()
}

/** Connect and hang up before any handshake: the server refuses it, every time. */
export function hangUp(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => s.end())
    s.on('error', reject)
    s.on('close', () => resolve())
  })
}

/** Every non-empty line of `stderr` as a JSON object (a line that is not JSON throws). */
export function jsonLines(stderr: string): Array<Record<string, unknown>> {
  return stderr
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}
