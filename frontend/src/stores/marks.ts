// The seen-marks of whoever is logged in, shared by the lobby and the room.
import { SeenMarks, browserStorage, type KeyValue } from '../lib/unread'

let storage: KeyValue | null = null

/** Tests pass a MemoryStorage; the page uses localStorage. */
export function useStorage(next: KeyValue): void {
  storage = next
}

export function marksFor(username: string): SeenMarks {
  storage ??= browserStorage()
  return new SeenMarks(storage, username)
}
