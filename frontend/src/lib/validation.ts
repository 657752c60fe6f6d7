// The server's input rules (src/chinwag/schemas.py), checked as people type.

export const USERNAME_RE = /^[A-Za-z0-9_.-]{3,32}$/
export const FULL_NAME_MAX = 64
export const ROOM_NAME_MAX = 80
export const PASSWORD_MIN = 8
export const BODY_MAX = 4000

// Control characters and bidirectional overrides the server refuses in single-line names.
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u2028\u2029]/

/** An error message, or null when the value is fine. */
export function checkUsername(value: string): string | null {
  if (!value) return 'Choose a username.'
  if (value.length < 3) return 'A username has at least 3 characters.'
  if (value.length > 32) return 'A username has at most 32 characters.'
  if (!USERNAME_RE.test(value)) return 'Use only letters A–Z, digits, and _ . or -'
  return null
}

function checkLine(value: string, what: string, max: number): string | null {
  const trimmed = value.normalize('NFC').trim()
  if (!trimmed) return `Enter ${what}.`
  if (trimmed.length > max) return `At most ${max} characters (now ${trimmed.length}).`
  if (CONTROL_RE.test(trimmed)) return 'Remove the control characters.'
  return null
}

export function checkFullName(value: string): string | null {
  return checkLine(value, 'your full name', FULL_NAME_MAX)
}

export function checkRoomName(value: string): string | null {
  return checkLine(value, 'a name for the room', ROOM_NAME_MAX)
}

export function checkPassword(value: string): string | null {
  if (!value) return 'Choose a password.'
  if (value.length < PASSWORD_MIN) return `A password has at least ${PASSWORD_MIN} characters.`
  if (value.length > 1024) return 'A password has at most 1024 characters.'
  return null
}

export function checkBody(value: string): string | null {
  const trimmed = value.normalize('NFC').trim()
  if (!trimmed) return 'Write something first.'
  if (trimmed.length > BODY_MAX) return `A message has at most ${BODY_MAX} characters (now ${trimmed.length}).`
  return null
}

/** A room code from what someone pasted: the code itself or an invite link to it. */
export function codeFromInput(value: string): string {
  const text = value.trim()
  const m = /\/join\/([^/?#\s]+)/.exec(text)
  return decodeURIComponent(m?.[1] ?? text)
}
