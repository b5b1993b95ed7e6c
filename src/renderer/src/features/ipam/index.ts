/** IPAM: pools, their subnet maps and allocations, and the address search. */
import { defineAsyncComponent } from 'vue'
import { lazyLoader } from '@renderer/lib/lazy'
export { usePoolsStore } from './poolsStore'
/** Loaded on first use (or when the shell preloads the screens after the first one is up): its own chunk. */
export const loadIpamView = lazyLoader(() => import('./IpamView.vue'))
export const IpamView = defineAsyncComponent(loadIpamView)
