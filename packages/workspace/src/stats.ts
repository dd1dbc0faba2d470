/** What a member has sent, accepted and refused: for tests, benchmarks and `peerguard peers --json`. */
export interface WorkspaceStats {
  announcementsSent: number
  announcementBytesSent: number
  announcementsAccepted: number
  fetches: number
  fetchBytes: number
  /** Refusals by code. */
  refused: Record<string, number>
}

/** One refused announcement, bundle or fetch (the `refused` event). */
export interface Refusal {
  readonly code: string
  readonly message: string
  readonly from: string
}

export function emptyStats(): WorkspaceStats {
  return { announcementsSent: 0, announcementBytesSent: 0, announcementsAccepted: 0, fetches: 0, fetchBytes: 0, refused: {} }
}
