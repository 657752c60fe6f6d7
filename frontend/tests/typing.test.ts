import { describe, expect, it, vi } from 'vitest'
import type { TypingEvent } from '../src/api/types'
import { TypingNotifier, activeTypists, applyTyping, stopTyping, typingLine } from '../src/lib/typing'
import { user } from './factories'

function event(username: string, fullName: string, active = true, expiresIn = 6): TypingEvent {
  return { room: 'r', user: user(username, fullName), to: null, active, expires_in: expiresIn }
}

describe('typingLine', () => {
  it('names one or two people, then says several', () => {
    expect(typingLine([])).toBe('')
    expect(typingLine(['Ana'])).toBe('Ana is typing…')
    expect(typingLine(['Ana', 'Bo'])).toBe('Ana and Bo are typing…')
    expect(typingLine(['Ana', 'Bo', 'Cy'])).toBe('several people are typing…')
  })
})

describe('typing state', () => {
  it('adds, refreshes and removes typists', () => {
    let state = applyTyping({}, event('ana', 'Ana'), 0)
    state = applyTyping(state, event('bo', 'Bo'), 0)
    expect(activeTypists(state, 1000)).toEqual(['Ana', 'Bo'])
    state = applyTyping(state, event('ana', 'Ana', false), 1000)
    expect(activeTypists(state, 1000)).toEqual(['Bo'])
    expect(activeTypists(stopTyping(state, 'bo'), 1000)).toEqual([])
  })

  it('drops a typist whose state expired (the sender vanished)', () => {
    const state = applyTyping({}, event('ana', 'Ana', true, 2), 10_000)
    expect(activeTypists(state, 11_999)).toEqual(['Ana'])
    expect(activeTypists(state, 12_001)).toEqual([])
  })

  it('never shows me', () => {
    const state = applyTyping(applyTyping({}, event('me', 'Me'), 0), event('ana', 'Ana'), 0)
    expect(activeTypists(state, 0, 'me')).toEqual(['Ana'])
  })
})

describe('TypingNotifier', () => {
  it('tells the server at most once per interval, and once when the text is gone', () => {
    const send = vi.fn()
    const notifier = new TypingNotifier(send, 2500)
    notifier.input(true, 0)
    notifier.input(true, 1000)
    notifier.input(true, 2000)
    expect(send.mock.calls).toEqual([[true]])
    notifier.input(true, 2600)
    expect(send.mock.calls).toEqual([[true], [true]])
    notifier.input(false, 3000)
    notifier.stop()
    expect(send.mock.calls).toEqual([[true], [true], [false]])
  })

  it('sends nothing when the message is sent (the server clears it)', () => {
    const send = vi.fn()
    const notifier = new TypingNotifier(send)
    notifier.input(true, 0)
    notifier.sent()
    notifier.stop()
    expect(send.mock.calls).toEqual([[true]])
  })
})
