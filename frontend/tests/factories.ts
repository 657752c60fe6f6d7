import type { MessageOut, UserOut } from '../src/api/types'

export function user(username: string, fullName = username.toUpperCase()): UserOut {
  return { username, full_name: fullName, avatar_url: null }
}

let nextId = 1

export function message(seq: number, from: string, body = `m${seq}`, extra: Partial<MessageOut> = {}): MessageOut {
  return {
    id: extra.id ?? nextId++,
    room: 'room-1',
    seq,
    sender: user(from),
    to: null,
    body,
    created_at: new Date(Date.UTC(2025, 0, 1, 12, 0, seq)).toISOString(),
    client_id: `c-${seq}-${from}`,
    ...extra,
  }
}
