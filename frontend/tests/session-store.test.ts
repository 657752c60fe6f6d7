import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ApiError, api } from '../src/api/client'
import { useSessionStore } from '../src/stores/session'

const SESSION = { username: 'ana', full_name: 'Ana Lima', avatar_url: null, csrf_token: 't', is_admin: true }

beforeEach(() => {
  setActivePinia(createPinia())
})

afterEach(() => {
  vi.restoreAllMocks()
})

describe('the session', () => {
  it('knows a site admin, and forgets it at log-out', async () => {
    vi.spyOn(api, 'logIn').mockResolvedValue(SESSION)
    vi.spyOn(api, 'logOut').mockResolvedValue(undefined)
    const session = useSessionStore()
    await session.logIn('ana', 'pw')
    expect(session.isAdmin).toBe(true)
    expect(session.user).toEqual({ username: 'ana', full_name: 'Ana Lima', avatar_url: null })
    await session.logOut()
    expect(session.isAdmin).toBe(false)
  })

  it('keeps "account deleted" when a late session check answers 401', async () => {
    vi.spyOn(api, 'logIn').mockResolvedValue(SESSION)
    let answer: (err: unknown) => void = () => {}
    vi.spyOn(api, 'session').mockImplementation(() => new Promise((_, reject) => (answer = reject)))
    vi.spyOn(api, 'deleteMe').mockResolvedValue(undefined)
    const session = useSessionStore()
    await session.logIn('ana', 'pw')
    const checking = session.check() // the socket dropped: the page asks whether it is logged out
    await session.deleteAccount('pw')
    answer(new ApiError(401, 'not_authenticated', 'Log in first.'))
    expect(await checking).toBe(false)
    expect(session.status).toBe('anonymous')
    expect(session.endedReason).toBe('Your account was deleted.')
  })

  it('a wrong password deletes nothing and keeps me logged in', async () => {
    vi.spyOn(api, 'logIn').mockResolvedValue(SESSION)
    vi.spyOn(api, 'deleteMe').mockRejectedValue(new ApiError(403, 'invalid_credentials', 'Wrong password.'))
    const session = useSessionStore()
    await session.logIn('ana', 'pw')
    await expect(session.deleteAccount('nope')).rejects.toThrow('Wrong password.')
    expect(session.status).toBe('authenticated')
  })

  it('ending this browser\'s own session logs out, even when it had ended already', async () => {
    vi.spyOn(api, 'logIn').mockResolvedValue(SESSION)
    vi.spyOn(api, 'endSession').mockRejectedValue(new ApiError(401, 'not_authenticated', 'Log in first.'))
    const session = useSessionStore()
    await session.logIn('ana', 'pw')
    await expect(session.endSession('other', false)).rejects.toThrow()
    expect(session.status).toBe('authenticated')
    await session.endSession('mine', true)
    expect(session.status).toBe('anonymous')
  })
})
