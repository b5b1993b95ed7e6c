import os from 'node:os'
import path from 'node:path'

/**
 * The data folder: `NETKEEPER_DATA_DIR` when set; otherwise the Electron userData folder (passed in by the
 * shell) or, for the CLI, the platform's per-user data folder. The CLI's default is the same folder Electron
 * uses for an app named "Netkeeper", so the app and the CLI see the same embedded database and settings.
 */
export function resolveDataDir(electronUserData?: string): string {
  const fromEnv = process.env.NETKEEPER_DATA_DIR
  if (fromEnv && fromEnv.trim()) return path.resolve(fromEnv)
  if (electronUserData) return electronUserData
  return platformDataDir()
}

export function platformDataDir(): string {
  const home = os.homedir()
  switch (process.platform) {
    case 'win32':
      return path.join(process.env.APPDATA || path.join(home, 'AppData', 'Roaming'), 'Netkeeper')
    case 'darwin':
      return path.join(home, 'Library', 'Application Support', 'Netkeeper')
    default:
      return path.join(process.env.XDG_CONFIG_HOME || path.join(home, '.config'), 'Netkeeper')
  }
}

/**
 * The platform's per-user cache folder for Netkeeper: what may be deleted at any time (the CLI's compiled
 * code cache, cli/program.ts). Beside the data folder, never in it: a backup of the data has no use for it.
 */
export function platformCacheDir(): string {
  const home = os.homedir()
  switch (process.platform) {
    case 'win32':
      return path.join(process.env.LOCALAPPDATA || path.join(home, 'AppData', 'Local'), 'Netkeeper', 'Cache')
    case 'darwin':
      return path.join(home, 'Library', 'Caches', 'Netkeeper')
    default:
      return path.join(process.env.XDG_CACHE_HOME || path.join(home, '.cache'), 'Netkeeper')
  }
}
