/**
 * The JSON Schema of policy files (draft-07). `policies/schema.json` is this object written out;
 * a test keeps the two equal. Semantic checks the schema cannot express (globs, sizes, group
 * cycles, unknown names) are made by the loader after the schema passes.
 */
const NAME = { type: 'string', minLength: 1, maxLength: 256 } as const
const ACTION = { type: 'string', enum: ['read', 'write', 'list', 'get', 'put', 'delete', 'rename', 'print', 'admin'] } as const
const ACTIONS = { type: 'array', items: ACTION, minItems: 1, maxItems: 16 } as const
const STRINGS = { type: 'array', items: NAME, minItems: 1, maxItems: 10_000 } as const
const SIZE = { type: ['string', 'integer'] } as const

export const POLICY_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://peerguard.dev/schemas/policy.json',
  title: 'peerguard policy',
  description: 'Who may read and who may write what, per peer. See policies/README.md.',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'rules'],
  properties: {
    version: { const: 1, description: 'Language version; always 1.' },
    description: { type: 'string', maxLength: 4096 },
    'utc-offset': { type: 'string', description: 'Offset of the clock that time windows use, e.g. +01:00 (default Z).' },
    peers: {
      type: 'object',
      description: 'Named peers: by peer ID, by certificate name (CN), or both (both must then match).',
      maxProperties: 100_000,
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          id: { ...NAME, description: 'Peer ID in peerguard text form.' },
          name: { ...NAME, description: 'Certificate name (CN).' },
          description: { type: 'string', maxLength: 4096 }
        }
      }
    },
    groups: {
      type: 'object',
      description: 'Groups of peers: peer names, other groups, id:<peerId>, name:<cn>, ou:<certificate group>.',
      maxProperties: 100_000,
      additionalProperties: { type: 'array', items: NAME, maxItems: 100_000 }
    },
    resources: {
      type: 'object',
      description: 'Per-resource requirements, keyed by resource pattern (kind:glob).',
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          require: { type: 'array', items: { type: 'string', enum: ['encrypted'] }, minItems: 1 },
          description: { type: 'string', maxLength: 4096 }
        }
      }
    },
    rules: {
      type: 'array',
      maxItems: 1_000_000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['peers', 'resources'],
        properties: {
          id: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.:-]+$' },
          description: { type: 'string', maxLength: 4096 },
          allow: ACTIONS,
          deny: ACTIONS,
          peers: { ...STRINGS, description: 'Who: * (any peer), peer and group names, id:, name:, ou:.' },
          except: {
            ...STRINGS,
            description: 'Peers the rule does not apply to, though peers: names them (peer and group names, id:, name:, ou:).'
          },
          resources: { ...STRINGS, description: 'What: kind:glob patterns.' },
          when: {
            type: 'object',
            additionalProperties: false,
            properties: {
              'max-size': SIZE,
              'min-size': SIZE,
              time: { type: 'string' },
              days: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 7 },
              networks: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 1000 }
            }
          }
        }
      }
    },
    tests: {
      type: 'array',
      maxItems: 100_000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['peer'],
        properties: {
          name: { type: 'string', maxLength: 256 },
          peer: {
            oneOf: [
              NAME,
              {
                type: 'object',
                additionalProperties: false,
                minProperties: 1,
                description:
                  'The peer as its certificate presents it: peer ID (either text form), certificate name (CN), groups (OU), address; named: takes ID and name from peers:.',
                properties: {
                  named: NAME,
                  id: NAME,
                  name: NAME,
                  groups: { type: 'array', items: NAME },
                  address: NAME
                }
              }
            ]
          },
          can: { type: 'array', items: { type: 'string', maxLength: 4096 } },
          cannot: { type: 'array', items: { type: 'string', maxLength: 4096 } },
          context: {
            type: 'object',
            additionalProperties: false,
            properties: {
              size: SIZE,
              encrypted: { type: 'boolean' },
              time: { type: 'string', description: 'ISO 8601 date and time.' },
              address: { type: 'string' }
            }
          }
        }
      }
    }
  }
} as const

/** A policy document as the schema describes it (before semantic checks). */
export interface PolicyDocument {
  version: 1
  description?: string
  'utc-offset'?: string
  peers?: Record<string, { id?: string; name?: string; description?: string }>
  groups?: Record<string, string[]>
  resources?: Record<string, { require?: 'encrypted'[]; description?: string }>
  rules: RawRule[]
  tests?: RawTest[]
}

export interface RawRule {
  id?: string
  description?: string
  allow?: string[]
  deny?: string[]
  peers: string[]
  except?: string[]
  resources: string[]
  when?: RawWhen
}

export interface RawWhen {
  'max-size'?: string | number
  'min-size'?: string | number
  time?: string
  days?: string[]
  networks?: string[]
}

export interface RawTest {
  name?: string
  peer: string | { named?: string; id?: string; name?: string; groups?: string[]; address?: string }
  can?: string[]
  cannot?: string[]
  context?: { size?: string | number; encrypted?: boolean; time?: string; address?: string }
}
