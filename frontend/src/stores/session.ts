// Who is logged in. The session itself is an HttpOnly cookie; the page keeps the CSRF token.
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { ApiError, api, setCsrfToken } from '../api/client'
import type { SessionOut, UserOut } from '../api/types'

export type SessionStatus = 'unknown' | 'anonymous' | 'authenticated'

export const useSessionStore = defineStore('session', () => {
  const user = ref<UserOut | null>(null)
  const status = ref<SessionStatus>('unknown')
  /** A site administrator (the server checks it on every admin request anyway). */
  const isAdmin = ref(false)
  /** Why the page went back to the log-in form, if it did on its own. */
  const endedReason = ref<string | null>(null)
  let restoring: Promise<void> | null = null

  const username = computed(() => user.value?.username ?? '')

  function accept(session: SessionOut): void {
    const { csrf_token, is_admin, ...me } = session
    setCsrfToken(csrf_token)
    user.value = me
    isAdmin.value = is_admin === true
    status.value = 'authenticated'
    endedReason.value = null
  }

  function forget(reason: string | null = null): void {
    setCsrfToken(null)
    user.value = null
    isAdmin.value = false
    status.value = 'anonymous'
    endedReason.value = reason
  }

  /** Ask the server who we are (a reloaded page keeps its cookie). Runs once. */
  function restore(): Promise<void> {
    if (restoring === null) {
      restoring = api.session().then(accept, (err: unknown) => {
        if (err instanceof ApiError && err.status === 401) forget()
        else {
          restoring = null
          throw err
        }
      })
    }
    return restoring
  }

  async function signUp(username: string, fullName: string, password: string, invite?: string): Promise<void> {
    const code = invite?.trim()
    accept(await api.signUp({ username, full_name: fullName.trim(), password, ...(code ? { invite: code } : {}) }))
  }

  async function logIn(username: string, password: string): Promise<void> {
    accept(await api.logIn({ username, password }))
  }

  async function logOut(): Promise<void> {
    try {
      await api.logOut()
    } catch (err) {
      // an ended session is logged out already
      if (!(err instanceof ApiError && err.status === 401)) throw err
    }
    forget()
  }

  /** Delete my account for good; the server ends every session of mine and clears the cookie. */
  async function deleteAccount(password: string): Promise<void> {
    await api.deleteMe(password)
    forget('Your account was deleted.')
  }

  /** End one of my sessions; ending this browser's own is a log-out. */
  async function endSession(id: string, current: boolean): Promise<void> {
    try {
      await api.endSession(id)
    } catch (err) {
      // this browser's session has ended already: logged out either way
      if (!(current && err instanceof ApiError && err.status === 401)) throw err
    }
    if (current) forget()
  }

  /** Is the session still good? Forgets it (with a reason) when the server says no. */
  async function check(): Promise<boolean> {
    try {
      accept(await api.session())
      return true
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        // not when the page logged out meanwhile itself (say, the account was just deleted):
        // its own reason stays
        if (status.value === 'authenticated') forget('Your session ended; log in again.')
        return false
      }
      return true // the server is unreachable: not a reason to log out
    }
  }

  function setUser(next: UserOut): void {
    if (user.value && user.value.username === next.username) user.value = { ...next }
  }

  return {
    user,
    status,
    isAdmin,
    endedReason,
    username,
    restore,
    signUp,
    logIn,
    logOut,
    deleteAccount,
    endSession,
    check,
    forget,
    setUser,
  }
})
