/**
 * The native edit menu for text: Electron shows no context menu of its own. The page draws its own menu for
 * values (addresses, DNs, hashes, rows) and calls preventDefault on those right-clicks, so Chromium never
 * reports them here; what does reach this handler is a right-click on a text field or on selected text, which
 * gets the standard Undo/Redo/Cut/Copy/Paste/Select All, enabled as the field allows.
 */
import { Menu, type BrowserWindow, type ContextMenuParams, type MenuItemConstructorOptions } from 'electron'

export function editMenuTemplate(params: Pick<ContextMenuParams, 'isEditable' | 'selectionText' | 'editFlags'>): MenuItemConstructorOptions[] {
  const f = params.editFlags
  if (params.isEditable) {
    return [
      { role: 'undo', enabled: f.canUndo },
      { role: 'redo', enabled: f.canRedo },
      { type: 'separator' },
      { role: 'cut', enabled: f.canCut },
      { role: 'copy', enabled: f.canCopy },
      { role: 'paste', enabled: f.canPaste },
      { type: 'separator' },
      { role: 'selectAll', enabled: f.canSelectAll }
    ]
  }
  if (params.selectionText.trim()) return [{ role: 'copy', enabled: f.canCopy }, { type: 'separator' }, { role: 'selectAll' }]
  return []
}

export function installEditMenu(win: BrowserWindow): void {
  win.webContents.on('context-menu', (_event, params) => {
    const template = editMenuTemplate(params)
    if (template.length) Menu.buildFromTemplate(template).popup({ window: win })
  })
}
