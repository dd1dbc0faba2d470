import type { ConnectionRecord } from '@peerguard/interface'

/**
 * A connection decision as the gater and the encrypter write it: `ConnectionRecord` of
 * `@peerguard/interface` (the one declaration every enforcement point shares; `mode` is
 * `hardened` when peerguard secured the connection, `plain` for another encrypter).
 */
export type Libp2pConnectionRecord = ConnectionRecord
