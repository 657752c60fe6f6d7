// Names for the wire models, all generated from the server (src/api/schema.d.ts).
import type { components } from './schema'

type Schemas = components['schemas']

export type UserOut = Schemas['UserOut']
export type RoomOut = Schemas['RoomOut']
export type RoomSummary = Schemas['RoomSummary']
export type RoomList = Schemas['RoomList']
export type MemberList = Schemas['MemberList']
export type MessageOut = Schemas['MessageOut']
export type MessagePage = Schemas['MessagePage']
export type ConversationOut = Schemas['ConversationOut']
export type ConversationList = Schemas['ConversationList']
export type MemberOut = Schemas['MemberOut']
export type SignUp = Schemas['SignUp']
export type RegistrationOut = Schemas['RegistrationOut']
export type LogIn = Schemas['LogIn']
export type ErrorDetail = Schemas['ErrorDetail']
export type MySessionOut = Schemas['MySessionOut']

// ---- hand-written until the admin API (branch `admin`) is merged and schema.d.ts regenerated
export type SessionOut = Schemas['SessionOut'] & { is_admin: boolean }
export interface AdminUserOut {
  id: number
  username: string
  full_name: string
  avatar_url: string | null
  is_admin: boolean
  disabled: boolean
  created_at: string
  last_seen_at: string | null
}
export interface AdminUserList {
  users: AdminUserOut[]
  total: number
}
export interface RoomUpdatedEvent {
  room: RoomOut
}

// Socket.IO: the server's event catalog (chinwag/events.py), by event name
export type ServerEvents = Schemas['ServerEvents'] & { 'room:updated': RoomUpdatedEvent }
export type ServerEventName = keyof ServerEvents
export type ClientEvents = Schemas['ClientEvents']
export type ClientEventName = keyof ClientEvents
/** The payload a client event sends. */
export type RequestOf<E extends ClientEventName> = ClientEvents[E]['request']
/** The ack a client event gets: its own `{ok: true, ...}`, or an ErrorAck. */
export type AckOf<E extends ClientEventName> = ClientEvents[E]['ack']

export type SendMessage = RequestOf<'message:send'>
export type TypingUpdate = RequestOf<'typing'>
export type TypingEvent = ServerEvents['typing']
export type PresenceEvent = ServerEvents['presence']
export type ErrorAck = Schemas['ErrorAck']
export type AckError = Schemas['AckError']
export type EnterAck = AckOf<'room:enter'>
export type SendAck = AckOf<'message:send'>
export type SearchAck = AckOf<'users:search'>
