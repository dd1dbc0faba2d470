import { cp, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@peerguard/identity'
import { isPeerguardError } from '@peerguard/interface'
import { createCertificateAuthority, createTrustStore } from '@peerguard/pki'
import { loadPolicy } from '@peerguard/policy'

/** The office policy the demo writes into its workspace. */
export const DEMO_POLICY = `# peerguard demo: an office share. Staff read and write everything;
# guests may only read the public folder. Anything not allowed is denied.
version: 1
description: demo office
groups:
  staff: ["ou:staff"]
  guests: ["ou:guests"]
  everyone: [staff, guests]
rules:
  - id: staff-all
    allow: [read, write]
    peers: [staff]
    resources: ["share:office/**"]
  - id: everyone-reads-public
    allow: [read]
    peers: [everyone]
    resources: ["share:office/public/**"]
`

export interface Step {
  n: number
  share: 'hardened' | 'plain' | 'log'
  who: string
  action: string
  expected: string
  result: string
  ok: boolean
}

/** What an attempt came to: `ok` with a note, or the error code. */
export async function attempt(
  fn: () => Promise<string | undefined>
): Promise<{ ok: true; note: string } | { ok: false; code: string; message: string }> {
  try {
    return { ok: true, note: (await fn()) ?? '' }
  } catch (err) {
    return {
      ok: false,
      code: isPeerguardError(err) ? err.code : 'internal',
      message: err instanceof Error ? err.message : String(err)
    }
  }
}

export type AddStep = (s: Omit<Step, 'n'>) => void

/** The office: a CA whose CRL the trust store holds, alice (staff), bob (guest), mallory (no certificate), the policy and two copies of the folder. */
export async function setUpOffice(ws: string) {
  const ca = await createCertificateAuthority({ name: 'Demo Office CA' })
  // Revocation is required: the trust store holds the CA's CRL (signed like `peerguard ca crl`).
  const trust = createTrustStore({ roots: [ca.certificate], crls: [(await ca.crl()).der] })
  const mk = async (name: string, groups: string[]) => {
    const identity = generateKeyPair()
    const cert = await ca.issuePeer({ publicKey: identity.publicKey, name, groups })
    return { identity, chain: cert.chain, peerId: cert.peerId }
  }
  const alice = await mk('alice', ['staff'])
  const bob = await mk('bob', ['guests'])
  const mallory = { identity: generateKeyPair() }
  await writeFile(join(ws, 'office.yaml'), DEMO_POLICY)
  await writeFile(join(ws, 'ca.pem'), ca.certificatePem)
  const policy = loadPolicy({ path: join(ws, 'office.yaml') })

  // Alice's share: a public notice and private documents.
  const root = join(ws, 'office')
  await mkdir(join(root, 'public'), { recursive: true })
  await mkdir(join(root, 'docs'))
  const notice = 'Lunch on Friday at noon.\n'
  await writeFile(join(root, 'public', 'notice.txt'), notice)
  await writeFile(join(root, 'docs', 'salaries.csv'), 'alice,5200\nbob,4100\n')
  const plainRoot = join(ws, 'office-plain')
  await cp(root, plainRoot, { recursive: true })
  return { trust, alice, bob, mallory, policy, root, plainRoot, notice }
}

export type Office = Awaited<ReturnType<typeof setUpOffice>>
