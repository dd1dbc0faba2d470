import type { TrafficAuditReport } from './auditor.js'
import { SEVERITY_ORDER } from './findings.js'
import { isoTime, sourceText } from './report-markdown.js'

/** Hosts drawn in the graph at most (the busiest, plus every host a finding names). */
export const MAX_GRAPH_HOSTS = 80

/** Text for HTML element content and attribute values (every byte from a capture is hostile). */
export function escapeHtml(s: unknown): string {
  return String(s ?? '').replace(
    /[&<>"'`]/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' })[c] as string
  )
}

/** JSON safe inside a `<script>` element: no `<`, `>`, `&` or line separators as themselves. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

interface GraphNode {
  id: string
  x: number
  y: number
  flows: number
  names: string[]
  severity: string
}

interface GraphEdge {
  a: string
  b: string
  flows: number
  severity: string
  groups: number[]
}

/** Hosts and host pairs of the report, laid out by a small deterministic force simulation. */
export function buildGraph(report: TrafficAuditReport, width = 900, height = 560): { nodes: GraphNode[]; edges: GraphEdge[] } {
  const flagged = new Set<string>()
  for (const g of report.groups) {
    if (g.client !== '') flagged.add(g.client)
    if (g.server !== '') flagged.add(g.server)
  }
  const hosts = [...report.hosts].sort((x, y) => Number(flagged.has(y.addr)) - Number(flagged.has(x.addr)) || y.flows - x.flows)
  const chosen = hosts.slice(0, MAX_GRAPH_HOSTS)
  const ids = new Set(chosen.map((h) => h.addr))
  for (const a of flagged) if (ids.size < MAX_GRAPH_HOSTS * 1.5) ids.add(a)
  const edges = new Map<string, GraphEdge>()
  const edgeOf = (a: string, b: string): GraphEdge | undefined => {
    if (!ids.has(a) || !ids.has(b) || a === b) return undefined
    const key = a < b ? `${a}|${b}` : `${b}|${a}`
    let e = edges.get(key)
    if (e === undefined) {
      e = { a: a < b ? a : b, b: a < b ? b : a, flows: 0, severity: '', groups: [] }
      edges.set(key, e)
    }
    return e
  }
  for (const f of report.flows) {
    const e = edgeOf(f.src, f.dst)
    if (e !== undefined) e.flows++
  }
  const rank = (s: string): number => SEVERITY_ORDER.indexOf(s as never)
  const nodeSeverity = new Map<string, string>()
  report.groups.forEach((g, i) => {
    for (const h of [g.client, g.server])
      if (h !== '' && rank(g.severity) > rank(nodeSeverity.get(h) ?? '')) nodeSeverity.set(h, g.severity)
    const e = g.client === '' ? undefined : edgeOf(g.client, g.server)
    if (e === undefined) return
    e.groups.push(i)
    if (rank(g.severity) > rank(e.severity)) e.severity = g.severity
  })
  const byAddr = new Map(report.hosts.map((h) => [h.addr, h]))
  const list = [...ids]
  const n = list.length
  const cx = width / 2
  const cy = height / 2
  const pos = list.map((_, i) => ({
    x: cx + Math.cos((2 * Math.PI * i) / Math.max(1, n)) * width * 0.38,
    y: cy + Math.sin((2 * Math.PI * i) / Math.max(1, n)) * height * 0.38
  }))
  const index = new Map(list.map((a, i) => [a, i]))
  const k = Math.sqrt((width * height) / Math.max(1, n)) * 0.6
  const links = [...edges.values()].map((e) => [index.get(e.a)!, index.get(e.b)!] as const)
  // Fruchterman–Reingold, fixed iterations and start: the same report gives the same picture.
  for (let it = 0, t = width / 10; it < 200; it++, t *= 0.97) {
    const disp = pos.map(() => ({ x: 0, y: 0 }))
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const dx = pos[i]!.x - pos[j]!.x || 0.01
        const dy = pos[i]!.y - pos[j]!.y || 0.01
        const d2 = Math.max(dx * dx + dy * dy, 1)
        const f = (k * k) / d2
        disp[i]!.x += dx * f
        disp[i]!.y += dy * f
        disp[j]!.x -= dx * f
        disp[j]!.y -= dy * f
      }
    }
    for (const [i, j] of links) {
      const dx = pos[i]!.x - pos[j]!.x
      const dy = pos[i]!.y - pos[j]!.y
      const d = Math.max(Math.sqrt(dx * dx + dy * dy), 1)
      const f = d / k
      disp[i]!.x -= dx * f
      disp[i]!.y -= dy * f
      disp[j]!.x += dx * f
      disp[j]!.y += dy * f
    }
    for (let i = 0; i < n; i++) {
      // Gravity keeps separate groups of hosts on the canvas.
      disp[i]!.x -= (pos[i]!.x - cx) * 0.15
      disp[i]!.y -= (pos[i]!.y - cy) * 0.15
      const d = Math.max(Math.sqrt(disp[i]!.x ** 2 + disp[i]!.y ** 2), 0.01)
      const p = pos[i]!
      p.x = Math.min(width - 40, Math.max(40, p.x + (disp[i]!.x / d) * Math.min(d, t)))
      p.y = Math.min(height - 24, Math.max(24, p.y + (disp[i]!.y / d) * Math.min(d, t)))
    }
  }
  const nodes = list.map((id, i) => ({
    id,
    x: Math.round(pos[i]!.x),
    y: Math.round(pos[i]!.y),
    flows: byAddr.get(id)?.flows ?? 0,
    names: (byAddr.get(id)?.names ?? []).map((x) => x.name).slice(0, 3),
    severity: nodeSeverity.get(id) ?? ''
  }))
  return { nodes, edges: [...edges.values()] }
}

const CSS = `
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header,section{padding:12px 24px}header{background:#1d232a;color:#fff}header h1{margin:0 0 4px;font-size:20px}
.meta{color:#c9d1d9;font-size:13px}.headline{font-size:16px;font-weight:600}
.sev{display:inline-block;padding:1px 7px;border-radius:9px;color:#fff;font-size:12px;text-transform:uppercase}
.sev-critical{background:#6f0a0a}.sev-high{background:#c62828}.sev-medium{background:#e67e00}.sev-low{background:#2e7dba}.sev-info{background:#6b7785}
.issue{background:#fff;border:1px solid #d8dde3;border-radius:6px;padding:8px 12px;margin:8px 0}
pre{background:#f0f2f5;padding:6px 10px;overflow:auto;border-radius:4px}
#graph-wrap{display:flex;gap:16px;align-items:flex-start}#graph{background:#fff;border:1px solid #d8dde3;border-radius:6px;flex:0 0 auto}
#details{flex:1;min-width:260px;background:#fff;border:1px solid #d8dde3;border-radius:6px;padding:8px 12px}
.edge{stroke:#b8c0c8;stroke-width:2;cursor:pointer}.edge:hover{stroke-width:5}
.edge.sev-critical{stroke:#6f0a0a;stroke-width:4}.edge.sev-high{stroke:#c62828;stroke-width:4}.edge.sev-medium{stroke:#e67e00;stroke-width:3}.edge.sev-low{stroke:#2e7dba;stroke-width:3}.edge.sev-info{stroke:#8a96a3}
.node{cursor:pointer}.node circle{fill:#fff;stroke:#1d232a;stroke-width:2}.node.sev-high circle,.node.sev-critical circle{fill:#fbe3e3}.node.sev-medium circle{fill:#fdf0dc}
.node text{font-size:11px;pointer-events:none}.selected{stroke-dasharray:4 2}
table{border-collapse:collapse;background:#fff;width:100%}th,td{border:1px solid #d8dde3;padding:4px 6px;text-align:left;vertical-align:top;font-size:13px}
th{background:#eef1f4;cursor:pointer;user-select:none}th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
tr.hidden{display:none}.warn{background:#fff4d6;border:1px solid #e6c26e;padding:8px 12px;border-radius:6px}
`

const SCRIPT = `
(function(){
var data=JSON.parse(document.getElementById('pg-data').textContent);
var rank={info:0,low:1,medium:2,high:3,critical:4};
var details=document.getElementById('details');
function clear(el){while(el.firstChild)el.removeChild(el.firstChild)}
function add(parent,tag,text,cls){var e=document.createElement(tag);if(text!==undefined)e.textContent=text;if(cls)e.className=cls;parent.appendChild(e);return e}
function show(title,groupIdx){
  clear(details);add(details,'h3',title);
  if(groupIdx.length===0){add(details,'p','No findings here.');}
  groupIdx.forEach(function(i){var g=data.groups[i];var p=add(details,'div',undefined,'issue');
    add(p,'span',g.severity,'sev sev-'+g.severity);add(p,'b',' '+g.code+' ×'+g.count);
    add(p,'div',g.title);add(p,'div',(g.client?g.client+' → ':'')+g.server+(g.port?':'+g.port:'')+'  '+g.firstSeen+' – '+g.lastSeen,'meta2');});
  var rows=document.querySelectorAll('#findings tbody tr');var set={};groupIdx.forEach(function(i){set[i]=1});
  rows.forEach(function(r){r.classList.toggle('hidden',groupIdx.length>0&&!set[r.getAttribute('data-group')])});
}
document.querySelectorAll('#graph .edge').forEach(function(el){el.addEventListener('click',function(){
  var e=data.edges[+el.getAttribute('data-edge')];show(e.a+' ↔ '+e.b+' ('+e.flows+' flows)',e.groups)})});
document.querySelectorAll('#graph .node').forEach(function(el){el.addEventListener('click',function(){
  var h=el.getAttribute('data-host');var idx=[];data.groups.forEach(function(g,i){if(g.client===h||g.server===h)idx.push(i)});show(h,idx)})});
document.getElementById('show-all').addEventListener('click',function(){clear(details);add(details,'p','Click a host or a connection in the graph.');
  document.querySelectorAll('#findings tbody tr').forEach(function(r){r.classList.remove('hidden')})});
document.querySelectorAll('#findings th').forEach(function(th,col){th.addEventListener('click',function(){
  var asc=th.getAttribute('aria-sort')!=='ascending';document.querySelectorAll('#findings th').forEach(function(x){x.removeAttribute('aria-sort')});
  th.setAttribute('aria-sort',asc?'ascending':'descending');var key=th.getAttribute('data-key');var body=document.querySelector('#findings tbody');
  var rows=Array.prototype.slice.call(body.rows);rows.sort(function(a,b){var x=a.cells[col].getAttribute('data-v')||a.cells[col].textContent,y=b.cells[col].getAttribute('data-v')||b.cells[col].textContent;
    if(key==='severity'){x=rank[x];y=rank[y]}else if(key==='count'){x=+x;y=+y}return (x<y?-1:x>y?1:0)*(asc?1:-1)});
  rows.forEach(function(r){body.appendChild(r)})})});
document.body.setAttribute('data-ready','1');
})();
`

/**
 * One self-contained HTML file: the summary (what is wrong, how to fix it), an SVG graph of hosts
 * and flows (edges coloured by the worst finding between two hosts; click a host or an edge for
 * its findings), the grouped findings (sortable) and the hosts. No network access: styles, script
 * and graph are inline, and a Content-Security-Policy forbids loading anything.
 */
export function renderHtml(report: TrafficAuditReport, title = 'peerguard traffic audit'): string {
  const s = report.summary
  const o = report.overview
  const W = 900
  const H = 560
  const graph = buildGraph(report, W, H)
  const groups = report.groups.map((g) => ({
    code: g.code,
    severity: g.severity,
    title: g.title,
    client: g.client,
    server: g.server,
    port: g.port,
    count: g.count,
    firstSeen: isoTime(g.firstSeen),
    lastSeen: isoTime(g.lastSeen)
  }))
  const out: string[] = []
  out.push(
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title><style>${CSS}</style></head><body>`,
    `<header><h1>${escapeHtml(title)}</h1><div class="meta">${escapeHtml(sourceText(report))} · ${escapeHtml(isoTime(s.firstTimestamp) || '—')} to ${escapeHtml(isoTime(s.lastTimestamp) || '—')} · ${s.packets} packets · ${s.flows.total} flows · ${s.hosts} hosts · ${s.findings.total} findings in ${report.groups.length} groups</div></header>`
  )
  out.push('<section id="summary"><h2>Summary</h2>', `<p class="headline" id="headline">${escapeHtml(o.headline)}</p>`)
  if (s.integrity !== 'ok')
    out.push(
      `<p class="warn" id="damaged">The capture is ${escapeHtml(s.integrity)}: records after the damage were not read.</p>`
    )
  for (const i of o.issues) {
    out.push(
      `<div class="issue" data-code="${escapeHtml(i.code)}"><span class="sev sev-${escapeHtml(i.severity)}">${escapeHtml(i.severity)}</span> <b>${escapeHtml(i.code)}</b> — ${i.findings} finding${i.findings === 1 ? '' : 's'} in ${i.groups} group${i.groups === 1 ? '' : 's'}; hosts ${escapeHtml(i.hosts.join(', ') || '—')}`,
      `<p>${escapeHtml(i.risk)} <b>Fix:</b> ${escapeHtml(i.fix)}</p>`
    )
    if (i.config.length > 0) {
      // The first issues show their configuration; the rest fold it away to keep the page short.
      out.push(`<details${o.issues.indexOf(i) < 3 ? ' open' : ''}><summary>configuration</summary>`)
      for (const c of i.config) out.push(`<div>${escapeHtml(c.where)}:</div><pre>${escapeHtml(c.lines.join('\n'))}</pre>`)
      out.push('</details>')
    }
    out.push('</div>')
  }
  out.push('</section>')
  out.push('<section><h2>Who talks to whom</h2><div id="graph-wrap">')
  out.push(`<svg id="graph" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="hosts and flows">`)
  const at = new Map(graph.nodes.map((nd) => [nd.id, nd]))
  graph.edges.forEach((e, i) => {
    const a = at.get(e.a)!
    const b = at.get(e.b)!
    out.push(
      `<line class="edge${e.severity === '' ? '' : ` sev-${escapeHtml(e.severity)}`}" data-edge="${i}" x1="${a.x}" y1="${a.y}" x2="${b.x}" y2="${b.y}"><title>${escapeHtml(`${e.a} ↔ ${e.b}: ${e.flows} flows, ${e.groups.length} finding groups`)}</title></line>`
    )
  })
  for (const nd of graph.nodes) {
    const label = nd.names[0] === undefined ? nd.id : `${nd.id} (${nd.names[0]})`
    out.push(
      `<g class="node${nd.severity === '' ? '' : ` sev-${escapeHtml(nd.severity)}`}" data-host="${escapeHtml(nd.id)}" transform="translate(${nd.x},${nd.y})"><circle r="${Math.min(16, 6 + Math.log2(1 + nd.flows))}"></circle><text x="${nd.x > W * 0.6 ? -10 : 10}" y="-10"${nd.x > W * 0.6 ? ' text-anchor="end"' : ''}>${escapeHtml(label.slice(0, 60))}</text><title>${escapeHtml(`${nd.id}: ${nd.flows} flows`)}</title></g>`
    )
  }
  out.push('</svg><div id="details"><p>Click a host or a connection in the graph.</p></div></div>')
  out.push(
    '<p>Edges: <span class="sev sev-high">high</span> <span class="sev sev-medium">medium</span> <span class="sev sev-low">low</span> <span class="sev sev-info">info</span> findings; grey: flows without findings.</p></section>'
  )
  out.push(
    '<section><h2>Findings</h2><button id="show-all" type="button">show all</button>',
    '<table id="findings"><thead><tr><th data-key="severity">severity</th><th data-key="code">code</th><th data-key="count">count</th><th data-key="pair">client → server</th><th data-key="first">first seen</th><th data-key="last">last seen</th><th data-key="title">finding</th></tr></thead><tbody>'
  )
  report.groups.forEach((g, i) => {
    const pair = `${g.client === '' ? '' : `${g.client} → `}${g.server}${g.port === 0 ? '' : `:${g.port}`}`
    out.push(
      `<tr data-group="${i}" data-code="${escapeHtml(g.code)}"><td data-v="${escapeHtml(g.severity)}"><span class="sev sev-${escapeHtml(g.severity)}">${escapeHtml(g.severity)}</span></td><td>${escapeHtml(g.code)}</td><td>${g.count}</td><td>${escapeHtml(pair)}</td><td>${escapeHtml(isoTime(g.firstSeen))}</td><td>${escapeHtml(isoTime(g.lastSeen))}</td><td>${escapeHtml(g.title)}</td></tr>`
    )
  })
  out.push('</tbody></table></section>')
  out.push(
    '<section><h2>Hosts</h2><table id="hosts"><thead><tr><th>address</th><th>names</th><th>flows</th><th>protocols</th></tr></thead><tbody>'
  )
  for (const h of report.hosts.slice(0, 500))
    out.push(
      `<tr><td>${escapeHtml(h.addr)}</td><td>${escapeHtml(
        h.names
          .map((x) => x.name)
          .slice(0, 5)
          .join(', ')
      )}</td><td>${h.flows}</td><td>${escapeHtml(h.protocols.join(', '))}</td></tr>`
    )
  out.push('</tbody></table></section>')
  out.push(`<script type="application/json" id="pg-data">${scriptJson({ groups, edges: graph.edges })}</script>`)
  out.push(`<script>${SCRIPT}</script></body></html>`)
  return out.join('\n')
}
