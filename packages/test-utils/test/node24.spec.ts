import { describe, expect, it } from '@jest/globals'
import { NODE24_ENV, node24Binary } from '@peerguard/test-utils'

const major = Number(process.versions.node.split('.')[0])

describe('node24Binary', () => {
  it('without PEERGUARD_NODE24: the running Node when it is 24 or later, else none', () => {
    expect(node24Binary({})).toBe(major >= 24 ? process.execPath : undefined)
  })

  it('a named binary counts only when it exists, runs and says v24 or later', () => {
    expect(node24Binary({ [NODE24_ENV]: 'node' })).toBeUndefined() // not an absolute path
    expect(node24Binary({ [NODE24_ENV]: '/nonexistent/bin/node' })).toBeUndefined()
    expect(node24Binary({ [NODE24_ENV]: '/bin/false' })).toBeUndefined()
    expect(node24Binary({ [NODE24_ENV]: process.execPath })).toBe(major >= 24 ? process.execPath : undefined)
  })
})
