// Times in the reader's own zone: relative when recent, a clock time today, a date otherwise.

export function relativeTime(iso: string, now: number, locale?: string): string {
  const then = Date.parse(iso)
  const seconds = Math.round((now - then) / 1000)
  if (seconds < 45) return 'just now'
  const rtf = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' })
  if (seconds < 3600) return rtf.format(-Math.max(1, Math.round(seconds / 60)), 'minute')
  const date = new Date(then)
  const today = new Date(now)
  const time = date.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit' })
  if (date.toDateString() === today.toDateString()) return time
  const yesterday = new Date(now - 86_400_000)
  if (date.toDateString() === yesterday.toDateString()) return `${rtf.format(-1, 'day')} ${time}`
  const sameYear = date.getFullYear() === today.getFullYear()
  const day = date.toLocaleDateString(locale, {
    day: 'numeric',
    month: 'short',
    year: sameYear ? undefined : 'numeric',
  })
  return `${day} ${time}`
}

export function fullTime(iso: string, locale?: string): string {
  return new Date(iso).toLocaleString(locale, { dateStyle: 'full', timeStyle: 'short' })
}
