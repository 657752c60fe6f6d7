import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { api } from '../src/api/client'
import type { AckOf, ClientEventName, MessageOut, MessagePage, RequestOf } from '../src/api/types'
import { MemoryStorage } from '../src/lib/unread'
import { useChatStore, useTransport } from '../src/stores/chat'
import type { Transport } from '../src/stores/connection'
import { marksFor, useStorage } from '../src/stores/marks'
import { useSessionStore } from '../src/stores/session'
import { message, user } from './factories'

const ROOM = 'room-1'

/** A socket stand-in: records calls, answers them as a test says. */
class FakeTransport implements Transport {
  connected = true
  calls: { event: string; payload: Record<string, unknown> }[] = []
  answer: (event: string, payload: Record<string, unknown>) => unknown = (event, payload) => {
    if (event === 'room:enter')
      return { ok: true, room: roomOut(), online: [user('ana'), user('bob')], online_count: 2, online_next: null, last_seq: 0 }
    if (event === 'message:send') return { ok: true, duplicate: false, message: this.stored(payload) }
    return { ok: true }
  }
  nextSeq = 100

  stored(payload: Record<string, unknown>): MessageOut {
    return message(this.nextSeq++, 'ana', String(payload.body), {
      client_id: String(payload.client_id),
      to: (payload.to as string | undefined) ?? null,
    })
  }
  isConnected(): boolean {
    return this.connected
  }
  async call<E extends ClientEventName>(event: E, payload: RequestOf<E>): Promise<AckOf<E> | null> {
    if (!this.connected) return null
    this.calls.push({ event, payload })
    return this.answer(event, payload) as AckOf<E> | null
  }
  sent(): Record<string, unknown>[] {
    return this.calls.filter((c) => c.event === 'message:send').map((c) => c.payload)
  }
}

function roomOut() {
  return { code: ROOM, name: 'Book club', owner: 'ana', created_at: '2025-01-01T00:00:00Z' }
}

function page(messages: MessageOut[], hasMore = false): MessagePage {
  return { messages, has_more: hasMore }
}

let transport: FakeTransport

beforeEach(() => {
  setActivePinia(createPinia())
  useStorage(new MemoryStorage())
  transport = new FakeTransport()
  useTransport(transport)
  const session = useSessionStore()
  session.user = user('ana', 'Ana Lima')
  session.status = 'authenticated'
  vi.spyOn(api, 'room').mockResolvedValue(roomOut())
  vi.spyOn(api, 'messages').mockResolvedValue(page([]))
  vi.spyOn(api, 'privateMessages').mockResolvedValue(page([]))
  vi.spyOn(api, 'conversations').mockResolvedValue({ conversations: [] })
})

afterEach(() => {
  vi.restoreAllMocks()
  useTransport(null)
})

describe('entering a room', () => {
  it('subscribes, then loads the newest page, and knows who is online', async () => {
    vi.mocked(api.messages).mockResolvedValue(page([message(2, 'bob', 'b'), message(1, 'bob', 'a')], true))
    const chat = useChatStore()
    await chat.enter(ROOM)
    expect(transport.calls[0]?.event).toBe('room:enter')
    expect(chat.phase).toBe('ready')
    expect(chat.messages.map((m) => m.body)).toEqual(['a', 'b'])
    expect(chat.hasMore).toBe(true)
    expect(chat.online.map((u) => u.username)).toEqual(['ana', 'bob'])
    expect(marksFor('ana').seen(ROOM)).toBe(2)
  })

  it('says why it cannot, in words', async () => {
    const { ApiError } = await import('../src/api/client')
    vi.mocked(api.room).mockRejectedValue(new ApiError(403, 'not_member', 'Join it first.'))
    const chat = useChatStore()
    await chat.enter(ROOM)
    expect(chat.phase).toBe('failed')
    expect(chat.error).toBe('Join it first.')
    expect(chat.errorCode).toBe('not_member')
  })
})

describe('live messages', () => {
  it('shows a message once, whether it comes live, in history or both', async () => {
    const chat = useChatStore()
    await chat.enter(ROOM)
    const m = message(5, 'bob', 'hello', { room: ROOM })
    chat.receive(m)
    chat.receive(m)
    vi.mocked(api.messages).mockResolvedValue(page([m]))
    await chat.catchUp()
    expect(chat.messages.filter((x) => x.id === m.id)).toHaveLength(1)
  })

  it('ignores events of other rooms', async () => {
    const chat = useChatStore()
    await chat.enter(ROOM)
    expect(chat.receive(message(5, 'bob', 'x', { room: 'other' }))).toBe(false)
    expect(chat.messages).toHaveLength(0)
  })

  it('loads older history before the oldest message it has', async () => {
    vi.mocked(api.messages).mockResolvedValue(page([message(10, 'bob')], true))
    const chat = useChatStore()
    await chat.enter(ROOM)
    vi.mocked(api.messages).mockResolvedValue(page([message(9, 'bob'), message(8, 'bob')], false))
    await chat.loadOlder()
    expect(api.messages).toHaveBeenLastCalledWith(ROOM, { before: 10, limit: 50 })
    expect(chat.messages.map((m) => m.seq)).toEqual([8, 9, 10])
    expect(chat.hasMore).toBe(false)
  })
})

describe('optimistic sending', () => {
  it('shows the message at once and replaces it with the stored one on the ack', async () => {
    const chat = useChatStore()
    await chat.enter(ROOM)
    let release: (v: unknown) => void = () => {}
    const answer = transport.answer
    transport.answer = (event, payload) =>
      event === 'message:send' ? new Promise((r) => (release = () => r(answer(event, payload)))) : answer(event, payload)
    const sending = chat.send('  hello  ')
    expect(chat.pending).toMatchObject([{ body: 'hello', status: 'sending' }])
    release(null)
    await sending
    expect(chat.pending).toEqual([])
    expect(chat.messages.map((m) => m.body)).toEqual(['hello'])
  })

  it('does not double a message whose echo arrives before the ack', async () => {
    const chat = useChatStore()
    await chat.enter(ROOM)
    const answer = transport.answer
    transport.answer = (event, payload) => {
      const ack = answer(event, payload) as { message: MessageOut }
      if (event === 'message:send') chat.receive(ack.message)
      return ack
    }
    await chat.send('hi')
    expect(chat.messages).toHaveLength(1)
    expect(chat.pending).toHaveLength(0)
  })

  it('marks a refused or unanswered message failed, and a retry reuses its client id', async () => {
    const chat = useChatStore()
    await chat.enter(ROOM)
    const answer = transport.answer
    transport.answer = (event, payload) =>
      event === 'message:send' ? { ok: false, error: { code: 'rate_limited', message: 'Slow down.' } } : answer(event, payload)
    await chat.send('hi')
    expect(chat.pending).toMatchObject([{ status: 'failed', error: 'Slow down.' }])
    transport.answer = (event, payload) => (event === 'message:send' ? null : answer(event, payload))
    await chat.retry(chat.pending[0]!.client_id)
    expect(chat.pending).toMatchObject([{ status: 'failed', error: 'No answer from the server.' }])
    transport.answer = answer
    await chat.retry(chat.pending[0]!.client_id)
    expect(chat.pending).toEqual([])
    const ids = transport.sent().map((p) => p.client_id)
    expect(new Set(ids).size).toBe(1)
    expect(chat.messages.map((m) => m.body)).toEqual(['hi'])
  })

  it('keeps a message written while offline and sends it after the reconnect, once', async () => {
    const chat = useChatStore()
    await chat.enter(ROOM)
    transport.connected = false
    await chat.send('written offline')
    expect(chat.pending).toMatchObject([{ status: 'sending' }])
    expect(transport.sent()).toHaveLength(0)
    transport.connected = true
    await chat.resume()
    await vi.waitFor(() => expect(chat.pending).toEqual([]))
    expect(transport.sent()).toHaveLength(1)
    expect(chat.messages.map((m) => m.body)).toEqual(['written offline'])
  })

  it('settles a message the server stored although its ack was lost (seen in the catch-up)', async () => {
    const chat = useChatStore()
    await chat.enter(ROOM)
    transport.connected = false
    await chat.send('maybe lost')
    const stored = message(7, 'ana', 'maybe lost', { room: ROOM, client_id: chat.pending[0]!.client_id })
    vi.mocked(api.messages).mockResolvedValue(page([stored]))
    transport.connected = true
    await chat.resume()
    expect(chat.pending).toEqual([])
    expect(transport.sent()).toHaveLength(0)
    expect(chat.messages).toEqual([stored])
  })
})

describe('reconnecting', () => {
  it('enters again and fetches after the newest message it had, for the room and open conversations', async () => {
    vi.mocked(api.messages).mockResolvedValue(page([message(3, 'bob', 'x', { room: ROOM })]))
    const chat = useChatStore()
    await chat.enter(ROOM)
    vi.mocked(api.privateMessages).mockResolvedValue(page([message(4, 'bob', 'dm', { room: ROOM, to: 'ana' })]))
    await chat.openPrivate('bob')
    transport.calls = []
    vi.mocked(api.messages).mockResolvedValue(page([message(6, 'cy', 'missed', { room: ROOM })]))
    vi.mocked(api.privateMessages).mockResolvedValue(page([message(5, 'bob', 'missed dm', { room: ROOM, to: 'ana' })]))
    await chat.resume()
    expect(transport.calls.map((c) => c.event)).toEqual(['room:enter'])
    expect(api.messages).toHaveBeenLastCalledWith(ROOM, { after: 3, limit: 200 })
    expect(api.privateMessages).toHaveBeenCalledWith(ROOM, 'bob', { after: 4, limit: 200 })
    expect(chat.messages.map((m) => m.body)).toEqual(['x', 'missed'])
    expect(chat.openConversation?.messages.map((m) => m.body)).toEqual(['dm', 'missed dm'])
  })
})

describe('private conversations', () => {
  it('counts unread from a person while I look elsewhere, and clears them when I open it', async () => {
    const chat = useChatStore()
    await chat.enter(ROOM)
    const dm = message(8, 'bob', 'psst', { room: ROOM, to: 'ana' })
    chat.receive(dm)
    chat.receive(dm)
    expect(chat.unreadOf('bob')).toBe(1)
    expect(chat.messages).toHaveLength(0)
    vi.mocked(api.privateMessages).mockResolvedValue(page([dm]))
    await chat.openPrivate('bob')
    expect(chat.unreadOf('bob')).toBe(0)
    expect(chat.openConversation?.messages).toHaveLength(1)
    expect(marksFor('ana').seen(ROOM, 'bob')).toBe(8)
    chat.receive(message(9, 'bob', 'more', { room: ROOM, to: 'ana' }))
    expect(chat.unreadOf('bob')).toBe(0)
  })

  it('counts unread left from before, from my seen-mark for that partner', async () => {
    marksFor('ana').markSeen(ROOM, 4, 'bob')
    vi.mocked(api.conversations).mockResolvedValue({ conversations: [{ user: user('bob', 'Bo Berg'), last_seq: 6 }] })
    vi.mocked(api.privateMessages).mockResolvedValue(
      page([message(5, 'bob', 'a', { room: ROOM, to: 'ana' }), message(6, 'ana', 'b', { room: ROOM, to: 'bob' })]),
    )
    const chat = useChatStore()
    await chat.enter(ROOM)
    expect(api.privateMessages).toHaveBeenCalledWith(ROOM, 'bob', { after: 4, limit: 100 })
    expect(chat.unreadOf('bob')).toBe(1)
  })

  it('lists a conversation someone started while I was away, offline or not, with its unread', async () => {
    vi.mocked(api.conversations).mockResolvedValue({
      conversations: [
        { user: user('cy', 'Cy Diaz'), last_seq: 2 },
        { user: user('bob', 'Bo Berg'), last_seq: 3 },
      ],
    })
    marksFor('ana').markSeen(ROOM, 3, 'bob') // seen all of it: nothing to fetch
    vi.mocked(api.privateMessages).mockImplementation(async (_code, who) =>
      page(who === 'cy' ? [message(1, 'cy', 'hi', { room: ROOM, to: 'ana' }), message(2, 'cy', 'there', { room: ROOM, to: 'ana' })] : []),
    )
    const chat = useChatStore()
    await chat.enter(ROOM)
    expect(api.privateMessages).toHaveBeenCalledTimes(1)
    expect(api.privateMessages).toHaveBeenCalledWith(ROOM, 'cy', { after: 0, limit: 100 })
    expect(chat.unreadOf('cy')).toBe(2)
    expect(chat.unreadOf('bob')).toBe(0)
    // both are in the panel, with their names from the server (cy is not online)
    expect(Object.values(chat.conversations).map((c) => c.partner.full_name).sort()).toEqual(['Bo Berg', 'Cy Diaz'])
  })

  it('does not count a conversation I open while its count is on the way', async () => {
    vi.mocked(api.conversations).mockResolvedValue({ conversations: [{ user: user('bob'), last_seq: 1 }] })
    const dm = message(1, 'bob', 'psst', { room: ROOM, to: 'ana' })
    let release: () => void = () => {}
    vi.mocked(api.privateMessages).mockImplementationOnce(
      () => new Promise((resolve) => (release = () => resolve(page([dm])))),
    )
    const chat = useChatStore()
    const entering = chat.enter(ROOM)
    await vi.waitFor(() => expect(api.privateMessages).toHaveBeenCalledTimes(1))
    vi.mocked(api.privateMessages).mockResolvedValue(page([dm]))
    await chat.openPrivate('bob')
    release()
    await entering
    expect(chat.unreadOf('bob')).toBe(0)
  })

  it('finds conversations started while the socket was down after a reconnect', async () => {
    const chat = useChatStore()
    await chat.enter(ROOM)
    expect(chat.unreadOf('bob')).toBe(0)
    vi.mocked(api.conversations).mockResolvedValue({ conversations: [{ user: user('bob'), last_seq: 1 }] })
    vi.mocked(api.privateMessages).mockResolvedValue(page([message(1, 'bob', 'while you were out', { room: ROOM, to: 'ana' })]))
    await chat.resume()
    expect(chat.unreadOf('bob')).toBe(1)
  })

  it('sends privately with the recipient and keeps it out of the public list', async () => {
    const chat = useChatStore()
    await chat.enter(ROOM)
    await chat.openPrivate('bob')
    await chat.send('for you only', 'bob')
    expect(transport.sent()[0]).toMatchObject({ to: 'bob', body: 'for you only' })
    expect(chat.messages).toHaveLength(0)
    expect(chat.openConversation?.messages.map((m) => m.body)).toEqual(['for you only'])
  })

  it('shows typing per conversation, apart from the room', async () => {
    const chat = useChatStore()
    await chat.enter(ROOM)
    chat.receiveTyping({ room: ROOM, user: user('bob'), to: 'ana', active: true, expires_in: 6 })
    expect(Object.keys(chat.typing)).toEqual([])
    expect(Object.keys(chat.conversations.bob!.typing)).toEqual(['bob'])
  })
})

describe('presence and profiles', () => {
  it('lists a person once however many tabs they open, and drops them when they leave', async () => {
    const chat = useChatStore()
    await chat.enter(ROOM)
    chat.receivePresence({ room: ROOM, online: [user('cy')], offline: [], count: 3 })
    chat.receivePresence({ room: ROOM, online: [user('cy')], offline: [], count: 3 })
    expect(chat.online.map((u) => u.username).sort()).toEqual(['ana', 'bob', 'cy'])
    chat.receivePresence({ room: ROOM, online: [user('dee')], offline: ['Bob', 'cy'], count: 2 })
    expect(chat.online.map((u) => u.username).sort()).toEqual(['ana', 'dee'])
    expect(chat.onlineCount).toBe(2)
    expect(chat.onlineNext).toBeNull()
  })

  it('loads a large room\'s online list page by page', async () => {
    const transport = new FakeTransport()
    const pages: Record<string, { users: string[]; next: string | null }> = {
      '': { users: ['cy', 'dee'], next: 'dee' },
      dee: { users: ['eve'], next: null },
    }
    transport.answer = (event, payload) => {
      if (event === 'room:enter')
        return { ok: true, room: roomOut(), online: [user('ana'), user('bob')], online_count: 5, online_next: 'bob', last_seq: 0 }
      if (event === 'presence:list') {
        const p = pages[payload.after === 'bob' ? '' : String(payload.after)]!
        return { ok: true, users: p.users.map((u) => user(u)), count: 5, next: p.next }
      }
      return { ok: true }
    }
    useTransport(transport)
    const chat = useChatStore()
    await chat.enter(ROOM)
    expect(chat.onlineCount).toBe(5)
    await chat.loadMoreOnline()
    await chat.loadMoreOnline()
    expect(chat.online.map((u) => u.username)).toEqual(['ana', 'bob', 'cy', 'dee', 'eve'])
    expect(chat.onlineNext).toBeNull()
    expect(transport.calls.filter((c) => c.event === 'presence:list').map((c) => c.payload.after)).toEqual(['bob', 'dee'])
    // more came than a batch names: the list has gaps, and can be paged again
    chat.receivePresence({ room: ROOM, online: [user('fay')], offline: [], count: 7 })
    expect(chat.onlineNext).toBe('')
  })

  it('updates names and avatars everywhere when someone edits their profile', async () => {
    vi.mocked(api.messages).mockResolvedValue(page([message(1, 'bob', 'x', { room: ROOM })]))
    const chat = useChatStore()
    await chat.enter(ROOM)
    const edited = { username: 'bob', full_name: 'Bo Berg', avatar_url: '/media/avatars/a.webp' }
    chat.receiveUser(edited)
    expect(chat.messages[0]?.sender).toEqual(edited)
    expect(chat.online.find((u) => u.username === 'bob')).toEqual(edited)
  })
})
