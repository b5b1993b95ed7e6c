/**
 * Repeated failed sign-ins slow further attempts down, per profile and login name, across processes (the
 * app and every CLI run share the table) and restarts.
 *
 * The first FREE_FAILURES failures cost nothing; after that each attempt must wait 1 s, 2 s, 4 s ... up to
 * MAX_DELAY_S after the previous failure. An attempt claims its slot atomically (one UPDATE that succeeds
 * only when the wait is over and pushes the next allowed time forward), so parallel guesses cannot slip
 * through together. A success clears the record. The directory server's own lockout (ppolicy
 * pwdMaxFailure) still applies on top of this.
 */
import type { Knex } from '@mikro-orm/postgresql'

export const FREE_FAILURES = 3
export const MAX_DELAY_S = 300

export const delaySeconds = (failures: number): number => (failures < FREE_FAILURES ? 0 : Math.min(MAX_DELAY_S, 2 ** (failures - FREE_FAILURES)))

export interface Claim {
  allowed: boolean
  failures: number
  retryAfterMs: number
}

export class SignInThrottle {
  constructor(private readonly knex: Knex) {}

  static key(login: string): string {
    return login.trim().toLowerCase().slice(0, 1024)
  }

  async claim(profile: string, login: string): Promise<Claim> {
    const key = SignInThrottle.key(login)
    await this.knex.raw(`insert into directory_auth_throttle (profile, login) values (?, ?) on conflict do nothing`, [profile, key])
    const r = await this.knex.raw<{ rows: { failures: number }[] }>(
      `update directory_auth_throttle
          set not_before = case when failures >= ? then now() + make_interval(secs => least(?, power(2, failures - ?))) else not_before end
        where profile = ? and login = ? and (not_before is null or not_before <= now())
        returning failures`,
      [FREE_FAILURES, MAX_DELAY_S, FREE_FAILURES, profile, key]
    )
    if (r.rows[0]) return { allowed: true, failures: r.rows[0].failures, retryAfterMs: 0 }
    const w = await this.knex.raw<{ rows: { failures: number; wait_ms: number }[] }>(
      `select failures, greatest(0, ceil(extract(epoch from (not_before - now())) * 1000))::int as wait_ms
         from directory_auth_throttle where profile = ? and login = ?`,
      [profile, key]
    )
    return { allowed: false, failures: w.rows[0]?.failures ?? 0, retryAfterMs: w.rows[0]?.wait_ms ?? 0 }
  }

  async failed(profile: string, login: string): Promise<number> {
    const r = await this.knex.raw<{ rows: { failures: number }[] }>(
      `update directory_auth_throttle
          set failures = failures + 1, last_failure_at = now(),
              not_before = case when failures + 1 >= ? then now() + make_interval(secs => least(?, power(2, failures + 1 - ?))) else null end
        where profile = ? and login = ? returning failures`,
      [FREE_FAILURES, MAX_DELAY_S, FREE_FAILURES, profile, SignInThrottle.key(login)]
    )
    return r.rows[0]?.failures ?? 0
  }

  async succeeded(profile: string, login: string): Promise<void> {
    await this.knex.raw(`delete from directory_auth_throttle where profile = ? and login = ?`, [profile, SignInThrottle.key(login)])
  }
}
