/**
 * Test helpers for the decision-log specs: a log that "crashes" (its writer stops without a
 * checkpoint, a head or a close — then the descriptor goes, as when the process dies), and the
 * descriptors this process holds under a folder (a FileHandle left to the garbage collector is
 * DEP0137 "Closing file descriptor N on garbage collection"; a spec asserts there are none).
 */
import { readdirSync, readlinkSync } from 'node:fs'
import { type FileHandle, open } from 'node:fs/promises'
import { type DecisionLog, type DecisionLogOptions, type LogFileOpener, openDecisionLog } from '@peerguard/decision-log'

/** Open a log whose `crash()` closes its file descriptor behind its back: nothing more is written. */
export async function openToCrash(options: DecisionLogOptions): Promise<{ log: DecisionLog; crash(): Promise<void> }> {
  const handles: FileHandle[] = []
  const openFile: LogFileOpener = async (path) => {
    const handle = await open(path, 'a', 0o600)
    handles.push(handle)
    return handle
  }
  // `openFile` is an internal seam (not in the published types), as in log-faults.spec.ts
  const withOpener: DecisionLogOptions & { openFile: LogFileOpener } = { ...options, openFile }
  const log = await openDecisionLog(withOpener)
  return {
    log,
    async crash() {
      await Promise.all(handles.splice(0).map((h) => h.close()))
    }
  }
}

/** Targets of this process's open descriptors that lie under `prefix` (Linux /proc/self/fd). */
export function descriptorsUnder(prefix: string): string[] {
  const found: string[] = []
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`)
      if (target.startsWith(prefix)) found.push(target)
    } catch {
      // closed meanwhile (the descriptor readdir itself used)
    }
  }
  return found
}
