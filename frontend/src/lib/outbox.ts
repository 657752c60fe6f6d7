// Optimistic sending: a message shows at once as "sending", then becomes the server's copy
// (acked or echoed), or "failed" with a retry that reuses its client_id (the server answers
// a repeated client_id with the stored message, so a retry never doubles a message).
import type { AckError, MessageOut, SendAck } from '../api/types'

export type PendingStatus = 'sending' | 'failed'

export interface PendingMessage {
  client_id: string
  room: string
  to: string | null
  body: string
  created_at: string
  status: PendingStatus
  error: string | null
}

let counter = 0

export function newClientId(): string {
  counter += 1
  const random = Math.random().toString(36).slice(2, 10)
  return `web-${Date.now().toString(36)}-${random}-${counter}`
}

export function makePending(room: string, body: string, to: string | null, now = new Date()): PendingMessage {
  return {
    client_id: newClientId(),
    room,
    to,
    body,
    created_at: now.toISOString(),
    status: 'sending',
    error: null,
  }
}

export const ACK_TIMEOUT_MS = 10_000

/** What an ack (or its absence) means for a pending message. */
export type SendOutcome = { kind: 'sent'; message: MessageOut } | { kind: 'failed'; error: string }

export function outcomeOf(ack: SendAck | null): SendOutcome {
  if (ack === null) return { kind: 'failed', error: 'No answer from the server.' }
  if (ack.ok) return { kind: 'sent', message: ack.message }
  return { kind: 'failed', error: ackErrorText(ack.error) }
}

export function ackErrorText(error: AckError): string {
  if (error.code === 'rate_limited' && error.retry_after) {
    return `${error.message} (wait ${Math.ceil(error.retry_after)} s)`
  }
  return error.message
}

/** Drops the pending entries that the server's messages confirm (same sender and client_id). */
export function settle(pending: readonly PendingMessage[], confirmed: readonly MessageOut[], me: string): PendingMessage[] {
  const mine = new Set(confirmed.filter((m) => m.sender.username === me).map((m) => m.client_id))
  if (mine.size === 0) return pending as PendingMessage[]
  return pending.filter((p) => !mine.has(p.client_id))
}

export function markFailed(pending: readonly PendingMessage[], clientId: string, error: string): PendingMessage[] {
  return pending.map((p) => (p.client_id === clientId ? { ...p, status: 'failed', error } : p))
}

export function markSending(pending: readonly PendingMessage[], clientId: string): PendingMessage[] {
  return pending.map((p) => (p.client_id === clientId ? { ...p, status: 'sending', error: null } : p))
}
