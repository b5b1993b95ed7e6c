/** IPAM: pools, their subnet maps and allocations, and the address search. */
export { usePoolsStore } from './poolsStore'
export { default as IpamView } from './IpamView.vue'
