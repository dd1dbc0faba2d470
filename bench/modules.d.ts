// Types for the anchors that ship none (only what the benchmarks use).
declare module '@hyperswarm/secret-stream' {
  import type { Duplex } from 'node:stream'
  interface KeyPair {
    publicKey: Buffer
    secretKey: Buffer
  }
  export default class SecretStream extends Duplex {
    constructor(isInitiator: boolean, rawStream: Duplex, options?: { keyPair?: KeyPair })
    static keyPair(seed?: Buffer): KeyPair
  }
}
