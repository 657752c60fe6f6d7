// The HTTP client: JSON in and out, the CSRF header on every write, errors as ApiError.
import type {
  AccountDelete,
  AdminUserList,
  AdminUserOut,
  ConversationList,
  ErrorDetail,
  MemberList,
  MessagePage,
  MySessionOut,
  PasswordResetIn,
  RegistrationOut,
  RoomList,
  RoomOut,
  SessionOut,
  SignUp,
  LogIn,
  UserOut,
} from './types'

/** A refusal from the server (or the network), in words a person can read. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

let csrfToken: string | null = null

export function setCsrfToken(token: string | null): void {
  csrfToken = token
}

/** "username: Value error, must be ..." -> "Username must be ..." */
export function plainMessage(message: string): string {
  return message
    .split('; ')
    .map((part) => {
      const m = /^([\w.]+): (?:Value error, )?(.*)$/.exec(part)
      if (!m) return part
      const field = (m[1] ?? '').split('.').pop() ?? ''
      const words = field.replace(/_/g, ' ')
      return `${words.charAt(0).toUpperCase()}${words.slice(1)} ${m[2] ?? ''}`.trim()
    })
    .join('; ')
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken
  let payload: BodyInit | undefined
  if (body instanceof FormData) {
    payload = body
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json'
    payload = JSON.stringify(body)
  }
  let response: Response
  try {
    response = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' })
  } catch {
    throw new ApiError(0, 'network_error', 'Cannot reach the server. Check your connection and try again.')
  }
  if (response.status === 204) return undefined as T
  let data: unknown = null
  try {
    data = await response.json()
  } catch {
    data = null
  }
  if (!response.ok) {
    const error = (data as { error?: ErrorDetail } | null)?.error
    if (error) throw new ApiError(response.status, error.code, plainMessage(error.message))
    throw new ApiError(response.status, 'http_error', `The server answered ${response.status}.`)
  }
  return data as T
}

export interface Page {
  before?: number
  after?: number
  limit?: number
}

function query(page: Page): string {
  const params = new URLSearchParams()
  if (page.before !== undefined) params.set('before', String(page.before))
  if (page.after !== undefined) params.set('after', String(page.after))
  if (page.limit !== undefined) params.set('limit', String(page.limit))
  const text = params.toString()
  return text ? `?${text}` : ''
}

const enc = encodeURIComponent

export const api = {
  signUp: (body: SignUp) =>
    request<SessionOut>('POST', '/api/users', body),
  registration: () => request<RegistrationOut>('GET', '/api/registration'),
  logIn: (body: LogIn) => request<SessionOut>('POST', '/api/session', body),
  session: () => request<SessionOut>('GET', '/api/session'),
  logOut: () => request<void>('DELETE', '/api/session'),
  updateMe: (body: { full_name: string }) => request<UserOut>('PATCH', '/api/me', body),
  uploadAvatar: (file: Blob) => {
    const form = new FormData()
    form.append('avatar', file)
    return request<UserOut>('PUT', '/api/me/avatar', form)
  },
  removeAvatar: () => request<UserOut>('DELETE', '/api/me/avatar'),
  /** My sessions, newest first; ``current`` is this browser's. */
  mySessions: () => request<MySessionOut[]>('GET', '/api/me/sessions'),
  /** End one of my sessions (its sockets drop); ending the current one is a log-out. */
  endSession: (id: string) => request<void>('DELETE', `/api/me/sessions/${enc(id)}`),
  /** Delete my account (the password proves it is me); the cookie is cleared. */
  deleteMe: (password: string) => request<void>('DELETE', '/api/me', { password } satisfies AccountDelete),
  /** Set a new password with a one-time code from an administrator (no login). */
  resetPassword: (code: string, password: string) =>
    request<void>('POST', '/api/password-reset', { code, password } satisfies PasswordResetIn),
  rooms: () => request<RoomList>('GET', '/api/rooms'),
  createRoom: (name: string) => request<RoomOut>('POST', '/api/rooms', { name }),
  joinRoom: (code: string) => request<RoomOut>('POST', '/api/rooms/join', { code }),
  room: (code: string) => request<RoomOut>('GET', `/api/rooms/${enc(code)}`),
  destroyRoom: (code: string) => request<void>('DELETE', `/api/rooms/${enc(code)}`),
  leaveRoom: (code: string) => request<void>('POST', `/api/rooms/${enc(code)}/leave`),
  messages: (code: string, page: Page = {}) =>
    request<MessagePage>('GET', `/api/rooms/${enc(code)}/messages${query(page)}`),
  /** My private conversations in the room, with each one's newest position. */
  conversations: (code: string) => request<ConversationList>('GET', `/api/rooms/${enc(code)}/dms`),
  privateMessages: (code: string, username: string, page: Page = {}) =>
    request<MessagePage>('GET', `/api/rooms/${enc(code)}/dms/${enc(username)}/messages${query(page)}`),
  members: (code: string, online = false) =>
    request<MemberList>('GET', `/api/rooms/${enc(code)}/users?online=${online}`),
  admin: {
    /** Accounts whose username or full name contains ``q`` (any case), a page at a time. */
    users: (q: string, limit: number, offset: number) => {
      const params = new URLSearchParams({ limit: String(limit), offset: String(offset) })
      if (q) params.set('q', q)
      return request<AdminUserList>('GET', `/api/admin/users?${params.toString()}`)
    },
    disable: (id: number) => request<AdminUserOut>('POST', `/api/admin/users/${id}/disable`),
    enable: (id: number) => request<AdminUserOut>('POST', `/api/admin/users/${id}/enable`),
    remove: (id: number) => request<void>('DELETE', `/api/admin/users/${id}`),
  },
}

/** Where my data export downloads from (a plain link: the cookie authenticates it). */
export const EXPORT_URL = '/api/me/export'

/** Every message after ``after`` (oldest first), following pages until there are no more. */
export async function fetchAllAfter(
  load: (page: Page) => Promise<MessagePage>,
  after: number,
  maxPages = 20,
): Promise<MessagePage> {
  const all: MessagePage['messages'] = []
  let cursor = after
  for (let i = 0; i < maxPages; i++) {
    const page = await load({ after: cursor, limit: 200 })
    all.push(...page.messages)
    const last = page.messages[page.messages.length - 1]
    if (!page.has_more || !last) return { messages: all, has_more: false }
    cursor = last.seq
  }
  return { messages: all, has_more: true }
}
