// The site admin's list of accounts: one page of a search, and what the admin did to each row.
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { ApiError, api } from '../api/client'
import type { AdminUserOut } from '../api/types'
import { pageAfterRemoval, pageWindow } from '../lib/paging'

export const ADMIN_PAGE_SIZE = 50

export const useAdminStore = defineStore('admin', () => {
  const users = ref<AdminUserOut[]>([])
  const total = ref(0)
  const query = ref('')
  const page = ref(1)
  const loading = ref(false)
  const loaded = ref(false)
  const error = ref<string | null>(null)
  /** The server said this login is not a site admin (403 ``not_admin``). */
  const notAllowed = ref(false)
  let generation = 0 // a late answer for an older search is dropped

  const span = computed(() => pageWindow((page.value - 1) * ADMIN_PAGE_SIZE, ADMIN_PAGE_SIZE, total.value, users.value.length))

  function refused(err: unknown): boolean {
    if (err instanceof ApiError && err.status === 403 && err.code === 'not_admin') {
      notAllowed.value = true
      return true
    }
    return false
  }

  /** Show page ``pageNumber`` (1-based) of the accounts matching ``q``. */
  async function load(q: string, pageNumber: number): Promise<void> {
    const mine = ++generation
    query.value = q
    page.value = pageNumber
    loading.value = true
    try {
      const list = await api.admin.users(q, ADMIN_PAGE_SIZE, (pageNumber - 1) * ADMIN_PAGE_SIZE)
      if (mine !== generation) return
      users.value = list.users
      total.value = list.total
      error.value = null
      notAllowed.value = false
      loaded.value = true
    } catch (err) {
      if (mine !== generation) return
      if (!refused(err)) error.value = (err as Error).message
    } finally {
      if (mine === generation) loading.value = false
    }
  }

  function replace(next: AdminUserOut): void {
    users.value = users.value.map((u) => (u.id === next.id ? next : u))
  }

  async function act(run: () => Promise<void>): Promise<void> {
    try {
      await run()
    } catch (err) {
      refused(err)
      throw err
    }
  }

  const disable = (id: number) => act(async () => replace(await api.admin.disable(id)))
  const enable = (id: number) => act(async () => replace(await api.admin.enable(id)))

  /** Delete an account, then load the page again (the next account moves up into it). Returns
   * the page to show: a page left empty steps back one, which the caller loads. */
  async function remove(id: number): Promise<number> {
    await act(() => api.admin.remove(id))
    users.value = users.value.filter((u) => u.id !== id)
    total.value = Math.max(0, total.value - 1)
    const next = pageAfterRemoval(page.value, ADMIN_PAGE_SIZE, total.value)
    if (next === page.value) await load(query.value, next)
    return next
  }

  function reset(): void {
    generation += 1
    users.value = []
    total.value = 0
    query.value = ''
    page.value = 1
    loading.value = false
    loaded.value = false
    error.value = null
    notAllowed.value = false
  }

  return { users, total, query, page, loading, loaded, error, notAllowed, span, load, disable, enable, remove, reset }
})
