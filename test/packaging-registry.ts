/**
 * A package registry on 127.0.0.1 for the packaging test's global install (`npm install -g
 * @peerguard/cli --registry …`), which, unlike a project install, reads no lockfile.
 *
 * It serves the package documents npm resolves with: each packed `@peerguard/*` package (its
 * tarball served from here) and each registry package at the versions package-lock.json holds,
 * with their integrity. npm takes a tarball whose integrity is in its cache from the cache (CI's
 * cache holds what `npm ci` fetched), so nothing leaves the machine; anything else is a 404.
 */
import { createServer, type Server } from 'node:http'
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { integrityOf, type LockEntry, type Packed } from './packaging-lock.js'

/** What a version in a package document carries (the fields npm resolves with). */
type VersionDoc = Omit<LockEntry, 'resolved' | 'integrity' | 'link' | 'dev' | 'devOptional' | 'peer' | 'optional'> & {
  name: string
  version: string
  dist: { tarball: string; integrity: string }
}

export interface LoopbackRegistry {
  url: string
  close(): Promise<void>
}

function nameAt(location: string): string {
  return location.slice(location.lastIndexOf('node_modules/') + 'node_modules/'.length)
}

/** Start the registry; `packed` maps `@peerguard/x` to its tarball. */
export async function startLoopbackRegistry(
  repoLock: { packages: Record<string, LockEntry> },
  packed: Map<string, Packed>
): Promise<LoopbackRegistry> {
  const server: Server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  const docs = new Map<string, Map<string, VersionDoc>>()
  const add = (name: string, doc: VersionDoc): void => {
    const versions = docs.get(name) ?? new Map<string, VersionDoc>()
    versions.set(doc.version, doc)
    docs.set(name, versions)
  }
  for (const [location, entry] of Object.entries(repoLock.packages)) {
    if (!location.includes('node_modules/') || entry.link === true || entry.integrity === undefined) continue
    // an alias (`node_modules/libp2p-v3` installed from `npm:libp2p@3`) is served under its real name
    const name = entry.name ?? nameAt(location)
    if (name.startsWith('@peerguard/')) continue
    const { resolved: _r, integrity, link: _l, dev: _d, devOptional: _o, peer: _p, optional: _x, ...fields } = entry
    const base = name.startsWith('@') ? name.split('/')[1] : name
    add(name, {
      ...fields,
      name,
      version: entry.version as string,
      dist: { tarball: `${url}${name}/-/${base}-${entry.version}.tgz`, integrity }
    })
  }
  const tarballs = new Map<string, string>()
  for (const [name, p] of packed) {
    const file = `${name.replace('/', '-').slice(1)}-${p.manifest.version}.tgz`
    tarballs.set(`/-/peerguard/${file}`, p.tarball)
    const { resolved: _r, integrity: _i, link: _l, ...fields } = p.manifest
    add(name, { ...fields, dist: { tarball: `${url}-/peerguard/${file}`, integrity: integrityOf(p.tarball) } })
  }
  server.on('request', (req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0] as string)
    const tarball = tarballs.get(path)
    if (tarball !== undefined) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(tarball))
      return
    }
    const versions = docs.get(path.slice(1))
    if (versions === undefined) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}')
      return
    }
    const list = [...versions.keys()]
    const body = {
      name: path.slice(1),
      'dist-tags': { latest: list[list.length - 1] },
      versions: Object.fromEntries(versions)
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  })
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
