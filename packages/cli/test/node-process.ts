/**
 * A `peerguard node` process of the built binary for black-box tests: started with `--json` in a
 * folder holding `node.yaml`, resolved once it printed its `ready` event (the services and their
 * listening addresses); and the atomic file replacement a watched config or policy edit needs.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { rename, writeFile } from 'node:fs/promises'
import { BIN } from './built-cli.js'

export interface NodeProcess {
  child: ChildProcessWithoutNullStreams
  ready: { services: Array<{ kind: string; name: string; listening: string }> }
  stderr: string[]
  exited: Promise<number | null>
}

/** Run `peerguard node --config node.yaml --json` in `dir`; `children` collects it for cleanup. */
export function startNodeProcess(dir: string, children: ChildProcessWithoutNullStreams[]): Promise<NodeProcess> {
  const child = spawn(process.execPath, [BIN, 'node', '--config', 'node.yaml', '--json'], { cwd: dir, stdio: 'pipe' })
  children.push(child)
  const stderr: string[] = []
  child.stderr.on('data', (c: Buffer) => stderr.push(c.toString()))
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
  let out = ''
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
      const line = out.split('\n').find((l) => l.includes('"event":"ready"'))
      if (line !== undefined) resolve({ child, ready: JSON.parse(line), stderr, exited })
    })
    child.on('exit', (code) => reject(new Error(`node exited with ${code}:\n${stderr.join('')}`)))
  })
}

/** The listening port of service `name` in a node's ready event. */
export function servicePort(node: NodeProcess, name: string): number {
  return Number((node.ready.services.find((s) => s.name === name)?.listening ?? ':0').split(':').pop())
}

/** Replace `path` atomically (write a sibling, rename over): a watcher never sees half a file. */
export async function replaceFile(path: string, data: string): Promise<void> {
  await writeFile(`${path}.tmp`, data)
  await rename(`${path}.tmp`, path)
}
