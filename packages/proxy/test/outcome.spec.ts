/**
 * The outcome entry of a relayed connection: `ok` for a clean close, `failed` with a stable code
 * for every other end (idle timeout, reset, the proxy closing, a re-check's refusal), the bytes
 * each way and the acceptance it belongs to. Whatever ended the splice, the entry is well formed.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { type DecisionLog, openDecisionLog } from '@peerguard/decision-log'
import { generateKeyPair } from '@peerguard/identity'
import { ProxyClosedError, ProxyIdleTimeoutError } from '@peerguard/proxy'
import fc from 'fast-check'
import { connectionOutcome, spliceErrorCode } from '../src/outcome.js'

const conn = { peer: { peerId: 'P', name: 'alice' }, resource: 'service:web', since: 1000, acceptedSeq: 7 }
const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })

let dir: string
let log: DecisionLog
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pg-proxy-outcome-'))
  log = await openDecisionLog({ path: join(dir, 'decisions.jsonl'), identity: await generateKeyPair() })
})
afterAll(async () => {
  await log.close()
  await rm(dir, { recursive: true, force: true, maxRetries: 5 })
})

describe('connectionOutcome', () => {
  it('a clean close is ok with the bytes each way, the duration and the acceptance', () => {
    expect(connectionOutcome(conn, { aToB: 10, bToA: 32 }, 3500)).toEqual({
      kind: 'outcome',
      outcome: 'ok',
      code: 'ok',
      reason: 'connection closed',
      peer: { peerId: 'P', name: 'alice' },
      op: 'connect',
      resource: 'service:web',
      bytes: 42,
      bytesIn: 10,
      bytesOut: 32,
      durationMs: 2500,
      decisions: [7]
    })
  })

  it('every other end is failed with a stable code', () => {
    const codeOf = (error: unknown, dropped?: { code: string; reason: string }): [string, string] => {
      const o = connectionOutcome(
        { ...conn, ...(dropped === undefined ? {} : { dropped }) },
        {
          aToB: 1,
          bToA: 2,
          error: error as Error
        }
      )
      return [o.outcome, o.code]
    }
    expect(codeOf(new ProxyIdleTimeoutError('no data for 10 ms'))).toEqual(['failed', 'proxy-idle-timeout'])
    expect(codeOf(new ProxyClosedError())).toEqual(['failed', 'proxy-closed'])
    expect(codeOf(reset)).toEqual(['failed', 'proxy-connection-reset'])
    expect(codeOf(new Error('something else'))).toEqual(['failed', 'io-error'])
    expect(codeOf(undefined, { code: 'cert-revoked', reason: 'revoked' })).toEqual(['failed', 'cert-revoked'])
    expect(connectionOutcome({ ...conn, dropped: { code: 'deny-rule', reason: 'r' } }, { aToB: 0, bToA: 0 }).reason).toBe(
      'closed by a re-check: r'
    )
  })

  it('is a record the decision log takes, whatever ended the splice', async () => {
    await fc.assert(
      fc.asyncProperty(fc.anything(), fc.nat(), fc.nat(), fc.nat({ max: 10_000 }), async (error, aToB, bToA, ms) => {
        const stats = { aToB, bToA, ...(error === undefined ? {} : { error: error as Error }) }
        const record = connectionOutcome(conn, stats, 1000 + ms)
        await expect(log.append(record)).resolves.toMatchObject({ seq: expect.any(Number) })
        expect(record.outcome === 'ok').toBe(error === undefined)
        expect(record.durationMs).toBe(ms)
      }),
      { numRuns: 100 }
    )
    expect(spliceErrorCode(null)).toBe('io-error')
  })
})
