/**
 * Attacker: a workspace member choosing the service names it announces (up to 64 UTF-8 bytes,
 * any characters), or any peer whose bytes reach an error message (a protocol name, a path).
 * Invariant (SECURITY.md, cli): nothing a peer sends reaches the operator's terminal as a control
 * character — `peerguard peers` lines and console lines (text and JSON Lines) carry C0, DEL, C1
 * and U+2028/9 only as escapes, and JSON lines still parse back to the exact values.
 * A real member announcing over loopback UDP, then model properties over arbitrary strings.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { makeTestPki, type TestPeer, type TestPki } from '@peerguard/test-utils'
import type { Workspace } from '@peerguard/workspace'
import fc from 'fast-check'
import { formatPeers } from '../../packages/cli/src/commands/peers.js'
import { ConsoleLog, type LogFields } from '../../packages/cli/src/console-log.js'
import { formatStatus, type NodeStatus } from '../../packages/cli/src/node/status.js'
import type { WorkspaceStatus } from '../../packages/cli/src/node/workspace-node.js'
import { mesh, startMember, until } from '../../packages/workspace/test/helpers.js'

/** What a terminal would act on: C0, DEL, C1, and the JS line separators. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/
const HOSTILE = ['\u001b]0;owned\u0007', '\u001b[2J\u001b[H', 'ok\u009b31m', 'a\u2028b', 'x\r\ny', '\u007fdel']

/** The status `peerguard peers` gets from a node (NodeWorkspace.status, from the workspace's view). */
function statusOf(ws: Workspace): WorkspaceStatus {
  const up = new Set(ws.members().map((m) => m.peerId))
  return {
    workspaceId: ws.workspaceId,
    bundleVersion: ws.bundleVersion,
    service: String(ws.servicePort),
    peers: ws.peers().map((p) => ({ ...p, up: up.has(p.peerId) }))
  }
}

describe('peerguard peers: service names a member announces', () => {
  const pki: Promise<TestPki> = makeTestPki({ peers: ['alice', 'mallory'] })
  let alice: Workspace
  let mallory: Workspace

  beforeAll(async () => {
    const p = await pki
    alice = await startMember(p, p.peers.alice as TestPeer)
    mallory = await startMember(p, p.peers.mallory as TestPeer, {
      advertise: { services: HOSTILE.map((name, i) => ({ kind: 'share' as const, name, port: 9000 + i })) }
    })
    mesh([alice, mallory])
    await until(
      [alice],
      ['peer'],
      () => alice.members().some((m) => m.services.length === HOSTILE.length),
      'alice lists mallory with her services'
    )
  })

  afterAll(async () => {
    await Promise.all([alice.close(), mallory.close()])
  })

  it('are listed escaped: no control character reaches the terminal', () => {
    const lines = formatPeers(statusOf(alice), true)
    const row = lines.find((l) => l.includes('mallory')) as string
    expect(row).toContain('share:\\x1b]0;owned\\x07@9000')
    expect(row).toContain('share:ok\\x9b31m@9002')
    for (const line of lines) expect(line).not.toMatch(CONTROL)
  })
})

describe('model: any strings a peer can influence', () => {
  // weighted toward the characters that matter (uniform code points almost never hit C1)
  const char = fc.oneof(
    fc.integer({ min: 0, max: 0xa0 }).map((n) => String.fromCharCode(n)),
    fc.constantFrom('\u2028', '\u2029', '\ud800', 'é', '😀'),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })
  )
  const text = fc.string({ unit: char, maxLength: 40 })

  it('formatPeers never writes a control character', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            name: fc.option(text, { nil: undefined }),
            code: fc.option(text, { nil: undefined }),
            host: fc.option(text, { nil: undefined }),
            services: fc.array(fc.record({ name: text, port: fc.nat(65535) }), { maxLength: 4 }),
            up: fc.boolean(),
            member: fc.boolean()
          }),
          { maxLength: 5 }
        ),
        (peers) => {
          const status: WorkspaceStatus = {
            workspaceId: 'ab',
            bundleVersion: 1,
            service: '1',
            peers: peers.map((p) => ({
              peerId: 'P',
              name: p.name,
              groups: [],
              state: p.member ? 'member' : 'unverified',
              code: p.code,
              lastSeen: 0,
              host: p.host,
              fetchPort: 0,
              addresses: [],
              services: p.services.map((s) => ({ kind: 'share' as const, ...s })),
              bundleVersion: 0,
              up: p.up
            }))
          }
          for (const line of formatPeers(status, true)) expect(line).not.toMatch(CONTROL)
        }
      )
    )
  })

  it('node status never writes a control character (peer names, the paths peers asked for)', () => {
    fc.assert(
      fc.property(text, text, text, text, (name, op, address, issuer) => {
        const status: NodeStatus = {
          pid: 1,
          config: 'node.yaml',
          since: '2026-01-01T00:00:00Z',
          policy: { file: 'policy.yaml', sha256: undefined },
          crls: [{ issuer, thisUpdate: 'x', stale: false }],
          services: [
            {
              kind: 'share',
              name: 'docs',
              listening: '127.0.0.1:1',
              root: '/srv',
              peers: [{ name, peerId: 'P', address, since: 'x', operations: 1, current: [`read ${op}`], bytesIn: 0, bytesOut: 0 }]
            }
          ]
        }
        for (const line of formatStatus(status)) expect(line).not.toMatch(CONTROL)
      })
    )
  })

  it('console lines, text or JSON, never carry a control character; JSON parses back exactly', () => {
    fc.assert(
      fc.property(text, text, text, text, fc.constantFrom('text', 'json'), (msg, peer, reason, path, format) => {
        const out: string[] = []
        const log = new ConsoleLog({ write: (l) => out.push(l), format: format as 'text' | 'json', level: 'debug' })
        const fields: LogFields = { service: 'share:docs', peer, reason, path, code: 'deny-default' }
        log.event('warn', 'refused', msg, fields)
        log.warn(msg, { peer, address: path, code: reason })
        for (const line of out) expect(line).not.toMatch(CONTROL)
        if (format === 'json') {
          const first = JSON.parse(out[0] as string) as Record<string, unknown>
          expect([first.msg, first.peer, first.reason, first.path]).toEqual([msg, peer, reason, path])
        }
      })
    )
  })
})
