/** The peer-ID text layout identity and policy share: check characters, grouping, argument checks. */
import { describe, expect, it } from '@jest/globals'
import { luhnMod32, peerIdTextFromBase32 } from '@peerguard/interface'
import fc from 'fast-check'

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
const b32 = (length: number) =>
  fc.array(fc.constantFrom(...ALPHABET), { minLength: length, maxLength: length }).map((a) => a.join(''))

describe('peer-ID text layout', () => {
  it('luhnMod32 catches every single-character substitution in a chunk', () => {
    fc.assert(
      fc.property(b32(13), fc.nat(12), fc.constantFrom(...ALPHABET), (chunk, at, ch) => {
        fc.pre(chunk[at] !== ch)
        const typo = chunk.slice(0, at) + ch + chunk.slice(at + 1)
        expect(luhnMod32(typo)).not.toBe(luhnMod32(chunk))
      })
    )
  })

  it('peerIdTextFromBase32 keeps the 52 characters, adds a check per 13 and shows 8 groups of 7', () => {
    fc.assert(
      fc.property(b32(52), (text) => {
        const id = peerIdTextFromBase32(text)
        expect(id).toMatch(/^[A-Z2-7]{7}(?:-[A-Z2-7]{7}){7}$/)
        const flat = id.replace(/-/g, '')
        for (let i = 0; i < 4; i++) {
          const chunk = flat.slice(i * 14, i * 14 + 13)
          expect(chunk).toBe(text.slice(i * 13, (i + 1) * 13))
          expect(flat[i * 14 + 13]).toBe(luhnMod32(chunk))
        }
      })
    )
  })

  it('refuses what is not upper-case base32 of the right length', () => {
    expect(() => luhnMod32(5 as unknown as string)).toThrow('text: expected string, got number')
    expect(() => luhnMod32('abc')).toThrow('text: expected upper-case base32 characters A-Z 2-7')
    expect(() => peerIdTextFromBase32('A'.repeat(51))).toThrow('b32: expected 52 upper-case base32 characters A-Z 2-7')
    expect(() => peerIdTextFromBase32(`${'A'.repeat(51)}1`)).toThrow(expect.objectContaining({ code: 'invalid-argument' }))
  })
})
