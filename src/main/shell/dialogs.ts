/**
 * Native file dialogs for the handler table (src/main/ipc/file-export.ts): the audit export's save dialog
 * and the import wizard's "Choose file…". Modal to the window that asked, starting in the Downloads
 * folder for a save. The chosen path goes back to the core; nothing here reads or writes the file.
 */
import path from 'node:path'
import { app, dialog, type BrowserWindow, type OpenDialogOptions, type SaveDialogOptions } from 'electron'
import type { FileDialogs } from '../ipc/file-export'

export function nativeFileDialogs(currentWindow: () => BrowserWindow | undefined): FileDialogs {
  const parent = (): BrowserWindow | undefined => {
    const win = currentWindow()
    return win && !win.isDestroyed() ? win : undefined
  }
  return {
    async chooseSaveFile({ title, defaultName, filters }) {
      const opts: SaveDialogOptions = {
        title,
        defaultPath: path.join(app.getPath('downloads'), defaultName),
        filters,
        properties: ['createDirectory', 'showOverwriteConfirmation']
      }
      const win = parent()
      const r = win ? await dialog.showSaveDialog(win, opts) : await dialog.showSaveDialog(opts)
      return r.canceled || !r.filePath ? null : { file: r.filePath }
    },
    async chooseOpenFile({ title, filters }) {
      const opts: OpenDialogOptions = { title, filters, properties: ['openFile'] }
      const win = parent()
      const r = win ? await dialog.showOpenDialog(win, opts) : await dialog.showOpenDialog(opts)
      return r.canceled || !r.filePaths[0] ? null : r.filePaths[0]
    }
  }
}
