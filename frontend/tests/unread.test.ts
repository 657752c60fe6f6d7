import { describe, expect, it } from 'vitest'
import { MemoryStorage, SeenMarks, badgeText, countUnread } from '../src/lib/unread'
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

  it('lists conversation partners once', () => {
    const marks = new SeenMarks(new MemoryStorage(), 'ana')
    marks.addPartner('r1', 'bob')
    marks.addPartner('r1', 'Bob')
    marks.addPartner('r1', 'cy')
    expect(marks.partners('r1')).toEqual(['bob', 'cy'])
    expect(marks.partners('r2')).toEqual([])
  })

  it('survives garbage in storage', () => {
    const storage = new MemoryStorage()
    storage.setItem('chinwag:seen:ana:r1', 'nonsense')
    storage.setItem('chinwag:partners:ana:r1', '{not json')
    const marks = new SeenMarks(storage, 'ana')
    expect(marks.seen('r1')).toBe(0)
    expect(marks.partners('r1')).toEqual([])
  })
})

describe('countUnread', () => {
  it('counts messages after the mark written by others', () => {
    const list = [message(3, 'bob'), message(4, 'ana'), message(5, 'bob'), message(6, 'cy')]
    expect(countUnread(list, 3, 'ana')).toBe(2)
    expect(countUnread(list, 0, 'ANA')).toBe(3)
    expect(countUnread(list, 6, 'ana')).toBe(0)
  })

  it('shows a badge text', () => {
    expect(badgeText(0)).toBe('')
    expect(badgeText(3)).toBe('3')
    expect(badgeText(3, true)).toBe('99+')
    expect(badgeText(120)).toBe('99+')
  })
})
