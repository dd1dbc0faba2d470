/**
 * The systemd unit in packages/cli/packaging passes `systemd-analyze verify` with no warning
 * (systemd only warns about unknown keys and bad values, so any output fails the test), keeps its
 * sandboxing, and scores as well-confined by `systemd-analyze security --offline`.
 */
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, jest } from '@jest/globals'
import { needs } from '@peerguard/test-utils'
import { ROOT } from './built-cli.js'

jest.setTimeout(120_000)

const UNIT = join(ROOT, 'packages', 'cli', 'packaging', 'peerguard-node.service')
const text = readFileSync(UNIT, 'utf8')
const gate = needs('systemd-analyze', 'systemd unit: systemd-analyze verify and security')

let dir: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'peerguard-unit-'))
  // verify checks that ExecStart= is executable: point it at a stand-in for the installed binary.
  writeFileSync(join(dir, 'peerguard'), '#!/bin/sh\nexit 0\n')
  chmodSync(join(dir, 'peerguard'), 0o755)
})
afterAll(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5 }))

/** Write the unit (edited by `edit`) next to the stand-in binary and run systemd-analyze on it. */
function analyze(args: string[], edit: (unit: string) => string = (u) => u) {
  const file = join(dir, 'peerguard-node.service')
  writeFileSync(file, edit(text).replaceAll('/usr/local/bin/peerguard', join(dir, 'peerguard')))
  const r = spawnSync('systemd-analyze', [...args, file], { encoding: 'utf8', timeout: 100_000 })
  return { code: r.status, out: `${r.stdout}${r.stderr}` }
}

gate.describe('packaging/peerguard-node.service', () => {
  gate.it('verifies with no warning', () => {
    const r = analyze(['verify'])
    expect(r.out).toBe('')
    expect(r.code).toBe(0)
  })

  gate.it('a typo in a key or a bad value is caught (the check above can fail)', () => {
    expect(analyze(['verify'], (u) => u.replace('KillSignal=', 'KillSignalx=')).out).toMatch(/Unknown key 'KillSignalx'/)
    expect(analyze(['verify'], (u) => u.replace('ProtectSystem=strict', 'ProtectSystem=sideways')).out).toMatch(
      /protect system value/i
    )
  })

  gate.it('keeps the sandbox, the credential, the runtime dir and the signals', () => {
    for (const line of [
      'ProtectSystem=strict',
      'NoNewPrivileges=yes',
      'ProtectHome=yes',
      'PrivateTmp=yes',
      'LoadCredential=passphrase:/etc/peerguard/passphrase',
      'RuntimeDirectory=peerguard',
      'ExecReload=/bin/kill -HUP $MAINPID',
      'KillSignal=SIGTERM',
      'TimeoutStopSec=60',
      'CapabilityBoundingSet='
    ]) {
      expect(text.split('\n')).toContain(line)
    }
    expect(text).toMatch(/^ReadWritePaths=\S+/m)
    expect(text).not.toMatch(/passphrase-file|PEERGUARD_PASSPHRASE/) // the secret is never argv or environment
  })

  gate.it('systemd rates its exposure as OK (below 2.0 of 10)', () => {
    const r = analyze(['security', '--offline=yes', '--no-pager'])
    const score = /Overall exposure level for [^:]+: ([\d.]+)/.exec(r.out)
    expect(score).not.toBeNull()
    expect(Number(score?.[1])).toBeLessThan(2)
  })
})
