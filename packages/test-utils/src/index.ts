/**
 * @packageDocumentation
 * Test helpers for peerguard packages (dev only): connected in-memory and loopback TCP stream
 * pairs, a frame-tampering man-in-the-middle proxy, a test PKI built with @peerguard/pki, the
 * SecureChannel compliance suite every channel implementation runs, and `needs()`, the one way a
 * test asks for root, a Debian tool or the `pcap` build (a visible skip, or a failure in CI).
 *
 * @example
 * ```ts
 * import { makeTestPki, tcpPair, runSecureChannelCompliance } from '@peerguard/test-utils'
 * const pki = await makeTestPki()
 * const [client, server] = await tcpPair()
 * ```
 */
export { duplexPair } from './duplex-pair.js'
export { connectTcp, frameProxy, tcpPair } from './tcp.js'
export type { FrameProxyOptions, FrameTamper } from './tcp.js'
export { makeTestPki } from './fixtures.js'
export type { MakeTestPkiOptions, TestPeer, TestPki } from './fixtures.js'
export { makeLanCa } from './lan-ca.js'
export type { LanCa, LanCaPeer, MakeLanCaOptions } from './lan-ca.js'
export { SpawnExitedError, spawnAndWait } from './spawn-and-wait.js'
export type { SpawnAndWaitOptions, Spawned } from './spawn-and-wait.js'
export { runSecureChannelCompliance } from './compliance.js'
export type { ConnectedChannels, ExpectedPeer, SecureChannelFactory } from './compliance.js'
export { CAPABILITIES, capabilityHint, hasCapability, needs, REQUIRE_ALL_ENV, requireAll, WITHOUT_ENV } from './needs.js'
export type { Capability, Gate } from './needs.js'
export { NODE24_ENV, node24Binary } from './node24.js'
export { freeUdpPort, type NodeDirOptions, writeNodeDir } from './node-dir.js'
