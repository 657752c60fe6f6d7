// The one-time code of a password reset: from the link's fragment, or as someone pasted it.

/** ``#code=ABC`` (the link an administrator hands out) -> ``ABC``; '' when there is none. */
export function codeFromHash(hash: string): string {
  const params = new URLSearchParams(hash.replace(/^#/, ''))
  return (params.get('code') ?? '').trim()
}

/** The code itself, or the whole link pasted (…/reset-password#code=ABC). */
export function resetCodeFromInput(value: string): string {
  const text = value.trim()
  const at = text.indexOf('#')
  if (at >= 0 && /code=/.test(text.slice(at))) return codeFromHash(text.slice(at))
  return text
}
