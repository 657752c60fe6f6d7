// My rooms, their unread counts, and the notice when one of them is destroyed.
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api } from '../api/client'
import type { MessageOut, RoomOut, RoomSummary } from '../api/types'
import { fetchUnread } from '../lib/unread'
import { marksFor } from './marks'
import { useSessionStore } from './session'

export interface Unread {
  count: number
  more: boolean
}

const COUNT_LIMIT = 100

export const useRoomsStore = defineStore('rooms', () => {
  const rooms = ref<RoomSummary[]>([])
  const loaded = ref(false)
  const loading = ref(false)
  const error = ref<string | null>(null)
  const unread = ref<Record<string, Unread>>({})
  const notice = ref<string | null>(null)

  function me(): string {
    return useSessionStore().username
  }

  async function load(): Promise<void> {
    loading.value = true
    try {
      rooms.value = (await api.rooms()).rooms
      error.value = null
      loaded.value = true
    } catch (err) {
      error.value = (err as Error).message
    } finally {
      loading.value = false
    }
    await Promise.all(rooms.value.map((r) => countRoom(r)))
  }

  /**
   * Unread since my last look: the room's public messages after my mark, plus, for each of my
   * private conversations there (the server lists them, including ones others started while I
   * was away), the partner's messages after my mark for that partner. Only a conversation
   * whose newest position is past my mark is fetched.
   */
  async function countRoom(room: RoomSummary): Promise<void> {
    const marks = marksFor(me())
    const code = room.code
    const page = (after: number) => ({ after, limit: COUNT_LIMIT })
    try {
      const [publicPart, conversations] = await Promise.all([
        fetchUnread(room.last_seq, marks.seen(code), me(), (after) => api.messages(code, page(after))),
        api.conversations(code),
      ])
      const privateParts = await Promise.all(
        conversations.conversations.map(({ user, last_seq }) =>
          fetchUnread(last_seq, marks.seen(code, user.username), me(), (after) =>
            api.privateMessages(code, user.username, page(after)),
          ),
        ),
      )
      const parts = [publicPart, ...privateParts]
      unread.value = {
        ...unread.value,
        [code]: {
          count: parts.reduce((n, p) => n + p.messages.length, 0),
          more: parts.some((p) => p.more),
        },
      }
    } catch {
      // a count is a hint; the room itself will show what is there
    }
  }

  /** A private message for me in a room I am not looking at: count that room again. */
  async function privateMessageElsewhere(message: MessageOut): Promise<void> {
    const room = rooms.value.find((r) => r.code === message.room)
    if (room) await countRoom(room)
  }

  function clearUnread(code: string): void {
    if (unread.value[code]) unread.value = { ...unread.value, [code]: { count: 0, more: false } }
  }

  function remember(room: RoomOut): void {
    if (!rooms.value.some((r) => r.code === room.code)) {
      rooms.value = [...rooms.value, { ...room, last_seq: 0 }]
    }
  }

  async function create(name: string): Promise<RoomOut> {
    const room = await api.createRoom(name.trim())
    remember(room)
    return room
  }

  async function join(code: string): Promise<RoomOut> {
    const room = await api.joinRoom(code)
    remember(room)
    return room
  }

  function forget(code: string): void {
    rooms.value = rooms.value.filter((r) => r.code !== code)
    const next = { ...unread.value }
    delete next[code]
    unread.value = next
  }

  async function destroy(code: string): Promise<void> {
    await api.destroyRoom(code)
    forget(code)
  }

  async function leave(code: string): Promise<void> {
    await api.leaveRoom(code)
    forget(code)
  }

  /** ``room:destroyed``: drop the room; ``tell`` shows the notice in the lobby. */
  function destroyed(code: string, name: string, tell: boolean): void {
    forget(code)
    if (tell) notice.value = `This room was destroyed by its owner: “${name}”.`
  }

  /** ``room:updated``: a room of mine has a new owner (or name); its counts stay. */
  function updated(room: RoomOut): void {
    rooms.value = rooms.value.map((r) => (r.code === room.code ? { ...r, name: room.name, owner: room.owner } : r))
  }

  function knows(code: string): boolean {
    return rooms.value.some((r) => r.code === code)
  }

  function reset(): void {
    rooms.value = []
    unread.value = {}
    loaded.value = false
    notice.value = null
    error.value = null
  }

  return {
    rooms,
    loaded,
    loading,
    error,
    unread,
    notice,
    load,
    countRoom,
    privateMessageElsewhere,
    clearUnread,
    create,
    join,
    destroy,
    leave,
    destroyed,
    updated,
    knows,
    forget,
    reset,
  }
})

