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
export type SessionOut = Schemas['SessionOut']
export type AdminUserOut = Schemas['AdminUserOut']
export type AdminUserList = Schemas['AdminUserList']
export type AccountDelete = Schemas['AccountDelete']
export type PasswordResetIn = Schemas['PasswordResetIn']

// Socket.IO: the server's event catalog (chinwag/events.py), by event name
export type ServerEvents = Schemas['ServerEvents']
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
