/** Sites, VLAN groups, VLANs, tags and custom field definitions: one read shared by the editors and the pickers. */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import type { IpamObjects, ObjectEdit } from '@shared/ipam-objects'
import { api } from '@renderer/api'
import { isQueued } from '@shared/offline'

export const useIpamObjects = defineStore('ipam-objects', () => {
  const data = ref<IpamObjects>({ sites: [], vlanGroups: [], vlans: [], tags: [], fields: [] })
  const loaded = ref(false)

  async function load(): Promise<void> {
    data.value = await api['ipam:objects']({})
    loaded.value = true
  }

  /** Runs one edit and reloads; returns false when it was queued (the database is unreachable). */
  async function edit(e: ObjectEdit): Promise<boolean> {
    const r = await api['ipam:object:edit'](e)
    await load().catch(() => undefined)
    return !isQueued(r)
  }

  return { data, loaded, load, edit }
})
