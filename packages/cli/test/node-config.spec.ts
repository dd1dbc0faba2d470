/**
 * The node config: located errors for every kind of mistake, all at once; relative paths; the
 * committed example checks; `peerguard node check` exits 0 / 3 (in process).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import { checkNodeConfig, loadNodeConfig, PROXY_KEYS, restartKeys, SHARE_KEYS, SWARM_KEYS, TOP_KEYS } from '../src/node/config.js'
import { ROOT } from './built-cli.js'
import { runCli } from './run-cli.js'

const GOOD = `identity: nas.key
cert: nas.pem
trust: ca.pem
crl: [ca.crl]
policy: office.yaml
log: decisions.jsonl
shares:
  - name: docs
    path: docs
    listen: 127.0.0.1:0
  - name: scans
    path: /srv/scans
    listen: 127.0.0.1:4456
    max-ops: 2
proxies:
  - service: printer
    listen: 127.0.0.1:0
    target: 127.0.0.1:631
    action: print
    tls: true
`

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'peerguard-node-config-'))
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('checkNodeConfig', () => {
  it('reads a good config with paths relative to the file', () => {
    const { config, findings } = checkNodeConfig(GOOD, '/etc/peerguard/node.yaml')
    expect(findings).toEqual([])
    expect(config?.identity).toBe('/etc/peerguard/nas.key')
    expect(config?.crl).toEqual(['/etc/peerguard/ca.crl'])
    expect(config?.shares.map((s) => [s.name, s.path, s.listen.port, s.maxOps])).toEqual([
      ['docs', '/etc/peerguard/docs', 0, 8],
      ['scans', '/srv/scans', 4456, 2]
    ])
    expect(config?.proxies[0]).toEqual({
      service: 'printer',
      listen: { host: '127.0.0.1', port: 0 },
      target: { host: '127.0.0.1', port: 631 },
      action: 'print',
      tls: true,
      proxyProtocol: false
    })
    expect(config?.drainSeconds).toBe(10)
  })

  it('locates every error at once: unknown key, bad listen, missing key, duplicate name', () => {
    const text = GOOD.replace('    listen: 127.0.0.1:4456\n', '    listen: nowhere\n    colour: red\n')
      .replace('cert: nas.pem\n', '')
      .replace('name: scans', 'name: docs')
    const { config, findings } = checkNodeConfig(text, 'node.yaml')
    expect(config).toBeUndefined()
    const lines = text.split('\n')
    const at = (needle: string): number => lines.findIndex((l) => l.includes(needle)) + 1
    expect(findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: '(top level)', message: 'missing required key "cert"' }),
        expect.objectContaining({ path: 'shares[1].listen', line: at('nowhere'), column: 13 }),
        expect.objectContaining({ path: 'shares[1].colour', line: at('colour'), column: 5 }),
        expect.objectContaining({ path: 'shares[1].name', message: 'share name "docs" is already used by shares[0].name' })
      ])
    )
    expect(findings).toHaveLength(4)
  })

  it('reports YAML syntax errors with their line', () => {
    const { findings } = checkNodeConfig('identity: a\nshares: [ {\n', 'n.yaml')
    expect(findings.length).toBeGreaterThan(0)
    expect(findings[0]?.path).toBe('(syntax)')
    expect(findings[0]?.line).toBeGreaterThanOrEqual(2)
  })

  it('refuses a node that serves nothing, and a proxy target on port 0', () => {
    const none = checkNodeConfig('identity: a\ncert: b\ntrust: c\npolicy: d\n', 'n.yaml')
    expect(none.findings.map((f) => f.message)).toEqual([expect.stringContaining('serves nothing')])
    const zero = checkNodeConfig(GOOD.replace('target: 127.0.0.1:631', 'target: 127.0.0.1:0'), 'n.yaml')
    expect(zero.findings.map((f) => f.path)).toEqual(['proxies[0].target'])
  })

  it('never throws: any text gives a config or located findings', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.constantFrom(GOOD)), (text) => {
        const r = checkNodeConfig(text, 'x.yaml')
        expect(r.config !== undefined || r.findings.length > 0).toBe(true)
        for (const f of r.findings) {
          expect(f.line).toBeGreaterThanOrEqual(1)
          expect(f.column).toBeGreaterThanOrEqual(1)
        }
      }),
      { numRuns: 300 }
    )
    // Found by the property above: an alias without its anchor made the yaml library throw.
    for (const text of ['*!', 'identity: *a', 'a: &x [*x]'])
      expect(checkNodeConfig(text, 'x.yaml').findings.length).toBeGreaterThan(0)
  })

  it('reads swarm seeds: paths relative to the file, the upload cap; a swarm alone is a node', () => {
    const text = `${GOOD}swarms:\n  - manifest: data.pgswarm\n    file: /srv/data.bin\n    listen: 0.0.0.0:6881\n    max-upload: 1048576\n`
    const { config, findings } = checkNodeConfig(text, '/etc/peerguard/node.yaml')
    expect(findings).toEqual([])
    expect(config?.swarms).toEqual([
      {
        manifest: '/etc/peerguard/data.pgswarm',
        file: '/srv/data.bin',
        listen: { host: '0.0.0.0', port: 6881 },
        maxUpload: 1048576
      }
    ])
    const alone = checkNodeConfig(
      'identity: a\ncert: b\ntrust: c\npolicy: d\nswarms:\n  - manifest: m\n    file: f\n    listen: 127.0.0.1:0\n',
      '/n.yaml'
    )
    expect(alone.findings).toEqual([])
    expect(alone.config?.swarms[0]).toEqual({ manifest: '/m', file: '/f', listen: { host: '127.0.0.1', port: 0 } })
    expect(checkNodeConfig(GOOD, '/n.yaml').config?.swarms).toEqual([])
  })

  it('locates swarm mistakes: unknown key, bad cap, a port or manifest used twice, missing file', () => {
    const text = `${GOOD}swarms:
  - manifest: data.pgswarm
    file: data.bin
    listen: 127.0.0.1:4456
    max-upload: 10
    seeds: 3
  - manifest: data.pgswarm
    file: data.bin
    listen: 127.0.0.1:6881
  - manifest: other.pgswarm
    listen: 127.0.0.1:6882
`
    const lines = text.split('\n')
    const at = (needle: string, from = 0): number => lines.findIndex((l, i) => i >= from && l.includes(needle)) + 1
    const { config, findings } = checkNodeConfig(text, '/etc/node.yaml')
    expect(config).toBeUndefined()
    expect(findings.map((f) => [f.path, f.line, f.message])).toEqual([
      ['swarms[0].seeds', at('seeds'), expect.stringContaining('unknown key "seeds"')],
      ['swarms[0].max-upload', at('max-upload'), 'expected a whole number 1024..1000000000000'],
      ['swarms[2]', at('other.pgswarm'), 'missing required key "file"'],
      ['swarms[0].listen', at('4456', at('swarms:')), 'port 4456 is already used by shares[1].listen'],
      [
        'swarms[1].manifest',
        at('data.pgswarm', at('seeds')),
        'manifest "/etc/data.pgswarm" is already used by swarms[0].manifest'
      ]
    ])
  })

  it('names the keys that need a restart; drain-seconds reloads live', () => {
    const a = checkNodeConfig(GOOD, '/n.yaml').config
    const b = checkNodeConfig(`${GOOD}drain-seconds: 3\n`, '/n.yaml').config
    const c = checkNodeConfig(GOOD.replace('127.0.0.1:4456', '127.0.0.1:4457'), '/n.yaml').config
    if (a === undefined || b === undefined || c === undefined) throw new Error('configs must check')
    expect(restartKeys(a, b)).toEqual([])
    expect(restartKeys(a, c)).toEqual(['shares'])
  })
})

describe('peerguard node check', () => {
  it('exits 0 on a good config and on the committed example', async () => {
    await writeFile(join(dir, 'good.yaml'), GOOD)
    const r = await runCli(['node', 'check', join(dir, 'good.yaml')])
    expect(r).toMatchObject({ code: 0, stdout: `${join(dir, 'good.yaml')}: OK\n` })
    expect((await runCli(['node', 'check', join(ROOT, 'examples', 'node.yaml')])).code).toBe(0)
    await expect(loadNodeConfig(join(ROOT, 'examples', 'node.yaml'))).resolves.toMatchObject({ drainSeconds: 10 })
  })

  it('exits 3 with file:line:column errors; --json lists them', async () => {
    const file = join(dir, 'bad.yaml')
    await writeFile(file, GOOD.replace('    max-ops: 2\n', '    max-ops: lots\n'))
    const r = await runCli(['node', 'check', file])
    expect(r.code).toBe(3)
    expect(r.stdout).toContain(`${file}:14:14: error: shares[1].max-ops: expected a whole number 1..10000 [node-config-invalid]`)
    const j = await runCli(['node', 'check', file, '--json'])
    expect(j.code).toBe(3)
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: false, errors: 1, findings: [{ line: 14, column: 14 }] })
    await expect(loadNodeConfig(file)).rejects.toMatchObject({ code: 'node-config-invalid' })
  })
})

describe('node.schema.json', () => {
  it('names exactly the keys the loader accepts, and requires what it requires', async () => {
    const schema = JSON.parse(await readFile(join(ROOT, 'packages', 'cli', 'node.schema.json'), 'utf8'))
    expect(Object.keys(schema.properties).sort()).toEqual([...TOP_KEYS].sort())
    expect(Object.keys(schema.properties.shares.items.properties).sort()).toEqual([...SHARE_KEYS].sort())
    expect(Object.keys(schema.properties.proxies.items.properties).sort()).toEqual([...PROXY_KEYS].sort())
    expect(Object.keys(schema.properties.swarms.items.properties).sort()).toEqual([...SWARM_KEYS].sort())
    expect(schema.properties.swarms.items.required).toEqual(['manifest', 'file', 'listen'])
    for (const key of schema.required as string[]) {
      const without = GOOD.split('\n')
        .filter((l) => !l.startsWith(`${key}:`))
        .join('\n')
      expect(checkNodeConfig(without, 'n.yaml').findings.map((f) => f.message)).toEqual([`missing required key "${key}"`])
    }
  })
})
