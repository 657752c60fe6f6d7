// Server events -> stores. Started once the session is known, stopped at log-out.
import type { Router } from 'vue-router'
import { useChatStore } from './stores/chat'
import { useConnectionStore } from './stores/connection'
import { useRoomsStore } from './stores/rooms'
import { useSessionStore } from './stores/session'

let wired = false

export function startRealtime(router: Router): void {
  const connection = useConnectionStore()
  const session = useSessionStore()
  const chat = useChatStore()
  const rooms = useRoomsStore()

  if (!wired) {
    wired = true
    connection.on('message', (message) => {
      if (!chat.receive(message) && message.to !== null) void rooms.privateMessageElsewhere(message)
    })
    connection.on('typing', (event) => chat.receiveTyping(event))
    connection.on('presence', (event) => chat.receivePresence(event))
    connection.on('user:updated', ({ user }) => {
      session.setUser(user)
      chat.receiveUser(user)
    })
    connection.on('room:destroyed', ({ room, name }) => {
      const here = chat.code === room
      const byMe = here && chat.room?.owner === session.username
      rooms.destroyed(room, name, !byMe && (here || rooms.knows(room)))
      if (here) {
        chat.reset()
        void router.push({ name: 'lobby' })
      }
    })
    connection.on('room:updated', ({ room }) => {
      rooms.updated(room)
      chat.receiveRoom(room)
    })
    connection.on('room:left', ({ room }) => {
      rooms.forget(room)
      if (chat.code === room) {
        chat.reset()
        void router.push({ name: 'lobby' })
      }
    })
    const catchUp = (again: boolean) => {
      void chat.resume()
      if (again && router.currentRoute.value.name === 'lobby') void rooms.load()
    }
    connection.onConnected(catchUp)
    // the server lost some live events (its fan-out was away): fetch them as after a reconnect
    connection.on('resync', () => catchUp(true))
  }

  connection.connect({
    refused: (code) => {
      if (code === 'not_authenticated') void endIfLoggedOut(router)
      else connection.retry(3000)
    },
    kicked: () => void endIfLoggedOut(router),
  })
}

async function endIfLoggedOut(router: Router): Promise<void> {
  const session = useSessionStore()
  const connection = useConnectionStore()
  if (await session.check()) {
    connection.retry(1000)
    return
  }
  stopRealtime()
  const here = router.currentRoute.value
  // a page open without a login (the log-in form itself, a password reset) stays
  if (here.meta.guest !== true) await router.push({ name: 'login', query: { next: here.fullPath } })
}

export function stopRealtime(): void {
  useConnectionStore().disconnect()
  useChatStore().reset()
  useRoomsStore().reset()
}
