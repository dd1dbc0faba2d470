/**
 * Wait on a condition instead of a fixed sleep: poll `check` until it holds, with a deadline
 * generous enough for a busy 2-core CI machine. A fixed sleep followed by an assertion fails by
 * chance when the machine is slow; this fails only when the thing never happens.
 */
export async function eventually(check: () => boolean, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
