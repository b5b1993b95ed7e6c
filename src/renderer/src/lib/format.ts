/**
 * Display helpers shared by the views and the status bar. Shared types by relative path, as everywhere in
 * lib/ (unit tests load these files without the renderer's aliases).
 */
import type { DatabaseTarget } from '../../../shared/types'

export function kindLabel(kind: DatabaseTarget['kind']): string {
  return kind === 'embedded' ? 'Embedded PostgreSQL' : 'PostgreSQL server'
}

export function originLabel(origin: DatabaseTarget['origin']): string {
  switch (origin) {
    case 'flag':
      return 'the --database-url option'
    case 'env':
      return 'the NETKEEPER_DATABASE_URL environment variable'
    case 'profile':
      return 'a saved connection (Settings › Connections)'
    case 'embedded':
      return 'the default (nothing else configured)'
  }
}

export function formatLatency(ms: number | undefined): string {
  if (ms === undefined) return '–'
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`
}

export function formatTime(iso: string | undefined): string {
  if (!iso) return '–'
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString()
}
