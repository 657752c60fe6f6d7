import { describe, expect, it, vi } from 'vitest'
import { MemoryStorage, SeenMarks, badgeText, countUnread, fetchUnread } from '../src/lib/unread'
import { message } from './factories'

describe('SeenMarks', () => {
  it('remembers the last seen seq per room and per conversation, never going back', () => {
    const marks = new SeenMarks(new MemoryStorage(), 'Ana')
    expect(marks.seen('r1')).toBe(0)
    marks.markSeen('r1', 10)
    marks.markSeen('r1', 4)
    marks.markSeen('r1', 7, 'Bob')
    expect(marks.seen('r1')).toBe(10)
    expect(marks.seen('r1', 'bob')).toBe(7)
    expect(marks.seen('r2')).toBe(0)
  })

  it('keeps marks apart per person using the same browser', () => {
    const storage = new MemoryStorage()
    new SeenMarks(storage, 'ana').markSeen('r1', 5)
    expect(new SeenMarks(storage, 'bob').seen('r1')).toBe(0)
    expect(new SeenMarks(storage, 'ANA').seen('r1')).toBe(5)
  })

  it('survives garbage in storage', () => {
    const storage = new MemoryStorage()
    storage.setItem('chinwag:seen:ana:r1', 'nonsense')
    const marks = new SeenMarks(storage, 'ana')
    expect(marks.seen('r1')).toBe(0)
  })
})

describe('countUnread', () => {
  it('counts messages after the mark written by others', () => {
    const list = [message(3, 'bob'), message(4, 'ana'), message(5, 'bob'), message(6, 'cy')]
    expect(countUnread(list, 3, 'ana')).toBe(2)
    expect(countUnread(list, 0, 'ANA')).toBe(3)
    expect(countUnread(list, 6, 'ana')).toBe(0)
  })

  it('fetches nothing when the newest position is not past my mark', async () => {
    const load = vi.fn()
    expect(await fetchUnread(5, 5, 'ana', load)).toEqual({ messages: [], more: false })
    expect(await fetchUnread(0, 0, 'ana', load)).toEqual({ messages: [], more: false })
    expect(load).not.toHaveBeenCalled()
  })

  it('fetches after my mark and keeps only the others\' messages', async () => {
    const mine = message(6, 'ana')
    const theirs = [message(7, 'bob'), message(9, 'Bob')]
    const load = vi.fn().mockResolvedValue({ messages: [mine, theirs[0], message(8, 'ANA'), theirs[1]], has_more: true })
    expect(await fetchUnread(9, 5, 'ana', load)).toEqual({ messages: theirs, more: true })
    expect(load).toHaveBeenCalledWith(5)
  })

  it('counts none when everything past my mark is mine (sent from another device)', async () => {
    const load = vi.fn().mockResolvedValue({ messages: [message(3, 'ana'), message(4, 'ana')], has_more: false })
    expect(await fetchUnread(4, 2, 'ana', load)).toEqual({ messages: [], more: false })
  })

  it('shows a badge text', () => {
    expect(badgeText(0)).toBe('')
    expect(badgeText(3)).toBe('3')
    expect(badgeText(3, true)).toBe('99+')
    expect(badgeText(120)).toBe('99+')
  })
})
