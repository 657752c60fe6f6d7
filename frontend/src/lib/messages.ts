// Message lists: merged by id, ordered by seq, never shown twice.
import type { MessageOut } from '../api/types'

/** ``existing`` plus ``incoming``, one entry per id (the newest copy wins), sorted by seq. */
export function mergeMessages(existing: readonly MessageOut[], incoming: readonly MessageOut[]): MessageOut[] {
  if (incoming.length === 0) return existing as MessageOut[]
  const byId = new Map<number, MessageOut>()
  for (const m of existing) byId.set(m.id, m)
  for (const m of incoming) byId.set(m.id, m)
  return [...byId.values()].sort((a, b) => a.seq - b.seq || a.id - b.id)
}

export function newestSeq(messages: readonly MessageOut[]): number {
  return messages.length ? (messages[messages.length - 1] as MessageOut).seq : 0
}

export function oldestSeq(messages: readonly MessageOut[]): number | null {
  return messages.length ? (messages[0] as MessageOut).seq : null
}

/** The other person of a private message, seen from ``me``; null for a public one. */
export function partnerOf(message: MessageOut, me: string): string | null {
  if (message.to === null) return null
  return sameUser(message.sender.username, me) ? message.to : message.sender.username
}

/** Usernames are unique regardless of case on the server. */
export function sameUser(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase()
}

/** Shows a message's author beside it unless the previous one is by the same person and recent. */
export function startsGroup(prev: MessageOut | undefined, message: MessageOut): boolean {
  if (!prev || prev.sender.username !== message.sender.username) return true
  return Date.parse(message.created_at) - Date.parse(prev.created_at) > 5 * 60_000
}
