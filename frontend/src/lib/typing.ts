// Who is typing: server events with an expiry, turned into one line of text.
import type { TypingEvent, UserOut } from '../api/types'

export interface Typist {
  user: UserOut
  until: number // ms timestamp after which the state is stale
}

export type TypingState = Record<string, Typist> // by username

/** The state after an event (``now`` in ms). */
export function applyTyping(state: TypingState, event: TypingEvent, now: number): TypingState {
  const next = { ...state }
  if (event.active) next[event.user.username] = { user: event.user, until: now + event.expires_in * 1000 }
  else delete next[event.user.username]
  return next
}

export function stopTyping(state: TypingState, username: string): TypingState {
  if (!(username in state)) return state
  const next = { ...state }
  delete next[username]
  return next
}

/** Display names of those still typing at ``now``, in a stable order. */
export function activeTypists(state: TypingState, now: number, me?: string): string[] {
  return Object.values(state)
    .filter((t) => t.until > now && t.user.username !== me)
    .map((t) => t.user.full_name || t.user.username)
    .sort((a, b) => a.localeCompare(b))
}

/** "Ana is typing…", "Ana and Bo are typing…", "several people are typing…", or "". */
export function typingLine(names: readonly string[]): string {
  if (names.length === 0) return ''
  if (names.length === 1) return `${names[0]} is typing…`
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`
  return 'several people are typing…'
}

/** Sends "typing" at most every ``interval`` ms while someone keeps typing, and once when they stop. */
export class TypingNotifier {
  private lastSent = 0
  private active = false

  constructor(
    private readonly send: (active: boolean) => void,
    private readonly interval = 2500,
  ) {}

  input(hasText: boolean, now: number): void {
    if (!hasText) {
      this.stop()
      return
    }
    if (!this.active || now - this.lastSent >= this.interval) {
      this.active = true
      this.lastSent = now
      this.send(true)
    }
  }

  /** The message was sent (the server clears the indicator itself) or the field emptied. */
  sent(): void {
    this.active = false
    this.lastSent = 0
  }

  stop(): void {
    if (!this.active) return
    this.active = false
    this.lastSent = 0
    this.send(false)
  }
}
