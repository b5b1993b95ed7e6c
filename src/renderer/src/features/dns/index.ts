/** DNS and DHCP: the managed zones, a zone's records, drift between zones and allocations. */
export { default as DnsView } from './DnsView.vue'
