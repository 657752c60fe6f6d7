import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { api } from '../src/api/client'
import type { MessageOut, MessagePage, RoomSummary } from '../src/api/types'
import { MemoryStorage } from '../src/lib/unread'
import { marksFor, useStorage } from '../src/stores/marks'
import { useRoomsStore } from '../src/stores/rooms'
import { useSessionStore } from '../src/stores/session'
import { message, user } from './factories'

const ROOM = 'room-1'

function summary(lastSeq: number, code = ROOM): RoomSummary {
  return { code, name: 'Book club', owner: 'bob', created_at: '2025-01-01T00:00:00Z', last_seq: lastSeq }
}

function page(messages: MessageOut[], hasMore = false): MessagePage {
  return { messages, has_more: hasMore }
}

function dm(seq: number, from: string, to: string): MessageOut {
  return message(seq, from, `dm${seq}`, { room: ROOM, to })
}

beforeEach(() => {
  setActivePinia(createPinia())
  useStorage(new MemoryStorage())
  const session = useSessionStore()
  session.user = user('ana', 'Ana Lima')
  session.status = 'authenticated'
  vi.spyOn(api, 'rooms').mockResolvedValue({ rooms: [summary(0)] })
  vi.spyOn(api, 'messages').mockResolvedValue(page([]))
  vi.spyOn(api, 'privateMessages').mockResolvedValue(page([]))
  vi.spyOn(api, 'conversations').mockResolvedValue({ conversations: [] })
})

afterEach(() => {
  vi.restoreAllMocks()
})

describe('unread in the lobby', () => {
  it('adds the public messages of others after my mark and each partner\'s private ones after theirs', async () => {
    const marks = marksFor('ana')
    marks.markSeen(ROOM, 10)
    marks.markSeen(ROOM, 2, 'bob')
    vi.mocked(api.rooms).mockResolvedValue({ rooms: [summary(13)] })
    vi.mocked(api.messages).mockResolvedValue(
      page([message(11, 'bob', 'x', { room: ROOM }), message(12, 'ana', 'mine', { room: ROOM }), message(13, 'cy', 'y', { room: ROOM })]),
    )
    // bob's conversation goes on past my mark; cy started one while I was away (no mark yet)
    vi.mocked(api.conversations).mockResolvedValue({
      conversations: [
        { user: user('cy'), last_seq: 1 },
        { user: user('bob'), last_seq: 4 },
      ],
    })
    vi.mocked(api.privateMessages).mockImplementation(async (_code, who) =>
      who === 'cy' ? page([dm(1, 'cy', 'ana')]) : page([dm(3, 'ana', 'bob'), dm(4, 'bob', 'ana')]),
    )
    const rooms = useRoomsStore()
    await rooms.load()
    expect(api.messages).toHaveBeenCalledWith(ROOM, { after: 10, limit: 100 })
    expect(api.privateMessages).toHaveBeenCalledWith(ROOM, 'cy', { after: 0, limit: 100 })
    expect(api.privateMessages).toHaveBeenCalledWith(ROOM, 'bob', { after: 2, limit: 100 })
    expect(rooms.unread[ROOM]).toEqual({ count: 4, more: false })
  })

  it('fetches no messages where nothing is past my marks', async () => {
    const marks = marksFor('ana')
    marks.markSeen(ROOM, 7)
    marks.markSeen(ROOM, 3, 'bob')
    vi.mocked(api.rooms).mockResolvedValue({ rooms: [summary(7)] })
    vi.mocked(api.conversations).mockResolvedValue({ conversations: [{ user: user('bob'), last_seq: 3 }] })
    const rooms = useRoomsStore()
    await rooms.load()
    expect(api.messages).not.toHaveBeenCalled()
    expect(api.privateMessages).not.toHaveBeenCalled()
    expect(rooms.unread[ROOM]).toEqual({ count: 0, more: false })
  })

  it('says there may be more when a page stopped short', async () => {
    vi.mocked(api.conversations).mockResolvedValue({ conversations: [{ user: user('bob'), last_seq: 300 }] })
    vi.mocked(api.privateMessages).mockResolvedValue(page([dm(1, 'bob', 'ana')], true))
    const rooms = useRoomsStore()
    await rooms.load()
    expect(rooms.unread[ROOM]).toEqual({ count: 1, more: true })
  })

  it('counts a room again when a private message for it arrives, leaving its public position alone', async () => {
    const rooms = useRoomsStore()
    await rooms.load()
    expect(rooms.unread[ROOM]).toEqual({ count: 0, more: false })
    vi.mocked(api.conversations).mockResolvedValue({ conversations: [{ user: user('bob'), last_seq: 1 }] })
    vi.mocked(api.privateMessages).mockResolvedValue(page([dm(1, 'bob', 'ana')]))
    await rooms.privateMessageElsewhere(dm(1, 'bob', 'ana'))
    expect(rooms.unread[ROOM]).toEqual({ count: 1, more: false })
    expect(rooms.rooms[0]?.last_seq).toBe(0)
    expect(api.messages).not.toHaveBeenCalled()
  })
})
