import { clean } from './text.js'

/** IPP operation names (RFC 8011 5.4, CUPS extensions 0x4001+). */
const OPERATIONS = new Map<number, string>([
  [0x0002, 'Print-Job'],
  [0x0003, 'Print-URI'],
  [0x0004, 'Validate-Job'],
  [0x0005, 'Create-Job'],
  [0x0006, 'Send-Document'],
  [0x0007, 'Send-URI'],
  [0x0008, 'Cancel-Job'],
  [0x0009, 'Get-Job-Attributes'],
  [0x000a, 'Get-Jobs'],
  [0x000b, 'Get-Printer-Attributes'],
  [0x000c, 'Hold-Job'],
  [0x000d, 'Release-Job'],
  [0x000e, 'Restart-Job'],
  [0x0010, 'Pause-Printer'],
  [0x0011, 'Resume-Printer'],
  [0x0012, 'Purge-Jobs'],
  [0x4001, 'CUPS-Get-Default'],
  [0x4002, 'CUPS-Get-Printers'],
  [0x4003, 'CUPS-Add-Modify-Printer'],
  [0x4004, 'CUPS-Delete-Printer']
])

/** Operations that submit a document (the job's content crosses the network). */
export const IPP_JOB_OPERATIONS = new Set(['Print-Job', 'Print-URI', 'Create-Job', 'Send-Document', 'Send-URI'])

/** Attributes an auditor reports (who printed what); everything else is skipped. */
const KEPT = new Set([
  'requesting-user-name',
  'job-name',
  'document-name',
  'document-format',
  'printer-uri',
  'job-originating-user-name',
  'job-originating-host-name'
])

/** The facts of one IPP request: operation and the kept attributes. Never the document. */
export interface IppRequest {
  version: string
  operation: string
  requestId: number
  attributes: Record<string, string[]>
}

/** Value tags whose values are text (RFC 8010 3.5.2): text, name, keyword, uri, charset, language, mime. */
function isTextTag(tag: number): boolean {
  return (tag >= 0x41 && tag <= 0x49) || tag === 0x35 || tag === 0x36
}

/** Attribute groups are bounded; a request with more is cut off (and still reported). */
const MAX_ATTRIBUTES = 256

/**
 * Parse the operation and attribute groups of an IPP request body prefix (RFC 8010 3.1): version,
 * operation-id, request-id, then groups of (value-tag, name, value) up to end-of-attributes-tag.
 * The document data after it is never read. Returns undefined when the prefix is not IPP.
 */
export function parseIppRequest(b: Buffer): IppRequest | undefined {
  if (b.length < 9) return undefined
  const major = b[0]!
  if (major < 1 || major > 2 || b[1]! > 2) return undefined
  const op = b.readUInt16BE(2)
  const first = b[8]!
  // The first group tag must be a delimiter tag (0x01..0x0f).
  if (first < 0x01 || first > 0x0f) return undefined
  const req: IppRequest = {
    version: `${major}.${b[1]}`,
    operation: OPERATIONS.get(op) ?? `0x${op.toString(16).padStart(4, '0')}`,
    requestId: b.readUInt32BE(4),
    attributes: {}
  }
  let p = 8
  let name = ''
  for (let n = 0; n < MAX_ATTRIBUTES && p < b.length; n++) {
    const tag = b[p]!
    if (tag === 0x03) break
    if (tag <= 0x0f) {
      p++
      continue
    }
    if (p + 3 > b.length) break
    const nameLen = b.readUInt16BE(p + 1)
    if (p + 3 + nameLen + 2 > b.length) break
    if (nameLen > 0) name = b.toString('latin1', p + 3, p + 3 + nameLen)
    const vAt = p + 3 + nameLen + 2
    const valueLen = b.readUInt16BE(vAt - 2)
    if (vAt + valueLen > b.length) break
    if (KEPT.has(name) && isTextTag(tag)) {
      const list = req.attributes[name] ?? []
      if (list.length < 8) list.push(clean(b.toString('utf8', vAt, vAt + valueLen), 200))
      req.attributes[name] = list
    }
    p = vAt + valueLen
  }
  return req
}
