// People as the app shows them: initials for a missing avatar, a colour, a search filter.
import type { UserOut } from '../api/types'

export function initials(fullName: string, username: string): string {
  const words = fullName.trim().split(/\s+/).filter(Boolean)
  const letters = words.length >= 2 ? [words[0], words[words.length - 1]] : [words[0] ?? username]
  return letters
    .map((w) => Array.from(w ?? '')[0] ?? '')
    .join('')
    .toUpperCase()
}

/** A stable colour per username, so initials are told apart at a glance. */
export function hueOf(username: string): number {
  let hash = 0
  for (const ch of username.toLowerCase()) hash = (hash * 31 + (ch.codePointAt(0) ?? 0)) >>> 0
  return hash % 360
}

/** People whose username or full name contains ``query`` (any case), in name order. */
export function filterPeople<T extends UserOut>(people: readonly T[], query: string): T[] {
  const q = query.trim().toLowerCase()
  return people
    .filter((p) => !q || p.username.toLowerCase().includes(q) || p.full_name.toLowerCase().includes(q))
    .sort((a, b) => (a.full_name || a.username).localeCompare(b.full_name || b.username))
}
