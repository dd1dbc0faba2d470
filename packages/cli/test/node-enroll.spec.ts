import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals'
import { ensureCliBuilt } from './built-cli.js'
import { type NodeProcess, servicePort, startNodeProcess } from './node-process.js'
import { type CliRun, runCli } from './run-cli.js'
import { makeCliCa } from './cli-ca.js'

// The CA node runs as a process of the built binary; under load it takes seconds to start.
jest.setTimeout(180_000)

const POLICY = `version: 1
groups:
  family: ["ou:family"]
rules:
  - id: family-reads-docs
    allow: [read]
    peers: [family]
    resources: ["share:docs/**"]
`

const NODE_YAML = `identity: admin.key
cert: admin.pem
trust: ca/ca.pem
crl: [ca/crl.pem]
policy: policy.yaml
log: decisions.jsonl
shares:
  - name: docs
    path: docs
    listen: 127.0.0.1:0
enrollment:
  ca: ca
  passphrase-file: ca.pass
  listen: 127.0.0.1:0
  days: 7
`

let dir: string
const children: ChildProcessWithoutNullStreams[] = []

async function ok(...args: string[]): Promise<CliRun> {
  const r = await runCli(args, { cwd: dir })
  if (r.code !== 0) throw new Error(`peerguard ${args.join(' ')}: exit ${r.code}\n${r.stderr}`)
  return r
}

/** The enrollment address the node printed on stderr (waits for it on the stream, no sleeps). */
function enrollmentAddress(node: NodeProcess): Promise<string> {
  const find = (): string | undefined => /enrollment service on (127\.0\.0\.1:\d+)/.exec(node.stderr.join(''))?.[1]
  return new Promise((resolve, reject) => {
    const now = find()
    if (now !== undefined) return resolve(now)
    const onData = (): void => {
      const a = find()
      if (a === undefined) return
      node.child.stderr.off('data', onData)
      resolve(a)
    }
    node.child.stderr.on('data', onData)
    node.exited.then((code) => reject(new Error(`node exited (${code}) before its enrollment service was up`)))
  })
}

beforeAll(async () => {
  ensureCliBuilt()
  dir = await mkdtemp(join(tmpdir(), 'peerguard-node-enroll-'))
  await makeCliCa(dir, { caName: 'Node Enroll CA', members: [{ name: 'admin', groups: ['admins'] }], crl: true })
  await mkdir(join(dir, 'docs', 'notes'), { recursive: true })
  await writeFile(join(dir, 'docs', 'notes', 'minutes.txt'), 'agenda\n')
  await writeFile(join(dir, 'policy.yaml'), POLICY)
  await writeFile(join(dir, 'node.yaml'), NODE_YAML)
}, 180_000)

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL')
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('peerguard node with an enrollment: section (the CA node)', () => {
  it('checks the section', async () => {
    expect((await runCli(['node', 'check', 'node.yaml'], { cwd: dir })).code).toBe(0)
    await writeFile(join(dir, 'bad.yaml'), `${NODE_YAML}  colour: blue\n`)
    const bad = await runCli(['node', 'check', 'bad.yaml'], { cwd: dir })
    expect(bad.code).toBe(3)
    expect(bad.stdout + bad.stderr).toMatch(/enrollment.*colour/)
  })

  it('enrolls a member with a token, who then lists the share the CA node hosts; all of it in the log', async () => {
    const node = await startNodeProcess(dir, children)
    try {
      const address = await enrollmentAddress(node)
      const made = await ok(
        'ca',
        'token',
        '--ca',
        'ca',
        '--name',
        'carol',
        '--groups',
        'family',
        '--ttl',
        '10m',
        '--address',
        address
      )
      const line = made.stdout.trim()
      const joined = await ok('join', line, '--dir', 'carol')
      expect(joined.stdout).toMatch(/^joined as carol \(groups: family\)/)
      const replay = await runCli(['join', line, '--dir', 'carol-again'], { cwd: dir })
      expect(replay.code).toBe(1)
      expect(replay.stderr).toMatch(/enroll-token-used/)
      const c = join(dir, 'carol')
      const ls = await runCli(
        [
          'share',
          'ls',
          `127.0.0.1:${servicePort(node, 'docs')}`,
          'notes',
          '--identity',
          join(c, 'identity.key'),
          '--cert',
          join(c, 'cert.pem'),
          '--trust',
          join(c, 'trust')
        ],
        { cwd: dir }
      )
      expect(ls.code).toBe(0)
      expect(ls.stdout).toMatch(/minutes\.txt/)
      // the policy the member received is the node's
      expect(await readFile(join(c, 'policy.yaml'), 'utf8')).toBe(POLICY)
    } finally {
      node.child.kill('SIGTERM')
      expect(await node.exited).toBe(0)
    }
    const log = await readFile(join(dir, 'decisions.jsonl'), 'utf8')
    expect(log).toMatch(/"verb":"token"/)
    expect(log).toMatch(/"verb":"enroll".*"name":"carol"|"name":"carol".*"verb":"enroll"/)
    expect(log).toMatch(/"code":"enroll-token-used"/)
    expect((await runCli(['audit', 'log', 'verify', 'decisions.jsonl'], { cwd: dir })).code).toBe(0)
  })
})
