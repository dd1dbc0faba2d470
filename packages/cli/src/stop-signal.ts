/**
 * Resolves on the first SIGINT or SIGTERM, and stops listening for both then: how a command that
 * serves until stopped (`ca publish`, `ca serve-enrollment`) waits. SIGHUP is left alone (these
 * have nothing to re-read; the live servers use `trapSignals`).
 */
export function untilStopSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
}
