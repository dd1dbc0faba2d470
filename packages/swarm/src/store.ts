import { EventEmitter } from 'node:events'
import type { FileHandle } from 'node:fs/promises'
import { bitfieldBytes } from './wire.js'
import type { SwarmManifest } from './manifest.js'

/**
 * One swarm this peer takes part in: the manifest, the open file the pieces live in, and which
 * pieces are verified. Shared by the download (which fills it) and the server (which serves from
 * it). Emits `have` (piece index) when a piece is verified and written.
 */
export class SwarmStore extends EventEmitter {
  readonly manifest: SwarmManifest
  readonly swarmIdBytes: Uint8Array
  readonly pieceCount: number
  readonly #have: Uint8Array
  #haveCount = 0
  fh: FileHandle

  constructor(manifest: SwarmManifest, fh: FileHandle) {
    super()
    this.setMaxListeners(0)
    this.manifest = manifest
    this.swarmIdBytes = new Uint8Array(Buffer.from(manifest.swarmId, 'hex'))
    this.pieceCount = manifest.pieces.length
    this.#have = new Uint8Array(this.pieceCount)
    this.fh = fh
  }

  has(piece: number): boolean {
    return this.#have[piece] === 1
  }

  get haveCount(): number {
    return this.#haveCount
  }

  get complete(): boolean {
    return this.#haveCount === this.pieceCount
  }

  /** Mark a verified piece; emits `have`. */
  add(piece: number): void {
    if (this.#have[piece] === 1) return
    this.#have[piece] = 1
    this.#haveCount++
    this.emit('have', piece)
  }

  /** The pieces held, as a wire bitfield (SWARM.md §3.2). */
  bitfield(): Uint8Array {
    return bitfieldFrom(this.#have)
  }
}

/** One byte per piece (0/1) → packed bitfield, high bit first. */
export function bitfieldFrom(bits: Uint8Array): Uint8Array {
  const out = new Uint8Array(bitfieldBytes(bits.length))
  for (let i = 0; i < bits.length; i++) if (bits[i] === 1) out[i >> 3] = (out[i >> 3] as number) | (0x80 >> (i & 7))
  return out
}

/** Packed bitfield → one byte per piece. */
export function bitsFrom(bitfield: Uint8Array, pieceCount: number): Uint8Array {
  const out = new Uint8Array(pieceCount)
  for (let i = 0; i < pieceCount; i++) out[i] = ((bitfield[i >> 3] as number) >> (7 - (i & 7))) & 1
  return out
}
