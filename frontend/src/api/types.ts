// Names for the wire models, all generated from the server (src/api/schema.d.ts).
import type { components } from './schema'

type Schemas = components['schemas']

export type UserOut = Schemas['UserOut']
export type SessionOut = Schemas['SessionOut']
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
export type LogIn = Schemas['LogIn']
export type ErrorDetail = Schemas['ErrorDetail']

// Socket.IO payloads
export type SendMessage = Schemas['SendMessage']
export type TypingUpdate = Schemas['TypingUpdate']
export type TypingEvent = Schemas['TypingEvent']
export type PresenceEvent = Schemas['PresenceEvent']
export type RoomDestroyedEvent = Schemas['RoomDestroyedEvent']
export type RoomLeftEvent = Schemas['RoomLeftEvent']
export type UserUpdatedEvent = Schemas['UserUpdatedEvent']

// Acks are plain objects in the namespace (realtime/namespace.py), not pydantic models.
export type AckError = ErrorDetail & { retry_after?: number }
export type Ack<T> = ({ ok: true } & T) | { ok: false; error: AckError }
export type EnterAck = Ack<{ room: RoomOut; online: UserOut[]; last_seq: number }>
export type SendAck = Ack<{ message: MessageOut; duplicate: boolean }>
export type SearchAck = Ack<{ users: MemberOut[] }>
