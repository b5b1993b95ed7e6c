/**
 * Which threshold crossings this installation has already been told about: a small JSON file in the data
 * folder (usage-alerts.json, 0600), pool id -> the level last notified. A pool that goes up a level is
 * reported once; one that drops below a level is forgotten for that level, so crossing it again notifies
 * again. Kept per installation, not in the database: every desktop on a shared server tells its own person.
 */
import fs from 'node:fs'
import path from 'node:path'
import type { PoolLevel, UsageAlerts, UsageLevel } from '../../../shared/usage'

const RANK: Record<UsageLevel, number> = { ok: 0, warn: 1, critical: 2 }

export class UsageAlertState {
  constructor(private readonly file: string) {}

  static inDataDir(dataDir: string): UsageAlertState {
    return new UsageAlertState(path.join(dataDir, 'usage-alerts.json'))
  }

  private read(): Record<string, UsageLevel> {
    try {
      const v = JSON.parse(fs.readFileSync(this.file, 'utf8')) as unknown
      if (!v || typeof v !== 'object') return {}
      const out: Record<string, UsageLevel> = {}
      for (const [k, l] of Object.entries(v as Record<string, unknown>)) if (l === 'warn' || l === 'critical') out[k] = l
      return out
    } catch {
      return {}
    }
  }

  private write(state: Record<string, UsageLevel>): void {
    const tmp = `${this.file}.${process.pid}.tmp`
    fs.writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 })
    fs.renameSync(tmp, this.file)
  }

  /** Compares the levels now with what was notified, remembers the new state, and says what to notify. */
  update(levels: PoolLevel[]): UsageAlerts {
    const before = this.read()
    const next: Record<string, UsageLevel> = {}
    const crossed: PoolLevel[] = []
    for (const l of levels) {
      if (l.level === 'ok') continue
      next[String(l.poolId)] = l.level
      if (RANK[l.level] > RANK[before[String(l.poolId)] ?? 'ok']) crossed.push(l)
    }
    const changed = Object.keys(next).length !== Object.keys(before).length || Object.entries(next).some(([k, l]) => before[k] !== l)
    if (changed) this.write(next)
    return { over: levels.filter((l) => l.level !== 'ok'), crossed }
  }
}
