/**
 * Units of the share's path confinement that the adversary specs use through a server: the
 * namespace lock (SPEC.md §5.2), the drop-box name (§5.4) and the subtree scope of the policy
 * authorizer (§8).
 */
import { describe, expect, it } from '@jest/globals'
import fc from 'fast-check'
import type { PeerInfo } from '@peerguard/interface'
import { MAX_NAME_BYTES, parseSharePath, policyAuthorizer } from '@peerguard/share'
import { NamespaceLock } from '../src/namespace-lock.js'
import { dropBoxName } from '../src/paths.js'

const tick = () => new Promise((r) => setImmediate(r))

describe('NamespaceLock', () => {
  it('runs shared holders together and an exclusive holder alone', async () => {
    const lock = new NamespaceLock()
    const log: string[] = []
    let releaseA!: () => void
    const a = lock.shared(async () => {
      log.push('a+')
      await new Promise<void>((r) => {
        releaseA = r
      })
      log.push('a-')
    })
    const b = lock.shared(async () => {
      log.push('b+')
      log.push('b-')
    })
    await tick()
    expect(log).toEqual(['a+', 'b+', 'b-']) // b did not wait for a
    const x = lock.exclusive(async () => {
      log.push('x+')
      await tick()
      log.push('x-')
    })
    const c = lock.shared(async () => {
      log.push('c')
    })
    await tick()
    expect(lock.state).toEqual({ readers: 1, writer: false, waiting: 2 }) // x waits for a; c waits behind x
    releaseA()
    await Promise.all([a, b, x, c])
    expect(log).toEqual(['a+', 'b+', 'b-', 'a-', 'x+', 'x-', 'c'])
    expect(lock.state).toEqual({ readers: 0, writer: false, waiting: 0 })
  })

  it('releases on a throw', async () => {
    const lock = new NamespaceLock()
    await expect(lock.exclusive(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    await expect(lock.shared(async () => 1)).resolves.toBe(1)
  })

  it('never lets an exclusive holder overlap anyone (random schedule)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.boolean(), fc.nat(3)), { minLength: 1, maxLength: 30 }), async (jobs) => {
        const lock = new NamespaceLock()
        let readers = 0
        let writers = 0
        await Promise.all(
          jobs.map(([exclusive, waits]) =>
            (exclusive ? lock.exclusive.bind(lock) : lock.shared.bind(lock))(async () => {
              if (exclusive) writers++
              else readers++
              expect(writers === 0 || (writers === 1 && readers === 0)).toBe(true)
              for (let i = 0; i < waits; i++) await tick()
              if (exclusive) writers--
              else readers--
            })
          )
        )
      })
    )
  })
})

describe('dropBoxName', () => {
  it('keeps a short extension and inserts the tag before it', () => {
    expect(dropBoxName('report.pdf', '0123456789ab')).toBe('report~0123456789ab.pdf')
    expect(dropBoxName('README', '0123456789ab')).toBe('README~0123456789ab')
    expect(dropBoxName('.profile', '0123456789ab')).toBe('.profile~0123456789ab')
  })

  it('is always a valid share name of at most NAME_MAX bytes that carries the tag', () => {
    const name = fc.string({ unit: 'binary', minLength: 1, maxLength: 300 }).filter((n) => {
      try {
        return parseSharePath(n).length === 1 && parseSharePath(n)[0] === n
      } catch {
        return false
      }
    })
    fc.assert(
      fc.property(name, fc.stringMatching(/^[0-9a-f]{12}$/), (n, tag) => {
        const out = dropBoxName(n, tag)
        expect(Buffer.byteLength(out, 'utf8')).toBeLessThanOrEqual(MAX_NAME_BYTES)
        expect(parseSharePath(out)).toEqual([out])
        expect(out).toContain(`~${tag}`)
        expect(out).not.toBe(n)
      })
    )
  })
})

describe('policyAuthorizer scopes', () => {
  const peer: PeerInfo = { peerId: 'p', publicKey: new Uint8Array(32), groups: [] }
  const request = { verb: 'rename' as const, action: 'write' as const, resource: 'share:s/a', path: 'a', encrypted: true }
  const allow = { allowed: true, code: 'allow', reason: 'ok', matchedGroups: [] }
  const deny = { allowed: false, code: 'deny-rule', reason: 'no', matchedGroups: [] }

  it('asks decide for a path and decideTree for a subtree', async () => {
    const asked: string[] = []
    const authorize = policyAuthorizer({
      decide: () => {
        asked.push('decide')
        return allow
      },
      decideTree: () => {
        asked.push('tree')
        return deny
      }
    })
    expect(await authorize(peer, request)).toBe(allow)
    expect(await authorize(peer, { ...request, scope: 'tree' })).toBe(deny)
    expect(asked).toEqual(['decide', 'tree'])
  })

  it('denies a subtree question when the policy cannot answer it (fail closed)', async () => {
    const authorize = policyAuthorizer({ decide: () => allow })
    expect(await authorize(peer, { ...request, scope: 'tree' })).toMatchObject({
      allowed: false,
      code: 'deny-error',
      reason: 'the policy cannot decide subtrees'
    })
  })
})
