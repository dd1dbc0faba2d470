/** Jest global teardown: remove the XDG_CONFIG_HOME made by jest-global-setup.js. */
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'

export default function globalTeardown() {
  const dir = process.env.XDG_CONFIG_HOME
  if (dir?.startsWith(tmpdir()) === true && dir.includes('peerguard-test-config-')) rmSync(dir, { recursive: true, force: true })
}
