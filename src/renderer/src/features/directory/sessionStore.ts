/**
 * The directory session as the core reports it (auth:session), the LDAP profiles a person can sign in to,
 * and the idle lock. The core locks an idle session itself (the profile's idleLockMinutes without a
 * directory request); this store asks for the status every 20 s while signed in so the lock screen appears
 * without waiting for the next directory call to be refused.
 *
 * IPAM and the audit log do not need a directory sign-in (the desktop user configures the app), unless an
 * admin has required one on the database (`gated`: App.vue then shows only the sign-in screen).
 */
import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import type { LdapProfileDto, SessionDto } from '@shared/directory'
import { api } from '@renderer/api'
import { userMessage } from '@renderer/lib/errors'

export const SESSION_POLL_MS = 20_000

const SIGNED_OUT: SessionDto = {
  signInRequired: false,
  roleWithoutSession: null,
  signedIn: false,
  profile: null,
  dn: null,
  login: null,
  role: null,
  locked: false,
  startedAt: null,
  lastActivityAt: null,
  idleLockMinutes: null,
  viaGroups: []
}

export const useSessionStore = defineStore('session', () => {
  const session = ref<SessionDto>(SIGNED_OUT)
  const profiles = ref<LdapProfileDto[]>([])
  const profilesLoaded = ref(false)
  const profilesError = ref<string>()
  /** Bumped on every sign-in, sign-out and unlock: directory screens reload when it changes. */
  const generation = ref(0)

  const signedIn = computed(() => session.value.signedIn)
  const locked = computed(() => session.value.signedIn && session.value.locked)
  const active = computed(() => session.value.signedIn && !session.value.locked)
  const canWrite = computed(() => active.value && (session.value.role === 'admin' || session.value.role === 'operator'))
  /**
   * The role this app's requests run with now: the signed-in person's, else the one without a session
   * (the database login's, SessionDto.roleWithoutSession); null until the first answer. The core and the
   * server decide; screens use it to hide or disable what would be refused (mayAct).
   */
  const role = computed(() => (session.value.signedIn ? session.value.role : session.value.roleWithoutSession))
  /** Whether the current role reaches `needed` (viewer < operator < admin). */
  function mayAct(needed: 'operator' | 'admin'): boolean {
    const rank = { viewer: 0, operator: 1, admin: 2 } as const
    const r = role.value
    return !!r && rank[r] >= rank[needed]
  }
  /** The database requires a directory sign-in and nobody is signed in: the app shows only the sign-in screen. */
  const gated = computed(() => session.value.signInRequired && !session.value.signedIn)
  const defaultProfile = computed(() => profiles.value.find((p) => p.isDefault)?.name ?? profiles.value[0]?.name)

  function set(s: SessionDto): void {
    const changed = s.signedIn !== session.value.signedIn || s.locked !== session.value.locked || s.login !== session.value.login
    session.value = s
    if (changed) generation.value++
    // Polled all along: the idle lock while signed in; signed out, whether an admin has meanwhile required a
    // sign-in on the database (auth:session is answered by this app's own core, no directory traffic).
    startPolling()
  }

  async function refresh(): Promise<void> {
    try {
      set(await api['auth:session']({}))
    } catch {
      /* the status bar already says when the application does not answer */
    }
  }

  async function loadProfiles(): Promise<void> {
    try {
      profiles.value = await api['directory:profile:list']({})
      profilesError.value = undefined
    } catch (e) {
      profilesError.value = userMessage(e)
    } finally {
      profilesLoaded.value = true
    }
  }

  async function signIn(profile: string, user: string, password: string): Promise<SessionDto> {
    const s = await api['auth:signin']({ profile, user, password })
    set(s)
    return s
  }

  async function signOut(): Promise<void> {
    set(await api['auth:signout']({}))
  }

  async function lock(): Promise<void> {
    set(await api['auth:lock']({}))
  }

  async function unlock(password: string): Promise<void> {
    set(await api['auth:unlock']({ password }))
  }

  /**
   * A directory call refused because the session locked or ended meanwhile: re-read the status so the lock
   * screen (or the sign-in form) takes over. Returns true when that was the reason.
   */
  async function handleRefusal(e: unknown): Promise<boolean> {
    const kind = (e as { details?: { kind?: unknown } })?.details?.kind
    if (kind === 'locked' || kind === 'no-session' || kind === 'sign-in-required') {
      await refresh()
      return true
    }
    return false
  }

  let timer: ReturnType<typeof setInterval> | undefined
  function startPolling(): void {
    if (timer) return
    timer = setInterval(() => {
      if (document.visibilityState === 'visible') void refresh()
    }, SESSION_POLL_MS)
  }
  function stopPolling(): void {
    if (timer) clearInterval(timer)
    timer = undefined
  }

  return {
    session,
    profiles,
    profilesLoaded,
    profilesError,
    generation,
    signedIn,
    locked,
    active,
    canWrite,
    role,
    mayAct,
    gated,
    defaultProfile,
    refresh,
    loadProfiles,
    signIn,
    signOut,
    lock,
    unlock,
    handleRefusal,
    startPolling,
    stopPolling
  }
})
