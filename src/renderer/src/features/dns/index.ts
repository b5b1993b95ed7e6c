/** DNS and DHCP: the managed zones, a zone's records, drift between zones and allocations. */
import { defineAsyncComponent } from 'vue'
import { lazyLoader } from '@renderer/lib/lazy'
/** Loaded on first use (or when the shell preloads the screens after the first one is up): its own chunk. */
export const loadDnsView = lazyLoader(() => import('./DnsView.vue'))
export const DnsView = defineAsyncComponent(loadDnsView)
