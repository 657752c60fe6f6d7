// A session's device in words, from the User-Agent the server kept at log-in.
import type { MySessionOut } from '../api/types'

// Order matters: Edge and Opera say "Chrome" too, Chrome says "Safari", Android says "Linux".
const BROWSERS: [RegExp, string][] = [
  [/\bEdg(?:e|A|iOS)?\//, 'Edge'],
  [/\b(?:OPR|Opera)\//, 'Opera'],
  [/\b(?:Firefox|FxiOS)\//, 'Firefox'],
  [/\b(?:Chromium)\//, 'Chromium'],
  [/\b(?:HeadlessChrome|Chrome|CriOS)\//, 'Chrome'],
  [/\bVersion\/[\d.]+.*\bSafari\//, 'Safari'],
]
const SYSTEMS: [RegExp, string][] = [
  [/\biPhone\b/, 'iPhone'],
  [/\biPad\b/, 'iPad'],
  [/\bAndroid\b/, 'Android'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bWindows\b/, 'Windows'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bLinux\b|\bX11\b/, 'Linux'],
]

function first(table: [RegExp, string][], ua: string): string | null {
  for (const [re, name] of table) if (re.test(ua)) return name
  return null
}

/** "Firefox on Windows", or the User-Agent itself (shortened) when it names no known browser. */
export function describeDevice(userAgent: string): string {
  const ua = userAgent.trim()
  if (!ua) return 'Unknown device'
  const browser = first(BROWSERS, ua)
  const system = first(SYSTEMS, ua)
  if (browser && system) return `${browser} on ${system}`
  if (browser) return browser
  return ua.length > 60 ? `${ua.slice(0, 59)}…` : ua
}

/** This browser's session first, then the most recently used. */
export function orderSessions(sessions: readonly MySessionOut[]): MySessionOut[] {
  const used = (s: MySessionOut) => Date.parse(s.last_seen_at ?? s.created_at)
  return [...sessions].sort((a, b) => Number(b.current) - Number(a.current) || used(b) - used(a))
}
