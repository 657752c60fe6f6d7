// The room I am in: its public messages, who is online and typing, my private conversations
// there, and my messages on their way. Live events merge with fetched history by message id,
// so nothing shows twice; after a reconnect, what was missed is fetched by seq.
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { ApiError, api, fetchAllAfter } from '../api/client'
import type {
  ConversationOut,
  MessageOut,
  PresenceEvent,
  RoomOut,
  SendMessage,
  TypingEvent,
  TypingUpdate,
  UserOut,
} from '../api/types'
import { mergeMessages, newestSeq, oldestSeq, partnerOf, sameUser } from '../lib/messages'
import {
  ACK_TIMEOUT_MS,
  markFailed,
  markSending,
  makePending,
  outcomeOf,
  settle,
  type PendingMessage,
} from '../lib/outbox'
import { applyTyping, stopTyping, type TypingState } from '../lib/typing'
import { fetchUnread } from '../lib/unread'
import { useConnectionStore, type Transport } from './connection'
import { marksFor } from './marks'
import { useSessionStore } from './session'

export const PAGE_SIZE = 50

export interface Conversation {
  partner: UserOut
  messages: MessageOut[]
  hasMore: boolean
  loaded: boolean
  loading: boolean
  error: string | null
  /** Ids of messages from the partner that I have not seen yet. */
  unreadIds: number[]
  /** More unread than counted (the count stopped at one page). */
  moreUnread: boolean
  typing: TypingState
}

export type Phase = 'idle' | 'loading' | 'ready' | 'failed'

let transportOverride: Transport | null = null

/** Tests replace the socket with a fake. */
export function useTransport(transport: Transport | null): void {
  transportOverride = transport
}

function key(username: string): string {
  return username.toLowerCase()
}

/** ``list`` with ``more`` added, each username once (``more``'s copy wins). */
function mergeOnline(list: UserOut[], more: UserOut[]): UserOut[] {
  if (!more.length) return list
  const kept = list.filter((u) => !more.some((m) => sameUser(m.username, u.username)))
  return [...kept, ...more]
}

function placeholder(username: string): UserOut {
  return { username, full_name: username, avatar_url: null }
}

export const useChatStore = defineStore('chat', () => {
  const code = ref<string | null>(null)
  const room = ref<RoomOut | null>(null)
  const phase = ref<Phase>('idle')
  const error = ref<string | null>(null)
  const errorCode = ref<string | null>(null)
  const messages = ref<MessageOut[]>([])
  const hasMore = ref(false)
  const loadingOlder = ref(false)
  const olderError = ref<string | null>(null)
  const pending = ref<PendingMessage[]>([])
  const online = ref<UserOut[]>([]) // the pages of who is online loaded so far
  const onlineCount = ref(0) // how many are online (the server's count)
  const onlineNext = ref<string | null>(null) // where the next page starts; null: all loaded
  const loadingOnline = ref(false)
  const typing = ref<TypingState>({})
  const conversations = ref<Record<string, Conversation>>({})
  const openWith = ref<string | null>(null)
  const visible = ref(true)
  const attempts = new Map<string, number>()
  let generation = 0 // bumps on every enter/leave: late answers for an old room are dropped

  const me = computed(() => useSessionStore().username)
  const transport = (): Transport => transportOverride ?? useConnectionStore().transport
  const marks = () => marksFor(me.value)

  const openConversation = computed(() => (openWith.value ? conversations.value[key(openWith.value)] ?? null : null))
  const publicPending = computed(() => pending.value.filter((p) => p.to === null))

  function reset(): void {
    generation += 1
    code.value = null
    room.value = null
    phase.value = 'idle'
    error.value = null
    errorCode.value = null
    messages.value = []
    hasMore.value = false
    loadingOlder.value = false
    olderError.value = null
    pending.value = []
    online.value = []
    onlineCount.value = 0
    onlineNext.value = null
    loadingOnline.value = false
    typing.value = {}
    conversations.value = {}
    openWith.value = null
    attempts.clear()
  }

  function fail(err: unknown): void {
    phase.value = 'failed'
    error.value = (err as Error).message
    errorCode.value = err instanceof ApiError ? err.code : null
  }

  // ---- entering and leaving --------------------------------------------------------------
  let entering: Promise<void> = Promise.resolve()

  function enter(roomCode: string): Promise<void> {
    if (code.value === roomCode && phase.value !== 'failed') return entering
    if (code.value) leave()
    reset()
    entering = load(roomCode)
    return entering
  }

  async function load(roomCode: string): Promise<void> {
    const gen = generation
    code.value = roomCode
    phase.value = 'loading'
    try {
      room.value = await api.room(roomCode)
      if (gen !== generation) return
      // subscribe first, then fetch: a message sent in between is in the page or arrives live
      await subscribe()
      const page = await api.messages(roomCode, { limit: PAGE_SIZE })
      if (gen !== generation) return
      messages.value = mergeMessages(messages.value, page.messages)
      hasMore.value = page.has_more
      phase.value = 'ready'
      markSeen()
      await countConversations()
    } catch (err) {
      if (gen === generation) fail(err)
    }
  }

  /** Join the room's live channel; answers who is online. Needs the socket. */
  async function subscribe(): Promise<void> {
    if (!code.value) return
    const gen = generation
    const ack = await transport().call('room:enter', { room: code.value })
    if (gen !== generation || ack === null) return // not connected: resume() does it later
    if (!ack.ok) throw new ApiError(0, ack.error.code, ack.error.message)
    room.value = ack.room
    online.value = ack.online
    onlineCount.value = ack.online_count
    onlineNext.value = ack.online_next
  }

  /** The next page of who is online (a large room's ack answers only the first). */
  async function loadMoreOnline(): Promise<void> {
    if (!code.value || onlineNext.value === null || loadingOnline.value) return
    const gen = generation
    loadingOnline.value = true
    try {
      const after = onlineNext.value
      const ack = await transport().call('presence:list', after ? { room: code.value, after } : { room: code.value })
      if (gen !== generation || ack === null) return
      if (!ack.ok) throw new ApiError(0, ack.error.code, ack.error.message)
      online.value = mergeOnline(online.value, ack.users)
      onlineCount.value = ack.count
      onlineNext.value = ack.next
    } finally {
      if (gen === generation) loadingOnline.value = false
    }
  }

  function leave(): void {
    if (code.value && transport().isConnected()) void transport().call('room:exit', { room: code.value })
    reset()
  }

  /** On every (re)connect: enter again, fetch what was missed, send what waited. */
  async function resume(): Promise<void> {
    const roomCode = code.value
    if (!roomCode || phase.value === 'idle') return
    if (phase.value === 'failed') {
      if (errorCode.value === 'network_error') {
        code.value = null
        await enter(roomCode)
      }
      return
    }
    const gen = generation
    try {
      await subscribe()
      await entering // a first load in flight fetched before we were subscribed:
      if (gen !== generation || phase.value !== 'ready') return
      await catchUp() // so fetch what came after it, as after any reconnect
    } catch (err) {
      if (gen === generation) fail(err)
      return
    }
    if (gen !== generation) return
    for (const p of pending.value) if (p.status === 'sending') void deliver(p.client_id)
  }

  async function catchUp(): Promise<void> {
    const roomCode = code.value
    if (!roomCode) return
    const gen = generation
    const page = await fetchAllAfter((p) => api.messages(roomCode, p), newestSeq(messages.value))
    if (gen !== generation) return
    if (page.has_more) {
      // too much was missed to stitch: start again from the newest page
      const fresh = await api.messages(roomCode, { limit: PAGE_SIZE })
      messages.value = mergeMessages([], fresh.messages)
      hasMore.value = true
    } else {
      addPublic(page.messages)
    }
    for (const conv of Object.values(conversations.value)) {
      if (!conv.loaded) continue
      const who = conv.partner.username
      const dms = await fetchAllAfter((p) => api.privateMessages(roomCode, who, p), newestSeq(conv.messages))
      if (gen !== generation) return
      addPrivate(who, dms.messages)
    }
    await countConversations()
  }

  // ---- history -------------------------------------------------------------------------------
  async function loadOlder(): Promise<void> {
    const roomCode = code.value
    const before = oldestSeq(messages.value)
    if (!roomCode || !hasMore.value || loadingOlder.value || before === null) return
    const gen = generation
    loadingOlder.value = true
    try {
      const page = await api.messages(roomCode, { before, limit: PAGE_SIZE })
      if (gen !== generation) return
      messages.value = mergeMessages(messages.value, page.messages)
      hasMore.value = page.has_more
      olderError.value = null
    } catch (err) {
      if (gen === generation) olderError.value = (err as Error).message
    } finally {
      if (gen === generation) loadingOlder.value = false
    }
  }

  function conversation(user: UserOut | string): Conversation {
    const partner = typeof user === 'string' ? placeholder(user) : user
    const k = key(partner.username)
    let conv = conversations.value[k]
    if (!conv) {
      conversations.value[k] = {
        partner,
        messages: [],
        hasMore: false,
        loaded: false,
        loading: false,
        error: null,
        unreadIds: [],
        moreUnread: false,
        typing: {},
      }
      conv = conversations.value[k] as Conversation
    } else if (typeof user !== 'string') {
      conv.partner = user
    }
    return conv
  }

  /** Show the private conversation with ``username`` (loading its newest page once). */
  async function openPrivate(username: string): Promise<void> {
    const roomCode = code.value
    if (!roomCode || sameUser(username, me.value)) return
    const known = online.value.find((u) => sameUser(u.username, username))
    const conv = conversation(known ?? conversations.value[key(username)]?.partner ?? username)
    openWith.value = conv.partner.username
    conv.unreadIds = []
    conv.moreUnread = false
    if (!conv.loaded) await loadPrivate(conv, undefined)
    markSeen()
  }

  function closePrivate(): void {
    openWith.value = null
  }

  async function loadOlderPrivate(): Promise<void> {
    const conv = openConversation.value
    if (!conv || !conv.hasMore || conv.loading) return
    await loadPrivate(conv, oldestSeq(conv.messages) ?? undefined)
  }

  async function loadPrivate(conv: Conversation, before: number | undefined): Promise<void> {
    const roomCode = code.value
    if (!roomCode) return
    const gen = generation
    conv.loading = true
    try {
      const page = await api.privateMessages(roomCode, conv.partner.username, { before, limit: PAGE_SIZE })
      if (gen !== generation) return
      conv.messages = mergeMessages(conv.messages, page.messages)
      const theirs = page.messages.find((m) => sameUser(m.sender.username, conv.partner.username))
      if (theirs && conv.partner.full_name === conv.partner.username) conv.partner = theirs.sender
      conv.hasMore = page.has_more
      conv.loaded = true
      conv.error = null
    } catch (err) {
      if (gen === generation) conv.error = (err as Error).message
    } finally {
      conv.loading = false
    }
  }

  /**
   * My private conversations here, from the server (including ones others started while I was
   * away), each listed in the panel; a badge counts the partner's messages past my mark, fetched
   * only where the conversation's newest position is past it.
   */
  async function countConversations(): Promise<void> {
    const roomCode = code.value
    if (!roomCode) return
    const gen = generation
    const isOpen = (who: string) => openWith.value !== null && sameUser(openWith.value, who)
    let listed: ConversationOut[]
    try {
      listed = (await api.conversations(roomCode)).conversations
    } catch {
      return // a badge is a hint; the conversation itself shows what is there
    }
    if (gen !== generation) return
    for (const c of listed) conversation(c.user)
    await Promise.all(
      listed.map(async ({ user, last_seq }) => {
        const who = user.username
        if (isOpen(who)) return
        try {
          const found = await fetchUnread(last_seq, marks().seen(roomCode, who), me.value, (after) =>
            api.privateMessages(roomCode, who, { after, limit: 100 }),
          )
          // opened (or seen live) while this was in flight: what is seen now is not unread
          if (gen !== generation || isOpen(who)) return
          const seen = marks().seen(roomCode, who)
          const conv = conversation(who)
          const ids = found.messages.filter((x) => x.seq > seen).map((x) => x.id)
          conv.unreadIds = [...new Set([...conv.unreadIds, ...ids])]
          conv.moreUnread = found.more
        } catch {
          // as above
        }
      }),
    )
  }

  // ---- live events -------------------------------------------------------------------------
  function addPublic(incoming: MessageOut[]): void {
    if (incoming.length === 0) return
    messages.value = mergeMessages(messages.value, incoming)
    pending.value = settle(pending.value, incoming, me.value)
    for (const m of incoming) typing.value = stopTyping(typing.value, m.sender.username)
    markSeen()
  }

  function addPrivate(partnerName: string, incoming: MessageOut[]): void {
    if (incoming.length === 0) return
    const first = incoming.find((m) => sameUser(m.sender.username, partnerName))
    const conv = conversation(first ? first.sender : conversations.value[key(partnerName)]?.partner ?? partnerName)
    const known = new Set(conv.messages.map((m) => m.id))
    conv.messages = mergeMessages(conv.messages, incoming)
    pending.value = settle(pending.value, incoming, me.value)
    const looking = visible.value && openWith.value !== null && sameUser(openWith.value, partnerName)
    for (const m of incoming) {
      if (!sameUser(m.sender.username, partnerName)) continue
      conv.typing = stopTyping(conv.typing, m.sender.username)
      if (!looking && !known.has(m.id) && !conv.unreadIds.includes(m.id)) conv.unreadIds.push(m.id)
    }
    markSeen()
  }

  /** A ``message`` event; false when it belongs to another room. */
  function receive(message: MessageOut): boolean {
    if (message.room !== code.value) return false
    const partner = partnerOf(message, me.value)
    if (partner === null) addPublic([message])
    else addPrivate(partner, [message])
    return true
  }

  function receiveTyping(event: TypingEvent): void {
    if (event.room !== code.value || sameUser(event.user.username, me.value)) return
    if (event.to === null) typing.value = applyTyping(typing.value, event, Date.now())
    else {
      const conv = conversation(event.user)
      conv.typing = applyTyping(conv.typing, event, Date.now())
    }
  }

  /** A batch of who came online and who went offline since the last one. */
  function receivePresence(event: PresenceEvent): void {
    if (event.room !== code.value) return
    const gone = (u: UserOut) => event.offline.some((name) => sameUser(name, u.username))
    online.value = mergeOnline(online.value.filter((u) => !gone(u)), event.online)
    for (const name of event.offline) typing.value = stopTyping(typing.value, name)
    onlineCount.value = event.count
    // more came than the event names: the list has gaps, paging from the start fills them
    if (onlineNext.value === null && online.value.length < event.count) onlineNext.value = ''
  }

  function receiveUser(user: UserOut): void {
    const same = (u: UserOut) => sameUser(u.username, user.username)
    online.value = online.value.map((u) => (same(u) ? user : u))
    const patch = (list: MessageOut[]) => (list.some((m) => same(m.sender)) ? list.map((m) => (same(m.sender) ? { ...m, sender: user } : m)) : list)
    messages.value = patch(messages.value)
    const conv = conversations.value[key(user.username)]
    if (conv) conv.partner = user
    for (const c of Object.values(conversations.value)) c.messages = patch(c.messages)
  }

  /** ``room:updated``: the open room's details changed (a new owner after the old one's account
   * was deleted). */
  function receiveRoom(next: RoomOut): void {
    if (room.value && code.value === next.code) room.value = { ...next }
  }

  // ---- sending ---------------------------------------------------------------------------
  /** Show the message at once and send it; it is confirmed, or marked failed with a retry. */
  async function send(body: string, to: string | null = null): Promise<void> {
    if (!code.value) return
    const item = makePending(code.value, body.trim(), to)
    pending.value = [...pending.value, item]
    await deliver(item.client_id)
  }

  async function deliver(clientId: string): Promise<void> {
    const item = pending.value.find((p) => p.client_id === clientId)
    if (!item || !transport().isConnected()) return // waits for the connection; resume() sends it
    const attempt = (attempts.get(clientId) ?? 0) + 1
    attempts.set(clientId, attempt)
    const gen = generation
    const payload: SendMessage = { room: item.room, body: item.body, client_id: item.client_id }
    if (item.to) payload.to = item.to
    const ack = await transport().call('message:send', payload, ACK_TIMEOUT_MS)
    if (gen !== generation) return
    const outcome = outcomeOf(ack)
    if (outcome.kind === 'sent') {
      receive(outcome.message)
      pending.value = settle(pending.value, [outcome.message], me.value)
    } else if (attempts.get(clientId) === attempt) {
      pending.value = markFailed(pending.value, clientId, outcome.error)
    }
  }

  async function retry(clientId: string): Promise<void> {
    pending.value = markSending(pending.value, clientId)
    await deliver(clientId)
  }

  function discard(clientId: string): void {
    pending.value = pending.value.filter((p) => p.client_id !== clientId)
  }

  function sendTyping(active: boolean, to: string | null = null): void {
    if (!code.value || !transport().isConnected()) return
    const payload: TypingUpdate = { room: code.value, active }
    if (to) payload.to = to
    void transport().call('typing', payload, 5000)
  }

  // ---- seen-marks -----------------------------------------------------------------------
  function setVisible(value: boolean): void {
    visible.value = value
    if (value) {
      const conv = openConversation.value
      if (conv) conv.unreadIds = []
      markSeen()
    }
  }

  function markSeen(): void {
    if (!code.value || !visible.value) return
    const m = marks()
    m.markSeen(code.value, newestSeq(messages.value))
    const conv = openConversation.value
    if (conv) {
      m.markSeen(code.value, newestSeq(conv.messages), conv.partner.username)
      conv.unreadIds = []
    }
  }

  function unreadOf(username: string): number {
    const conv = conversations.value[key(username)]
    return conv ? conv.unreadIds.length : 0
  }

  return {
    code,
    room,
    phase,
    error,
    errorCode,
    messages,
    hasMore,
    loadingOlder,
    olderError,
    pending,
    publicPending,
    online,
    onlineCount,
    onlineNext,
    loadingOnline,
    loadMoreOnline,
    typing,
    conversations,
    openWith,
    openConversation,
    visible,
    enter,
    leave,
    resume,
    catchUp,
    loadOlder,
    openPrivate,
    closePrivate,
    loadOlderPrivate,
    countConversations,
    receive,
    receiveTyping,
    receivePresence,
    receiveUser,
    receiveRoom,
    send,
    retry,
    discard,
    sendTyping,
    setVisible,
    markSeen,
    unreadOf,
    reset,
  }
})

