/**
 * Debian's headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`:
 * JSON messages separated by NUL on file descriptors 3 and 4), no network port and no library.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable, Writable } from 'node:stream'

export interface Page {
  /** Evaluate an expression in the page; returns its value (by value). */
  evaluate<T>(expression: string): Promise<T>
  /** PNG screenshot of the whole page. */
  screenshot(): Promise<Buffer>
  /** Console errors, uncaught exceptions and failed loads seen so far. */
  readonly errors: string[]
  /** URLs the page tried to load (besides the page itself). */
  readonly requests: string[]
  close(): Promise<void>
}

/** Open `url` in a fresh headless Chromium and wait until it has loaded. */
export async function openPage(url: string, timeoutMs = 60_000): Promise<Page> {
  const profile = mkdtempSync(join(tmpdir(), 'pg-chromium-'))
  const child: ChildProcess = spawn(
    'chromium',
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-dev-shm-usage',
      `--user-data-dir=${profile}`,
      '--remote-debugging-pipe',
      '--window-size=1280,1600',
      'about:blank'
    ],
    { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] }
  )
  const out = child.stdio[3] as Writable
  const inp = child.stdio[4] as Readable
  let nextId = 1
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  const listeners: ((m: { method: string; params: Record<string, unknown>; sessionId?: string }) => void)[] = []
  let buf = Buffer.alloc(0)
  inp.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d])
    for (let z = buf.indexOf(0); z >= 0; z = buf.indexOf(0)) {
      const msg = JSON.parse(buf.subarray(0, z).toString('utf8'))
      buf = buf.subarray(z + 1)
      if (typeof msg.id === 'number') {
        const p = pending.get(msg.id)
        pending.delete(msg.id)
        if (msg.error !== undefined) p?.reject(new Error(JSON.stringify(msg.error)))
        else p?.resolve(msg.result)
      } else for (const l of listeners) l(msg)
    }
  })
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  const send = <T>(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++
      const timer = setTimeout(() => reject(new Error(`chromium: ${method} timed out`)), timeoutMs)
      pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer)
          resolve(v as T)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        }
      })
      out.write(`${JSON.stringify({ id, method, params, ...(sessionId === undefined ? {} : { sessionId }) })}\0`)
    })
  const errors: string[] = []
  const requests: string[] = []
  const { targetId } = await send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' })
  const { sessionId } = await send<{ sessionId: string }>('Target.attachToTarget', { targetId, flatten: true })
  listeners.push((m) => {
    if (m.sessionId !== sessionId) return
    if (m.method === 'Runtime.exceptionThrown') errors.push(`exception: ${JSON.stringify(m.params.exceptionDetails)}`)
    if (m.method === 'Runtime.consoleAPICalled' && (m.params.type === 'error' || m.params.type === 'assert'))
      errors.push(`console.${m.params.type}: ${JSON.stringify(m.params.args)}`)
    if (m.method === 'Log.entryAdded') {
      const e = m.params.entry as { level: string; text: string }
      if (e.level === 'error') errors.push(`log: ${e.text}`)
    }
    if (m.method === 'Network.requestWillBeSent') {
      const u = (m.params.request as { url: string }).url
      if (u !== url) requests.push(u)
    }
    if (m.method === 'Network.loadingFailed') errors.push(`load failed: ${JSON.stringify(m.params)}`)
  })
  await send('Runtime.enable', {}, sessionId)
  await send('Log.enable', {}, sessionId)
  await send('Network.enable', {}, sessionId)
  await send('Page.enable', {}, sessionId)
  const loaded = new Promise<void>((resolve) =>
    listeners.push((m) => {
      if (m.sessionId === sessionId && m.method === 'Page.loadEventFired') resolve()
    })
  )
  await send('Page.navigate', { url }, sessionId)
  await loaded
  return {
    errors,
    requests,
    async evaluate<T>(expression: string): Promise<T> {
      const r = await send<{ result: { value: T }; exceptionDetails?: unknown }>(
        'Runtime.evaluate',
        { expression, returnByValue: true, awaitPromise: true },
        sessionId
      )
      if (r.exceptionDetails !== undefined) throw new Error(`evaluate: ${JSON.stringify(r.exceptionDetails)}`)
      return r.result.value
    },
    async screenshot(): Promise<Buffer> {
      const r = await send<{ data: string }>('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true }, sessionId)
      return Buffer.from(r.data, 'base64')
    },
    async close(): Promise<void> {
      await send('Browser.close').catch(() => {})
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(t)
      rmSync(profile, { recursive: true, force: true, maxRetries: 5 })
    }
  }
}
