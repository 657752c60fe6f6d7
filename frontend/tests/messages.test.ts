import { describe, expect, it } from 'vitest'
import { mergeMessages, newestSeq, oldestSeq, partnerOf, startsGroup } from '../src/lib/messages'
import { message } from './factories'

describe('mergeMessages', () => {
  it('orders by seq and keeps one copy per id', () => {
    const a = message(1, 'ana', 'one', { id: 10 })
    const b = message(2, 'bob', 'two', { id: 11 })
    const c = message(3, 'ana', 'three', { id: 12 })
    const merged = mergeMessages([c, a], [b, a, c])
    expect(merged.map((m) => m.id)).toEqual([10, 11, 12])
  })

  it('prepends an older page and appends live messages', () => {
    const live = [message(50, 'ana', 'x', { id: 50 })]
    const older = [message(48, 'bob', 'y', { id: 48 }), message(49, 'bob', 'z', { id: 49 })]
    expect(mergeMessages(live, older).map((m) => m.seq)).toEqual([48, 49, 50])
  })

  it('lets the newest copy of a message win (an edited sender, say)', () => {
    const old = message(1, 'ana', 'hi', { id: 7 })
    const updated = { ...old, sender: { ...old.sender, full_name: 'Ana Lima' } }
    expect(mergeMessages([old], [updated])[0]?.sender.full_name).toBe('Ana Lima')
  })

  it('returns the same list when nothing comes in', () => {
    const list = [message(1, 'ana')]
    expect(mergeMessages(list, [])).toBe(list)
  })

  it('gives the ends of a list', () => {
    const list = mergeMessages([], [message(4, 'a'), message(9, 'b')])
    expect(newestSeq(list)).toBe(9)
    expect(oldestSeq(list)).toBe(4)
    expect(newestSeq([])).toBe(0)
    expect(oldestSeq([])).toBeNull()
  })
})

describe('partnerOf', () => {
  it('is the other person of a private message, any case', () => {
    expect(partnerOf(message(1, 'ana', 'x', { to: 'bob' }), 'ANA')).toBe('bob')
    expect(partnerOf(message(1, 'bob', 'x', { to: 'ana' }), 'ana')).toBe('bob')
    expect(partnerOf(message(1, 'bob'), 'ana')).toBeNull()
  })
})

describe('startsGroup', () => {
  it('shows the author again for another person or after five minutes', () => {
    const first = message(1, 'ana', 'a', { created_at: '2025-01-01T12:00:00Z' })
    const soon = message(2, 'ana', 'b', { created_at: '2025-01-01T12:01:00Z' })
    const later = message(3, 'ana', 'c', { created_at: '2025-01-01T12:07:00Z' })
    expect(startsGroup(undefined, first)).toBe(true)
    expect(startsGroup(first, soon)).toBe(false)
    expect(startsGroup(soon, later)).toBe(true)
    expect(startsGroup(first, message(4, 'bob'))).toBe(true)
  })
})
