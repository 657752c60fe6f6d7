import { afterEach, describe, expect, it, vi } from 'vitest'
import { effectScope } from 'vue'
import { useMediaQuery } from '../src/composables/useMediaQuery'

/** A stand-in for the browser's MediaQueryList: Node has no layout to match against. */
class FakeMediaQueryList extends EventTarget {
  constructor(
    readonly media: string,
    public matches: boolean,
  ) {
    super()
  }

  change(matches: boolean): void {
    this.matches = matches
    this.dispatchEvent(Object.assign(new Event('change'), { matches, media: this.media }))
  }
}

function stubMatchMedia(matches: boolean): FakeMediaQueryList[] {
  const lists: FakeMediaQueryList[] = []
  vi.stubGlobal('window', {
    matchMedia: (query: string) => {
      const list = new FakeMediaQueryList(query, matches)
      lists.push(list)
      return list
    },
  })
  return lists
}

afterEach(() => vi.unstubAllGlobals())

describe('useMediaQuery', () => {
  it('starts from the current match and follows changes', () => {
    const lists = stubMatchMedia(true)
    const scope = effectScope()
    const phone = scope.run(() => useMediaQuery('(max-width: 760px)'))!
    expect(lists[0]?.media).toBe('(max-width: 760px)')
    expect(phone.value).toBe(true)
    lists[0]?.change(false)
    expect(phone.value).toBe(false)
    lists[0]?.change(true)
    expect(phone.value).toBe(true)
    scope.stop()
  })

  it('stops listening when its scope ends', () => {
    const lists = stubMatchMedia(false)
    const scope = effectScope()
    const phone = scope.run(() => useMediaQuery('(max-width: 760px)'))!
    scope.stop()
    lists[0]?.change(true)
    expect(phone.value).toBe(false)
  })
})
