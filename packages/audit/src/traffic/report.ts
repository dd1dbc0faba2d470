import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { InvalidArgumentError, writeFileAtomic } from '@peerguard/interface'
import type { TrafficAuditReport } from './auditor.js'
import { renderHtml } from './report-html.js'
import { renderMarkdown } from './report-markdown.js'

export { renderHtml } from './report-html.js'
export { isoTime, renderMarkdown } from './report-markdown.js'

/** Where a report was written. */
export interface WrittenReport {
  json: string
  markdown: string
  html: string
}

/**
 * Write `<name>.json`, `<name>.md` and `<name>.html` into `dir` (created if needed, mode 0700),
 * each atomically (temporary file, fsync, rename) with mode 0600: reports name users and hosts.
 */
export async function writeReport(report: TrafficAuditReport, dir: string, name: string): Promise<WrittenReport> {
  if (typeof dir !== 'string' || dir === '') throw new InvalidArgumentError('dir: expected a non-empty string')
  if (typeof name !== 'string' || !/^[A-Za-z0-9._-]{1,200}$/.test(name))
    throw new InvalidArgumentError(`name: expected a file name of letters, digits, '.', '_' or '-', got ${JSON.stringify(name)}`)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const json = join(dir, `${name}.json`)
  const markdown = join(dir, `${name}.md`)
  const html = join(dir, `${name}.html`)
  await writeFileAtomic(json, `${JSON.stringify(report, null, 2)}\n`)
  await writeFileAtomic(markdown, renderMarkdown(report))
  await writeFileAtomic(html, renderHtml(report))
  return { json, markdown, html }
}
