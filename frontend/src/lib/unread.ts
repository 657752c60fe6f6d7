// Unread counts, kept in the browser: the last seq I have seen per room and per private
// conversation (localStorage), compared with what the server has. The server keeps no read
// state; see docs/web.md.
import type { MessageOut } from '../api/types'

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

  /** People I have had a private conversation with in ``room`` (to count their unread). */
  partners(room: string): string[] {
    try {
      const list = JSON.parse(this.storage.getItem(`chinwag:partners:${this.me.toLowerCase()}:${room}`) ?? '[]')
      return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : []
    } catch {
      return []
    }
  }

  addPartner(room: string, partner: string): void {
    const list = this.partners(room)
    if (list.some((p) => p.toLowerCase() === partner.toLowerCase())) return
    list.push(partner)
    this.storage.setItem(`chinwag:partners:${this.me.toLowerCase()}:${room}`, JSON.stringify(list))
  }
}

/** Messages after ``seen`` that someone else wrote. */
export function countUnread(messages: readonly MessageOut[], seen: number, me: string): number {
  const mine = me.toLowerCase()
  return messages.filter((m) => m.seq > seen && m.sender.username.toLowerCase() !== mine).length
}

/** A badge's text: "", "3", or "99+" when there may be more. */
export function badgeText(count: number, more = false): string {
  if (count <= 0) return ''
  return count > 99 || more ? '99+' : String(count)
}
