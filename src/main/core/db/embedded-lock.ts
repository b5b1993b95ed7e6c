/**
 * PGlite keeps its data folder open in one process only. A lock file with the owner's pid makes a second
 * process (the CLI while the app runs, say) fail with a clear message instead of corrupting the store.
 */
import fs from 'node:fs'
import path from 'node:path'
import { AppError } from '../../../shared/errors'

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export async function acquireEmbeddedLock(pgDataDir: string, waitMs = 5_000): Promise<() => void> {
  fs.mkdirSync(path.dirname(pgDataDir), { recursive: true, mode: 0o700 })
  const lockFile = `${pgDataDir}.lock`
  const deadline = Date.now() + waitMs
  for (;;) {
    try {
      const fd = fs.openSync(lockFile, 'wx', 0o600)
      fs.writeSync(fd, String(process.pid))
      fs.closeSync(fd)
      let released = false
      const release = (): void => {
        if (released) return
        released = true
        try {
          if (fs.readFileSync(lockFile, 'utf8') === String(process.pid)) fs.unlinkSync(lockFile)
        } catch {
          /* already gone */
        }
      }
      process.once('exit', release)
      return release
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
    }
    const owner = Number(fs.readFileSync(lockFile, 'utf8').trim())
    if (!Number.isInteger(owner) || owner <= 0 || !alive(owner)) {
      // A crashed process left its lock behind: take it over.
      fs.rmSync(lockFile, { force: true })
      continue
    }
    if (Date.now() >= deadline) {
      throw new AppError(
        'UNAVAILABLE',
        `the embedded database in ${pgDataDir} is in use by another Netkeeper process (pid ${owner}). ` +
          'Close it, or point both at a shared PostgreSQL server (NETKEEPER_DATABASE_URL or a saved profile).'
      )
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}
