import type { EventEmitter } from 'node:events'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestPeer, TestPki } from '@peerguard/test-utils'
import { Workspace, type WorkspaceOptions } from '../src/index.js'

/**
 * Resolve once `check()` holds: checked now and again on every `events` of the `emitters`
 * (no sleeps). Rejects with `what` after `timeoutMs` (generous: the CI machine is busy).
 */
export function until(
  emitters: readonly EventEmitter[],
  events: readonly string[],
  check: () => boolean,
  what: string,
  timeoutMs = 20_000
): Promise<void> {
  return new Promise((resolve, reject) => {
    const off = (): void => {
      clearTimeout(timer)
      for (const e of emitters) for (const ev of events) e.off(ev, onEvent)
    }
    const onEvent = (): void => {
      if (check()) {
        off()
        resolve()
      }
    }
    const timer = setTimeout(() => {
      off()
      reject(new Error(`timed out waiting for: ${what}`))
    }, timeoutMs)
    for (const e of emitters) for (const ev of events) e.on(ev, onEvent)
    onEvent()
  })
}

/** The next `refused` event of `ws` whose code is `code`. */
export function nextRefusal(ws: Workspace, code: string, timeoutMs = 20_000): Promise<{ code: string; from: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.off('refused', on)
      reject(new Error(`timed out waiting for a ${code} refusal`))
    }, timeoutMs)
    const on = (r: { code: string; from: string }): void => {
      if (r.code !== code) return
      clearTimeout(timer)
      ws.off('refused', on)
      resolve(r)
    }
    ws.on('refused', on)
  })
}

/** Start one member of `pki`'s workspace on loopback (unicast, fast announcements, its own trust store). */
export async function startMember(pki: TestPki, peer: TestPeer, extra: Partial<WorkspaceOptions> = {}): Promise<Workspace> {
  return Workspace.start({
    identity: peer.identity,
    chain: peer.chain,
    trust: await pki.trustWithCrl(),
    bundleDir: mkdtempSync(join(tmpdir(), `pg-ws-${peer.name}-`)),
    announceIntervalMs: 200,
    ...extra
  })
}

/** Every member announces to every other one (unicast on loopback). */
export function mesh(members: readonly Workspace[]): void {
  for (const a of members) for (const b of members) if (a !== b) a.addTarget(b.udpAddress)
}
