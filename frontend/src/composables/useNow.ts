import { onBeforeUnmount, onMounted, ref, type Ref } from 'vue'

/** The current time in ms, refreshed every ``intervalMs`` while the component lives. */
export function useNow(intervalMs: number): Ref<number> {
  const now = ref(Date.now())
  let timer: ReturnType<typeof setInterval> | null = null
  onMounted(() => {
    timer = setInterval(() => (now.value = Date.now()), intervalMs)
  })
  onBeforeUnmount(() => {
    if (timer !== null) clearInterval(timer)
  })
  return now
}
