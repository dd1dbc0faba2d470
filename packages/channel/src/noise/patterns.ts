import { NoiseUnsupportedProtocolError } from '../errors.js'

/** A token of a handshake pattern (Noise rev 34 §7.1). */
export type Token = 'e' | 's' | 'ee' | 'es' | 'se' | 'ss' | 'psk'

export interface HandshakePattern {
  readonly name: string
  /** Pre-message tokens of the initiator and the responder (`e`, `s`). */
  readonly initiatorPre: readonly Token[]
  readonly responderPre: readonly Token[]
  /** Message patterns; even indexes are sent by the initiator, odd by the responder. */
  readonly messages: readonly (readonly Token[])[]
  /** True for the one-way patterns N, K, X (§7.4): only the initiator sends. */
  readonly oneWay: boolean
}

/**
 * Pattern table, copied from the Noise Protocol Framework rev 34: one-way patterns (§7.4),
 * fundamental interactive patterns (§7.5) and deferred patterns (§18.2). Each entry is
 * `pre-messages | messages`; pre-messages are `initiator;responder`, messages are separated by `/`.
 */
const TABLE: Record<string, string> = {
  N: ';s | e,es',
  K: 's;s | e,es,ss',
  X: ';s | e,es,s,ss',
  NN: '; | e / e,ee',
  NK: ';s | e,es / e,ee',
  NX: '; | e / e,ee,s,es',
  XN: '; | e / e,ee / s,se',
  XK: ';s | e,es / e,ee / s,se',
  XX: '; | e / e,ee,s,es / s,se',
  KN: 's; | e / e,ee,se',
  KK: 's;s | e,es,ss / e,ee,se',
  KX: 's; | e / e,ee,se,s,es',
  IN: '; | e,s / e,ee,se',
  IK: ';s | e,es,s,ss / e,ee,se',
  IX: '; | e,s / e,ee,se,s,es',
  NK1: ';s | e / e,ee,es',
  NX1: '; | e / e,ee,s / es',
  X1N: '; | e / e,ee / s / se',
  X1K: ';s | e,es / e,ee / s / se',
  XK1: ';s | e / e,ee,es / s,se',
  X1K1: ';s | e / e,ee,es / s / se',
  X1X: '; | e / e,ee,s,es / s / se',
  XX1: '; | e / e,ee,s / es,s,se',
  X1X1: '; | e / e,ee,s / es,s / se',
  K1N: 's; | e / e,ee / se',
  K1K: 's;s | e,es / e,ee / se',
  KK1: 's;s | e / e,ee,se,es',
  K1K1: 's;s | e / e,ee,es / se',
  K1X: 's; | e / e,ee,s,es / se',
  KX1: 's; | e / e,ee,se,s / es',
  K1X1: 's; | e / e,ee,s / se,es',
  I1N: '; | e,s / e,ee / se',
  I1K: ';s | e,es,s / e,ee / se',
  IK1: ';s | e,s / e,ee,se,es',
  I1K1: ';s | e,s / e,ee,es / se',
  I1X: '; | e,s / e,ee,s,es / se',
  IX1: '; | e,s / e,ee,se,s / es',
  I1X1: '; | e,s / e,ee,s / se,es'
}

const tokens = (text: string): Token[] => (text.trim() === '' ? [] : (text.split(',').map((t) => t.trim()) as Token[]))

/** Names of every base pattern this implementation runs. */
export const PATTERN_NAMES: readonly string[] = Object.keys(TABLE)

/**
 * The pattern for a name with modifiers, e.g. `XX`, `IKpsk2`, `XXpsk0+psk3` (§9, §10.2).
 * `pskN` puts a `psk` token at the start of the first message (N = 0) or at the end of message N.
 */
export function parsePattern(name: string): HandshakePattern {
  const m = /^([NKXI]1?(?:[NKX]1?)?)([a-z][a-z0-9+]*)?$/.exec(name)
  const base = m === null ? undefined : TABLE[m[1] as string]
  if (m === null || base === undefined)
    throw new NoiseUnsupportedProtocolError(`Noise pattern ${JSON.stringify(name)} is not supported`)
  const [pre, msgs] = base.split('|') as [string, string]
  const [ipre, rpre] = pre.split(';') as [string, string]
  const messages = msgs.split('/').map(tokens)
  const modifiers = m[2] === undefined ? [] : m[2].split('+')
  for (const mod of modifiers) {
    const psk = /^psk(\d)$/.exec(mod)
    if (psk === null) throw new NoiseUnsupportedProtocolError(`Noise pattern modifier ${JSON.stringify(mod)} is not supported`)
    const n = Number(psk[1])
    if (n > messages.length)
      throw new NoiseUnsupportedProtocolError(`Noise modifier ${mod}: the pattern has only ${messages.length} messages`)
    if (n === 0) (messages[0] as Token[]).unshift('psk')
    else (messages[n - 1] as Token[]).push('psk')
  }
  return { name, initiatorPre: tokens(ipre), responderPre: tokens(rpre), messages, oneWay: messages.length === 1 }
}

/** The parts of a full protocol name such as `Noise_XX_25519_ChaChaPoly_SHA256` (§8). */
export interface ProtocolName {
  readonly name: string
  readonly pattern: HandshakePattern
  readonly dh: string
  readonly cipher: string
  readonly hash: string
}

export function parseProtocolName(name: string): ProtocolName {
  if (typeof name !== 'string' || name.length > 255)
    throw new NoiseUnsupportedProtocolError('Noise protocol name: expected a string of at most 255 characters')
  const parts = name.split('_')
  if (parts.length !== 5 || parts[0] !== 'Noise') {
    throw new NoiseUnsupportedProtocolError(
      `Noise protocol name ${JSON.stringify(name)}: expected Noise_<pattern>_<dh>_<cipher>_<hash>`
    )
  }
  const [, pattern, dh, cipher, hash] = parts as [string, string, string, string, string]
  return { name, pattern: parsePattern(pattern), dh, cipher, hash }
}
