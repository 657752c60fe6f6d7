// The socket's state for the page ("Reconnecting…") and calls with acks that time out.
import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { Socket } from 'socket.io-client'
import type { AckOf, ClientEventName, RequestOf, ServerEventName, ServerEvents } from '../api/types'
import { getSocket } from '../socket'

export type ConnectionStatus = 'offline' | 'connecting' | 'connected' | 'reconnecting'

/** What the chat store needs from the connection; tests give it a fake. Events, payloads
 * and acks are typed by the server's catalog (ClientEvents, ServerEvents in api/types). */
export interface Transport {
  isConnected(): boolean
  /** The ack, or null when none came within ``timeoutMs`` (or the socket is down). */
  call<E extends ClientEventName>(event: E, payload: RequestOf<E>, timeoutMs?: number): Promise<AckOf<E> | null>
}

type Listener = (reconnected: boolean) => void

export const useConnectionStore = defineStore('connection', () => {
  const status = ref<ConnectionStatus>('offline')
  const everConnected = ref(false)
  const refusal = ref<string | null>(null)
  const listeners = new Set<Listener>()
  let socket: Socket | null = null
  let wired = false
  let retryTimer: ReturnType<typeof setTimeout> | null = null
  let onRefused: ((code: string) => void) | null = null
  let onKicked: (() => void) | null = null

  function wire(s: Socket): void {
    if (wired) return
    wired = true
    s.on('connect', () => {
      const again = everConnected.value
      status.value = 'connected'
      everConnected.value = true
      refusal.value = null
      for (const listener of listeners) listener(again)
    })
    s.on('disconnect', (reason) => {
      if (status.value === 'offline') return
      status.value = 'reconnecting'
      // The server closed this socket on purpose (log-out elsewhere, session ended): the
      // client does not retry by itself; the page checks the session and then decides.
      if (reason === 'io server disconnect') onKicked?.()
    })
    s.on('connect_error', (err: Error & { data?: { code?: string; message?: string } }) => {
      if (status.value === 'offline') return
      if (!s.active) {
        // refused by the server (not a network error): say why and do not loop
        const code = err.data?.code ?? err.message
        refusal.value = err.data?.message ?? err.message
        status.value = 'reconnecting'
        onRefused?.(code)
      } else {
        status.value = everConnected.value ? 'reconnecting' : 'connecting'
      }
    })
  }

  function connect(handlers: { refused: (code: string) => void; kicked: () => void }): void {
    onRefused = handlers.refused
    onKicked = handlers.kicked
    socket = getSocket()
    wire(socket)
    if (socket.connected || socket.active) return
    status.value = everConnected.value ? 'reconnecting' : 'connecting'
    socket.connect()
  }

  /** Try again after a refusal or a kick, in ``delayMs``. */
  function retry(delayMs = 1000): void {
    if (retryTimer !== null) clearTimeout(retryTimer)
    retryTimer = setTimeout(() => {
      retryTimer = null
      if (socket && status.value !== 'offline' && !socket.connected) socket.connect()
    }, delayMs)
  }

  function disconnect(): void {
    status.value = 'offline'
    everConnected.value = false
    if (retryTimer !== null) clearTimeout(retryTimer)
    socket?.disconnect()
  }

  function onConnected(listener: Listener): () => void {
    listeners.add(listener)
    return () => listeners.delete(listener)
  }

  const transport: Transport = {
    isConnected: () => socket?.connected ?? false,
    async call<E extends ClientEventName>(
      event: E,
      payload: RequestOf<E>,
      timeoutMs = 10_000,
    ): Promise<AckOf<E> | null> {
      if (!socket?.connected) return null
      try {
        return (await socket.timeout(timeoutMs).emitWithAck(event, payload)) as AckOf<E>
      } catch {
        return null
      }
    },
  }

  function on<E extends ServerEventName>(event: E, handler: (data: ServerEvents[E]) => void): void {
    getSocket().on(event as string, handler as (data: unknown) => void)
  }

  return { status, everConnected, refusal, connect, disconnect, retry, onConnected, transport, on }
})
