import { describe, expect, it } from '@jest/globals'
import { checkNodeConfig } from '../src/node/config.js'

const BASE = `identity: n.key
cert: n.pem
trust: ca.pem
crl: [ca.crl]
policy: p.yaml
shares:
  - name: docs
    path: docs
    listen: 127.0.0.1:0
`

describe('the workspace: section of a node config', () => {
  it('absent: the node does not join; present and empty: multicast defaults, bundle-dir next to the config', () => {
    expect(checkNodeConfig(BASE, '/etc/pg/node.yaml').config?.workspace).toBeUndefined()
    expect(checkNodeConfig(`${BASE}workspace: {}\n`, '/etc/pg/node.yaml').config?.workspace).toEqual({
      enable: true,
      multicast: { host: '239.255.77.77', port: 47177 },
      interface: undefined,
      listen: { host: '0.0.0.0', port: 47178 },
      peers: [],
      udpPort: 0,
      announceIntervalMs: 5000,
      bundleDir: '/etc/pg/workspace',
      applyPolicy: true
    })
  })

  it('unicast only, with peers', () => {
    const ws = checkNodeConfig(
      `${BASE}workspace:\n  multicast: false\n  udp-port: 47177\n  peers: [10.0.0.2:47177, "[fe80::1]:47177"]\n  apply-policy: false\n`,
      '/n.yaml'
    ).config?.workspace
    expect(ws).toMatchObject({
      multicast: undefined,
      udpPort: 47177,
      peers: [
        { host: '10.0.0.2', port: 47177 },
        { host: 'fe80::1', port: 47177 }
      ],
      applyPolicy: false
    })
  })

  it('every fault is a located finding', () => {
    const { findings } = checkNodeConfig(
      `${BASE}workspace:\n  multicast: nonsense\n  peers: [nohost]\n  announce-interval-ms: 1\n  colour: blue\n`,
      '/n.yaml'
    )
    expect(findings.map((f) => [f.path, f.message])).toEqual(
      expect.arrayContaining([
        ['workspace.colour', expect.stringMatching(/^unknown key "colour"/)],
        ['workspace.multicast', 'expected HOST:PORT (port 1..65535), got "nonsense"'],
        ['workspace.peers[0]', 'expected a UDP HOST:PORT (port 1..65535)'],
        ['workspace.announce-interval-ms', 'expected a whole number 50..3600000']
      ])
    )
    expect(findings.every((f) => f.line > 0)).toBe(true)
  })
})
