import type { AuditContext } from '../context.js'
import { noteFrame } from '../findings.js'
import type { Flow } from '../flow.js'
import { IPP_JOB_OPERATIONS, parseIppRequest } from './ipp.js'
import { addDistinct, clean } from './text.js'

/** Bytes of an IPP request body read for its attributes (the document after them is never read). */
const IPP_BODY_BYTES = 4096
/** Bytes of an eSCL ScanSettings or a WSD SOAP body read for its settings. */
const XML_BODY_BYTES = 8192

/** The text of the first `<prefix:Tag>` (any namespace prefix) in `xml`, cleaned. */
function xmlText(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<(?:[A-Za-z0-9_-]+:)?${tag}>([^<]{0,300})</`).exec(xml)
  return m === null ? undefined : clean(m[1]!.trim(), 200)
}

/**
 * Printers and scanners spoken to over plain HTTP: IPP (`application/ipp`: operation,
 * requesting-user-name, job-name, document-format — never the document), eSCL scanning (Mopria,
 * `/eSCL/…`: scan settings, scanned pages fetched) and WSD (SOAP actions of WS-Scan and WS-Print,
 * job name and originating user).
 */
export class PeripheralTracker {
  readonly #ctx: AuditContext
  readonly #flow: Flow
  readonly #ipp = {
    operations: [] as string[],
    users: [] as string[],
    jobNames: [] as string[],
    documentFormats: [] as string[],
    printers: [] as string[],
    jobs: 0,
    frames: [] as number[],
    jobFrames: [] as number[]
  }
  readonly #scan = {
    protocol: '' as '' | 'escl' | 'wsd',
    operations: [] as string[],
    settings: [] as string[],
    jobNames: [] as string[],
    users: [] as string[],
    documents: 0,
    documentBytes: 0,
    frames: [] as number[]
  }

  constructor(ctx: AuditContext, flow: Flow) {
    this.#ctx = ctx
    this.#flow = flow
  }

  /** A request line and headers; returns how many body bytes to copy for `body()`. */
  request(method: string, path: string, headers: Map<string, string>, frame: number): number {
    const ctype = (headers.get('content-type') ?? '').toLowerCase()
    if (method === 'POST' && ctype.startsWith('application/ipp')) return IPP_BODY_BYTES
    if (path.startsWith('/eSCL/')) {
      this.#scan.protocol = 'escl'
      addDistinct(this.#scan.operations, `${method} ${clean(path.split('?')[0]!, 100)}`, 16)
      noteFrame(this.#scan.frames, frame)
      return method === 'POST' || method === 'PUT' ? XML_BODY_BYTES : 0
    }
    if (method === 'POST' && ctype.startsWith('application/soap+xml')) return XML_BODY_BYTES
    return 0
  }

  /** The first bytes of a request body asked for by `request()`. */
  body(start: string, body: Buffer, frame: number): void {
    if (start.includes('/eSCL/')) {
      const xml = body.toString('utf8')
      for (const tag of ['InputSource', 'DocumentFormat', 'ColorMode', 'XResolution', 'Intent']) {
        const v = xmlText(xml, tag)
        if (v !== undefined) addDistinct(this.#scan.settings, `${tag}=${v}`, 16)
      }
      return
    }
    const first = body[0]
    if (first === 0x3c || first === 0xef) {
      this.#soap(body.toString('utf8'), frame)
      return
    }
    const req = parseIppRequest(body)
    if (req === undefined) {
      this.#ctx.errors.add('ipp-malformed', frame)
      return
    }
    const ipp = this.#ipp
    addDistinct(ipp.operations, req.operation, 32)
    noteFrame(ipp.frames, frame)
    const a = req.attributes
    for (const u of [...(a['requesting-user-name'] ?? []), ...(a['job-originating-user-name'] ?? [])]) addDistinct(ipp.users, u)
    for (const j of [...(a['job-name'] ?? []), ...(a['document-name'] ?? [])]) addDistinct(ipp.jobNames, j)
    for (const f of a['document-format'] ?? []) addDistinct(ipp.documentFormats, f)
    for (const u of a['printer-uri'] ?? []) addDistinct(ipp.printers, u, 8)
    if (IPP_JOB_OPERATIONS.has(req.operation)) {
      ipp.jobs++
      noteFrame(ipp.jobFrames, frame)
    }
  }

  /** A WSD SOAP message (WS-Scan / WS-Print; WS-Discovery travels over UDP). */
  #soap(xml: string, frame: number): void {
    const action = xmlText(xml, 'Action')
    if (action === undefined || !/\/wdp\/(scan|print)\//.test(action)) return
    this.#scan.protocol = 'wsd'
    addDistinct(this.#scan.operations, action.slice(action.lastIndexOf('/') + 1), 16)
    noteFrame(this.#scan.frames, frame)
    const job = xmlText(xml, 'JobName')
    if (job !== undefined) addDistinct(this.#scan.jobNames, job)
    const user = xmlText(xml, 'JobOriginatingUserName')
    if (user !== undefined) addDistinct(this.#scan.users, user)
    const format = xmlText(xml, 'Format')
    if (format !== undefined) addDistinct(this.#scan.settings, `Format=${format}`, 16)
  }

  /** The status line of the response to `method path`. */
  response(method: string, path: string, status: string, headers: Map<string, string>, frame: number): void {
    if (this.#scan.protocol !== 'escl' || method !== 'GET' || !status.startsWith('2')) return
    if (!/\/NextDocument$/.test(path.split('?')[0]!)) return
    // A scanned page fetched in clear.
    this.#scan.documents++
    this.#scan.documentBytes += Number(headers.get('content-length') ?? 0) || 0
    const ctype = headers.get('content-type')
    if (ctype !== undefined) addDistinct(this.#scan.settings, `received=${clean(ctype, 60)}`, 16)
    noteFrame(this.#scan.frames, frame)
  }

  /** Emit the findings; returns the protocol label of the flow when it carried IPP or scanning. */
  finish(): string | undefined {
    const flow = this.#flow.key()
    const ipp = this.#ipp
    let label: string | undefined
    if (ipp.operations.length > 0) {
      label = 'ipp'
      const evidence = {
        operations: ipp.operations,
        users: ipp.users,
        jobNames: ipp.jobNames,
        documentFormats: ipp.documentFormats,
        printers: ipp.printers,
        jobs: ipp.jobs
      }
      const who = ipp.users.length > 0 ? ` by ${ipp.users.join(', ')}` : ''
      if (ipp.jobs > 0) {
        this.#ctx.findings.add({
          code: 'ipp-print-job',
          title: `print job${who} sent in clear over IPP to ${flow.dst}:${flow.dstPort}${ipp.jobNames.length > 0 ? ` (${ipp.jobNames.slice(0, 3).join(', ')})` : ''}`,
          flow,
          evidence,
          frames: ipp.jobFrames
        })
      } else {
        this.#ctx.findings.add({
          code: 'ipp-cleartext',
          title: `IPP without TLS to ${flow.dst}:${flow.dstPort}${who} (${ipp.operations.slice(0, 3).join(', ')})`,
          flow,
          evidence,
          frames: ipp.frames
        })
      }
    }
    const scan = this.#scan
    if (scan.protocol !== '') {
      label = scan.protocol
      this.#ctx.findings.add({
        code: 'scan-cleartext',
        title: `${scan.protocol === 'escl' ? 'eSCL' : 'WSD'} scanning in clear with ${flow.dst}:${flow.dstPort}${scan.documents > 0 ? ` (${scan.documents} scanned page(s) fetched)` : ''}`,
        flow,
        evidence: {
          protocol: scan.protocol,
          operations: scan.operations,
          settings: scan.settings,
          jobNames: scan.jobNames,
          users: scan.users,
          documents: scan.documents,
          documentBytes: scan.documentBytes
        },
        frames: scan.frames
      })
    }
    return label
  }
}
