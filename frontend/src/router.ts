import { createRouter, createWebHistory, type RouteLocationNormalized } from 'vue-router'
import { useSessionStore } from './stores/session'

declare module 'vue-router' {
  interface RouteMeta {
    guest?: boolean // only for people not logged in
    title?: string
  }
}

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: '/', name: 'lobby', component: () => import('./views/LobbyView.vue'), meta: { title: 'Lobby' } },
    { path: '/login', name: 'login', component: () => import('./views/LoginView.vue'), meta: { guest: true, title: 'Log in' } },
    { path: '/signup', name: 'signup', component: () => import('./views/SignupView.vue'), meta: { guest: true, title: 'Sign up' } },
    { path: '/join/:code', name: 'join', component: () => import('./views/JoinView.vue'), meta: { title: 'Joining' } },
    { path: '/rooms/:code', name: 'room', component: () => import('./views/RoomView.vue'), meta: { title: 'Room' } },
    { path: '/reset-password', name: 'reset-password', component: () => import('./views/ResetPasswordView.vue'), meta: { guest: true, title: 'Set a new password' } },
    { path: '/admin', name: 'admin', component: () => import('./views/AdminView.vue'), meta: { title: 'Administration' } },
    { path: '/profile', name: 'profile', component: () => import('./views/ProfileView.vue'), meta: { title: 'Profile' } },
    { path: '/:rest(.*)*', name: 'not-found', component: () => import('./views/NotFoundView.vue'), meta: { guest: true, title: 'Not found' } },
  ],
})

/** Where to go after logging in: the ``next`` query when it is a path of this app. */
export function nextPath(route: RouteLocationNormalized): string {
  const next = route.query.next
  return typeof next === 'string' && next.startsWith('/') && !next.startsWith('//') ? next : '/'
}

router.beforeEach(async (to) => {
  const session = useSessionStore()
  try {
    await session.restore()
  } catch {
    // the server is unreachable: let the page say so instead of looping
    return true
  }
  const open = to.meta.guest === true
  if (!open && session.status !== 'authenticated') {
    return { name: 'login', query: to.fullPath === '/' ? {} : { next: to.fullPath } }
  }
  if ((to.name === 'login' || to.name === 'signup') && session.status === 'authenticated') return nextPath(to)
  return true
})

router.afterEach((to) => {
  document.title = to.meta.title ? `${to.meta.title} · Chinwag` : 'Chinwag'
})
