/**
 * A CA directory made the way an admin makes one, through the CLI in-process: `ca init` with a
 * passphrase file, then for each member `id new` and `ca issue` (name, groups), optionally `ca crl`.
 * Files land in `dir`: `ca/`, `ca.pass`, `<name>.key`, `<name>.pem`.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type CliRun, runCli } from './run-cli.js'

/** The passphrase `makeCliCa` writes to `ca.pass`. */
export const CA_PASSPHRASE = 'correct horse battery staple'

/** Run the CLI in `dir`; throws with its stderr unless it exits 0. */
export async function cliOk(dir: string, ...args: string[]): Promise<CliRun> {
  const r = await runCli(args, { cwd: dir })
  if (r.code !== 0) throw new Error(`peerguard ${args.join(' ')}: exit ${r.code}\n${r.stderr}`)
  return r
}

export interface CliCaOptions {
  /** The CA's name (`ca init --name`). */
  caName: string
  /** The members to issue, each a key and a certificate named after it. */
  members: ReadonlyArray<{ name: string; groups?: readonly string[] }>
  /** Also publish a CRL (`ca crl`, into the CA directory). Default false. */
  crl?: boolean
}

export async function makeCliCa(dir: string, o: CliCaOptions): Promise<void> {
  await writeFile(join(dir, 'ca.pass'), `${CA_PASSPHRASE}\n`)
  await cliOk(dir, 'ca', 'init', '--dir', 'ca', '--name', o.caName, '--passphrase-file', 'ca.pass')
  for (const m of o.members) {
    await cliOk(dir, 'id', 'new', '--out', `${m.name}.key`)
    const groups = (m.groups ?? []).flatMap((g) => ['--group', g])
    await cliOk(
      dir,
      ...['ca', 'issue', '--ca', 'ca', '--key', `${m.name}.key`, '--name', m.name, ...groups],
      ...['--out', `${m.name}.pem`, '--passphrase-file', 'ca.pass']
    )
  }
  if (o.crl === true) await cliOk(dir, 'ca', 'crl', '--ca', 'ca', '--passphrase-file', 'ca.pass')
}
