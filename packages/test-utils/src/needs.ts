import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { describe as Describe, it as It } from '@jest/globals'
import { InvalidArgumentError } from '@peerguard/interface'
import { NODE24_ENV, node24Binary } from './node24.js'

/**
 * What a test may need from the machine: root, a kernel feature, a Debian tool, or the optional
 * `pcap` native build. Each has a probe that really tries it (a root shell in a container without
 * CAP_SYS_ADMIN cannot mount) and an install hint.
 */
export type Capability =
  | 'root'
  | 'pcap'
  | 'mount'
  | 'chattr'
  | 'mknod'
  | 'netns'
  | 'unshare'
  | 'openssl'
  | 'curl'
  | 'tshark'
  | 'dumpcap'
  | 'tcpdump'
  | 'smbd'
  | 'smbclient'
  | 'smbpasswd'
  | 'vsftpd'
  | 'aria2c'
  | 'mktorrent'
  | 'stunnel4'
  | 'nginx'
  | 'python3'
  | 'chromium'
  | 'rsyslogd'
  | 'systemd-analyze'
  | 'node24'
  | 'zsh'
  | 'mandoc'

/** The environment variable that turns a missing capability from a visible skip into a failure. */
export const REQUIRE_ALL_ENV = 'PEERGUARD_REQUIRE_ALL'
/** Comma-separated capabilities to treat as missing, to see what a machine without them runs. */
export const WITHOUT_ENV = 'PEERGUARD_TEST_WITHOUT'

interface Probe {
  readonly hint: string
  readonly present: () => boolean
}

const isRoot = (): boolean => process.getuid?.() === 0
const ok = (cmd: string, args: readonly string[]): boolean => {
  const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: 60_000 })
  return r.error === undefined && r.status === 0
}
const onPath = (cmd: string): boolean => ok('sh', ['-c', `command -v ${cmd}`])
/** Run `body` with a fresh directory under the OS temp dir (where the tests work), then remove it. */
function inTempDir(body: (dir: string) => boolean): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'pg-probe-'))
  try {
    return body(dir)
  } finally {
    spawnSync('chattr', ['-i', dir], { stdio: 'ignore' })
    spawnSync('umount', [dir], { stdio: 'ignore' })
    rmSync(dir, { recursive: true, force: true })
  }
}
const tool = (cmd: string, debianPackage: string): Probe => ({
  hint: `apt-get install ${debianPackage}`,
  present: () => onPath(cmd)
})

/** The folder this module is in (src/ under Jest, dist/ when built): `pcap` resolves from here like @peerguard/audit's. */
const HERE = import.meta.dirname

const PROBES: Readonly<Record<Capability, Probe>> = {
  root: { hint: 'run the tests as root', present: isRoot },
  pcap: {
    hint: 'apt-get install libpcap-dev, then npm install (builds the optional `pcap` package)',
    // Load the binding in a child: a package that installed but did not build fails here.
    present: () =>
      spawnSync(process.execPath, ['-e', 'require(process.argv[1])', 'pcap'], { cwd: HERE, stdio: 'ignore', timeout: 60_000 })
        .status === 0
  },
  mount: {
    hint: 'root with CAP_SYS_ADMIN (mount -t tmpfs)',
    present: () => isRoot() && inTempDir((d) => ok('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', d]))
  },
  chattr: {
    hint: 'root with CAP_LINUX_IMMUTABLE, temp dir on ext4/xfs (chattr +i)',
    present: () => isRoot() && inTempDir((d) => ok('chattr', ['+i', d]))
  },
  mknod: {
    hint: 'root with CAP_MKNOD (mknod c 1 3)',
    present: () => isRoot() && inTempDir((d) => ok('mknod', [join(d, 'null'), 'c', '1', '3']))
  },
  netns: {
    hint: 'root and iproute2 (ip netns add)',
    present: () => {
      if (process.platform !== 'linux' || !isRoot()) return false
      const name = `pg-probe-${process.pid}`
      if (!ok('ip', ['netns', 'add', name])) return false
      spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore' })
      return true
    }
  },
  unshare: {
    hint: 'root and util-linux (unshare --mount)',
    present: () => isRoot() && ok('unshare', ['--mount', '--fork', 'true'])
  },
  openssl: tool('openssl', 'openssl'),
  curl: tool('curl', 'curl'),
  tshark: tool('tshark', 'tshark'),
  dumpcap: tool('dumpcap', 'wireshark-common'),
  tcpdump: tool('tcpdump', 'tcpdump'),
  smbd: tool('smbd', 'samba'),
  smbclient: tool('smbclient', 'smbclient'),
  smbpasswd: tool('smbpasswd', 'samba-common-bin'),
  vsftpd: tool('vsftpd', 'vsftpd'),
  aria2c: tool('aria2c', 'aria2'),
  mktorrent: tool('mktorrent', 'mktorrent'),
  stunnel4: tool('stunnel4', 'stunnel4'),
  // Debian puts nginx in /usr/sbin, which a non-root PATH may lack
  nginx: { hint: 'apt-get install nginx-light', present: () => onPath('nginx') || ok('/usr/sbin/nginx', ['-v']) },
  python3: tool('python3', 'python3'),
  chromium: tool('chromium', 'chromium'),
  rsyslogd: tool('rsyslogd', 'rsyslog'),
  'systemd-analyze': tool('systemd-analyze', 'systemd'),
  node24: {
    hint: `run on Node 24, or set ${NODE24_ENV} to a Node 24 binary (npm install --prefix .tmp/node24 node@24; .ci/run does)`,
    present: () => node24Binary() !== undefined
  },
  zsh: tool('zsh', 'zsh'),
  // the man page lint renders with groff too (groff-base)
  mandoc: { hint: 'apt-get install mandoc groff-base', present: () => onPath('mandoc') && onPath('groff') }
}

/** Every capability `needs()` knows, in a stable order. */
export const CAPABILITIES: readonly Capability[] = Object.keys(PROBES) as Capability[]

const cache = new Map<Capability, boolean>()

function probeOf(capability: Capability): Probe {
  if (typeof capability !== 'string' || !Object.hasOwn(PROBES, capability))
    throw new InvalidArgumentError(`capability: expected one of ${CAPABILITIES.join(', ')}, got ${JSON.stringify(capability)}`)
  return PROBES[capability]
}

/** Whether the machine has `capability` (probed once per module instance; `PEERGUARD_TEST_WITHOUT` hides it). */
export function hasCapability(capability: Capability): boolean {
  const probe = probeOf(capability)
  const hidden = (process.env[WITHOUT_ENV] ?? '').split(',').map((c) => c.trim())
  if (hidden.includes(capability)) return false
  let present = cache.get(capability)
  if (present === undefined) {
    present = probe.present()
    cache.set(capability, present)
  }
  return present
}

/** The install hint for a capability. */
export function capabilityHint(capability: Capability): string {
  return probeOf(capability).hint
}

/** What `needs()` returns: Jest's `describe`/`it` when every capability is there, otherwise stand-ins. */
export interface Gate {
  /** True when every capability is present. */
  readonly ok: boolean
  /** The capabilities that are missing (empty when `ok`). */
  readonly missing: readonly Capability[]
  readonly describe: typeof Describe.skip
  readonly it: typeof It.skip
  readonly test: typeof It.skip
}

interface JestGlobals {
  describe: typeof Describe
  it: typeof It
}
function jestGlobals(): JestGlobals {
  const g = globalThis as unknown as Partial<JestGlobals>
  if (typeof g.describe !== 'function' || typeof g.it !== 'function')
    throw new Error('needs() must be called inside a Jest test file')
  return g as JestGlobals
}

/** Whether `PEERGUARD_REQUIRE_ALL` asks for every capability (any value but '', '0', 'false'). */
export function requireAll(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env[REQUIRE_ALL_ENV]
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false'
}

/**
 * Gate tests on what the machine offers. With every capability present, the real `describe`/`it`;
 * otherwise `describe.skip`/`it.skip` and one line on stderr naming the reason and what to install,
 * so the skip shows in Jest's summary and in the log. With `PEERGUARD_REQUIRE_ALL=1` (CI) a missing
 * capability is a failing test instead, whose message says what is missing.
 *
 * @example
 * ```ts
 * const live = needs(['root', 'pcap'], 'live capture on lo through libpcap')
 * live.it('captures a login', async () => { ... })
 * ```
 */
export function needs(capabilities: Capability | readonly Capability[], reason: string): Gate {
  const list = typeof capabilities === 'string' ? [capabilities] : capabilities
  if (!Array.isArray(list) || list.length === 0)
    throw new InvalidArgumentError('capabilities: expected a capability or a non-empty array of them')
  if (typeof reason !== 'string' || reason.trim() === '') throw new InvalidArgumentError('reason: expected a non-empty string')
  const { describe, it } = jestGlobals()
  const missing = list.filter((c) => !hasCapability(c))
  if (missing.length === 0) return { ok: true, missing, describe, it, test: it }
  const what = missing.map((c) => `${c} (${capabilityHint(c)})`).join(', ')
  if (requireAll()) {
    const message = `${REQUIRE_ALL_ENV} is set and this test cannot run: ${reason}; missing ${what}`
    const failing = ((name: string) =>
      it(name, () => {
        throw new Error(message)
      })) as unknown as typeof It.skip
    const failingBlock = ((name: string) =>
      describe(name, () => {
        it(`needs ${missing.join(', ')}`, () => {
          throw new Error(message)
        })
      })) as unknown as typeof Describe.skip
    return { ok: false, missing, describe: failingBlock, it: failing, test: failing }
  }
  process.stderr.write(`peerguard tests: SKIPPED ${reason}: missing ${what}; ${REQUIRE_ALL_ENV}=1 makes this a failure\n`)
  return { ok: false, missing, describe: describe.skip, it: it.skip, test: it.skip }
}
