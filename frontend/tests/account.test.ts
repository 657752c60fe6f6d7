import { describe, expect, it } from 'vitest'
import type { MySessionOut } from '../src/api/types'
import { describeDevice, orderSessions } from '../src/lib/devices'
import { pageAfterRemoval, pageFromQuery, pageWindow } from '../src/lib/paging'
import { codeFromHash, resetCodeFromInput } from '../src/lib/reset'

const UA = {
  chromeLinux: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  headless: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36',
  edgeWindows:
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
  firefoxMac: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14.1; rv:133.0) Gecko/20100101 Firefox/133.0',
  safariIphone:
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1',
  chromeAndroid:
    'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36',
}

describe('a session\'s device in words', () => {
  it('names the browser and the system, not the browsers it pretends to be', () => {
    expect(describeDevice(UA.chromeLinux)).toBe('Chrome on Linux')
    expect(describeDevice(UA.headless)).toBe('Chrome on Linux')
    expect(describeDevice(UA.edgeWindows)).toBe('Edge on Windows')
    expect(describeDevice(UA.firefoxMac)).toBe('Firefox on macOS')
    expect(describeDevice(UA.safariIphone)).toBe('Safari on iPhone')
    expect(describeDevice(UA.chromeAndroid)).toBe('Chrome on Android')
  })

  it('shows an unknown client as it named itself, shortened', () => {
    expect(describeDevice('python-httpx/0.28.1')).toBe('python-httpx/0.28.1')
    expect(describeDevice('x'.repeat(200))).toHaveLength(60)
    expect(describeDevice('   ')).toBe('Unknown device')
  })

  it('lists this browser\'s session first, then the most recently used', () => {
    const s = (id: string, seen: string | null, current = false): MySessionOut => ({
      id,
      device: UA.chromeLinux,
      address: '127.0.0.1',
      created_at: '2026-01-01T10:00:00Z',
      last_seen_at: seen,
      current,
    })
    const ordered = orderSessions([
      s('old', '2026-01-02T10:00:00Z'),
      s('never', null),
      s('me', '2026-01-01T11:00:00Z', true),
      s('new', '2026-01-03T10:00:00Z'),
    ])
    expect(ordered.map((x) => x.id)).toEqual(['me', 'new', 'old', 'never'])
  })
})

describe('pages of accounts', () => {
  it('says which rows a page shows', () => {
    expect(pageWindow(0, 50, 230, 50)).toEqual({ page: 1, pages: 5, first: 1, last: 50 })
    expect(pageWindow(200, 50, 230, 30)).toEqual({ page: 5, pages: 5, first: 201, last: 230 })
    expect(pageWindow(0, 50, 0, 0)).toEqual({ page: 1, pages: 1, first: 0, last: 0 })
  })

  it('reads the page from the address bar, refusing nonsense', () => {
    expect(pageFromQuery('3')).toBe(3)
    expect(pageFromQuery(['2', '9'])).toBe(2)
    expect(pageFromQuery('0')).toBe(1)
    expect(pageFromQuery('-2')).toBe(1)
    expect(pageFromQuery('2.5')).toBe(1)
    expect(pageFromQuery('1e9')).toBe(1)
    expect(pageFromQuery(undefined)).toBe(1)
  })

  it('steps back when a deletion empties the last page', () => {
    expect(pageAfterRemoval(3, 50, 100)).toBe(2)
    expect(pageAfterRemoval(3, 50, 101)).toBe(3)
    expect(pageAfterRemoval(1, 50, 0)).toBe(1)
  })
})

describe('the reset code', () => {
  it('comes from the link\'s fragment', () => {
    expect(codeFromHash('#code=abc-DEF_123')).toBe('abc-DEF_123')
    expect(codeFromHash('code=abc')).toBe('abc')
    expect(codeFromHash('#other=1')).toBe('')
    expect(codeFromHash('')).toBe('')
  })

  it('is taken from a pasted link or pasted as it is', () => {
    expect(resetCodeFromInput('  abc123  ')).toBe('abc123')
    expect(resetCodeFromInput('https://chat.example.org/reset-password#code=abc123')).toBe('abc123')
    expect(resetCodeFromInput('abc#123')).toBe('abc#123')
  })
})
