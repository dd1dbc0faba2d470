/**
 * Jest global setup: every test (and every process a test spawns) gets a fresh, empty
 * XDG_CONFIG_HOME, so client commands that record servers in their default known-peers file
 * (~/.config/peerguard/known-peers) never read or write the real user's configuration, and runs
 * never see servers recorded by earlier runs on reused ports.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export default function globalSetup() {
  process.env.XDG_CONFIG_HOME = mkdtempSync(join(tmpdir(), 'peerguard-test-config-'))
}
