/**
 * Jest's node environment, plus a fresh, empty XDG_CONFIG_HOME for each test file — in the worker's
 * real environment, so the processes a test spawns inherit it too. Client commands record servers in
 * their default known-peers file (~/.config/peerguard/known-peers); with this, no test reads or
 * writes the real user's configuration, and no test sees a server that another test file (or an
 * earlier run) recorded on a port that was reused since.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TestEnvironment } from 'jest-environment-node'

export default class PeerguardTestEnvironment extends TestEnvironment {
  async setup() {
    await super.setup()
    this.configHome = mkdtempSync(join(tmpdir(), 'peerguard-test-config-'))
    this.previousConfigHome = process.env.XDG_CONFIG_HOME
    process.env.XDG_CONFIG_HOME = this.configHome
    this.global.process.env.XDG_CONFIG_HOME = this.configHome
  }

  async teardown() {
    if (this.previousConfigHome === undefined) delete process.env.XDG_CONFIG_HOME
    else process.env.XDG_CONFIG_HOME = this.previousConfigHome
    rmSync(this.configHome, { recursive: true, force: true })
    await super.teardown()
  }
}
