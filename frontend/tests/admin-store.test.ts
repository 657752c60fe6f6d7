import { createPinia, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ApiError, api } from '../src/api/client'
import type { AdminUserOut, RoomSummary } from '../src/api/types'
import { ADMIN_PAGE_SIZE, useAdminStore } from '../src/stores/admin'
import { useRoomsStore } from '../src/stores/rooms'

function account(id: number, extra: Partial<AdminUserOut> = {}): AdminUserOut {
  return {
    id,
    username: `user${id}`,
    full_name: `User ${id}`,
    avatar_url: null,
    is_admin: false,
    disabled: false,
    created_at: '2026-01-01T00:00:00Z',
    last_seen_at: null,
    ...extra,
  }
}

beforeEach(() => {
  setActivePinia(createPinia())
})

afterEach(() => {
  vi.restoreAllMocks()
})

describe('the admin list', () => {
  it('asks for the page of the search and says which rows it shows', async () => {
    const users = vi.spyOn(api.admin, 'users').mockResolvedValue({ users: [account(51), account(52)], total: 52 })
    const admin = useAdminStore()
    await admin.load('user', 2)
    expect(users).toHaveBeenCalledWith('user', ADMIN_PAGE_SIZE, ADMIN_PAGE_SIZE)
    expect(admin.span).toEqual({ page: 2, pages: 2, first: 51, last: 52 })
  })

  it('keeps the newest search when an older answer arrives late', async () => {
    let answerOld: (v: { users: AdminUserOut[]; total: number }) => void = () => {}
    vi.spyOn(api.admin, 'users')
      .mockImplementationOnce(() => new Promise((resolve) => (answerOld = resolve)))
      .mockResolvedValueOnce({ users: [account(2)], total: 1 })
    const admin = useAdminStore()
    const old = admin.load('a', 1)
    await admin.load('ab', 1)
    answerOld({ users: [account(1)], total: 1 })
    await old
    expect(admin.query).toBe('ab')
    expect(admin.users.map((u) => u.id)).toEqual([2])
    expect(admin.loading).toBe(false)
  })

  it('shows a disabled account as the server answers it', async () => {
    vi.spyOn(api.admin, 'users').mockResolvedValue({ users: [account(1), account(2)], total: 2 })
    vi.spyOn(api.admin, 'disable').mockResolvedValue(account(2, { disabled: true }))
    const admin = useAdminStore()
    await admin.load('', 1)
    await admin.disable(2)
    expect(admin.users.map((u) => u.disabled)).toEqual([false, true])
  })

  it('reloads the page after a deletion, or steps back from a page left empty', async () => {
    const users = vi.spyOn(api.admin, 'users').mockResolvedValue({ users: [account(51)], total: 51 })
    vi.spyOn(api.admin, 'remove').mockResolvedValue(undefined)
    const admin = useAdminStore()
    await admin.load('', 2)
    expect(await admin.remove(51)).toBe(1)
    expect(admin.users).toEqual([])
    expect(admin.total).toBe(50)
    expect(users).toHaveBeenCalledTimes(1) // page 1 is the caller's to load

    users.mockResolvedValue({ users: [account(1), account(3)], total: 2 })
    await admin.load('', 1)
    expect(await admin.remove(1)).toBe(1)
    expect(users).toHaveBeenLastCalledWith('', ADMIN_PAGE_SIZE, 0)
  })

  it('turns a 403 not_admin into the not-allowed notice, not an error', async () => {
    vi.spyOn(api.admin, 'users').mockRejectedValue(new ApiError(403, 'not_admin', 'Only site admins may do that.'))
    const admin = useAdminStore()
    await admin.load('', 1)
    expect(admin.notAllowed).toBe(true)
    expect(admin.error).toBeNull()
  })
})

describe('room:updated', () => {
  it('gives my room its new owner and keeps its position', () => {
    const rooms = useRoomsStore()
    const summary: RoomSummary = { code: 'r1', name: 'Book club', owner: 'gone', created_at: '2026-01-01T00:00:00Z', last_seq: 7 }
    rooms.rooms = [summary]
    rooms.updated({ code: 'r1', name: 'Book club', owner: 'ana', created_at: summary.created_at })
    expect(rooms.rooms).toEqual([{ ...summary, owner: 'ana' }])
  })
})
