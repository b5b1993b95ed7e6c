/** The OS colour scheme as a ref, so canvas drawings (which read CSS variables once) redraw when it flips. */
import { onBeforeUnmount, ref, type Ref } from 'vue'

export function useColorScheme(): Ref<'light' | 'dark'> {
  const mq = window.matchMedia('(prefers-color-scheme: dark)')
  const scheme = ref<'light' | 'dark'>(mq.matches ? 'dark' : 'light')
  const onChange = (e: MediaQueryListEvent): void => {
    scheme.value = e.matches ? 'dark' : 'light'
  }
  mq.addEventListener('change', onChange)
  onBeforeUnmount(() => mq.removeEventListener('change', onChange))
  return scheme
}
