// Unread counts, kept in the browser: the last seq I have seen in a room's public chat and in
// each of my private conversations there (localStorage), compared with the newest position the
// server reports for each (a room's ``last_seq``, a conversation's from GET …/dms). The server
// keeps no read state; see docs/web.md.
import type { MessageOut, MessagePage } from '../api/types'

export interface KeyValue {
  getItem(key: string): string | null
  setItem(key: string, value: string): void
}

/** A stand-in for localStorage where there is none (tests, private modes that refuse it). */
export class MemoryStorage implements KeyValue {
  private readonly data = new Map<string, string>()
  getItem(key: string): string | null {
    return this.data.get(key) ?? null
  }
  setItem(key: string, value: string): void {
    this.data.set(key, value)
  }
}

export function browserStorage(): KeyValue {
  try {
    const storage = globalThis.localStorage
    storage.setItem('chinwag:probe', '1')
    return storage
  } catch {
    return new MemoryStorage()
  }
}

export class SeenMarks {
  constructor(
    private readonly storage: KeyValue,
    private readonly me: string,
  ) {}

  private key(room: string, partner?: string): string {
    const who = this.me.toLowerCase()
    return partner ? `chinwag:seen:${who}:${room}:dm:${partner.toLowerCase()}` : `chinwag:seen:${who}:${room}`
  }

  seen(room: string, partner?: string): number {
    const value = Number(this.storage.getItem(this.key(room, partner)))
    return Number.isFinite(value) && value > 0 ? value : 0
  }

  /** Records that I saw everything up to ``seq``; never moves backwards. */
  markSeen(room: string, seq: number, partner?: string): void {
    if (seq > this.seen(room, partner)) this.storage.setItem(this.key(room, partner), String(seq))
  }
}

/** Messages after ``seen`` that someone else wrote. */
export function othersAfter(messages: readonly MessageOut[], seen: number, me: string): MessageOut[] {
  const mine = me.toLowerCase()
  return messages.filter((m) => m.seq > seen && m.sender.username.toLowerCase() !== mine)
}

export function countUnread(messages: readonly MessageOut[], seen: number, me: string): number {
  return othersAfter(messages, seen, me).length
}

/** The unread messages of one conversation (public or private) and whether there may be more. */
export interface Unread {
  messages: MessageOut[]
  more: boolean
}

/**
 * What is unread in a conversation whose newest position is ``lastSeq``, from my mark
 * ``seen``: nothing to fetch when the position is not past the mark; otherwise one page after
 * the mark, of which only the others' messages count (mine were sent, so seen, perhaps from
 * another device that did not move this browser's mark).
 */
export async function fetchUnread(
  lastSeq: number,
  seen: number,
  me: string,
  load: (after: number) => Promise<MessagePage>,
): Promise<Unread> {
  if (lastSeq <= seen) return { messages: [], more: false }
  const page = await load(seen)
  return { messages: othersAfter(page.messages, seen, me), more: page.has_more }
}

/** A badge's text: "", "3", or "99+" when there may be more. */
export function badgeText(count: number, more = false): string {
  if (count <= 0) return ''
  return count > 99 || more ? '99+' : String(count)
}
