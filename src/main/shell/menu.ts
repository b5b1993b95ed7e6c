/**
 * The native menu. View > Dashboard ... DNS & DHCP (Ctrl/Cmd+1..6) ask the focused window's page to switch
 * screens through NAVIGATE_EVENT; the list of screens and their labels come from src/shared/navigation.ts.
 * Help > Open log folder shows the folder of the main process's log (core/log.ts) in the file manager.
 */
import { app, Menu, shell, type BrowserWindow, type MenuItemConstructorOptions } from 'electron'
import { NAVIGATE_EVENT, VIEWS, type ViewId } from '../../shared/navigation'

export function buildAppMenu(opts: { currentWindow: () => BrowserWindow | undefined; dev: boolean; logFolder: string }): Menu {
  const isMac = process.platform === 'darwin'
  const navigate = (view: ViewId): void => {
    const win = opts.currentWindow()
    if (!win || win.isDestroyed()) return
    win.webContents.send(NAVIGATE_EVENT, view)
  }

  const views: MenuItemConstructorOptions[] = VIEWS.map((v, i) => ({
    label: v.label,
    accelerator: `CmdOrCtrl+${i + 1}`,
    click: () => navigate(v.id)
  }))

  const template: MenuItemConstructorOptions[] = [
    ...(isMac ? [{ role: 'appMenu' } as MenuItemConstructorOptions] : []),
    { label: '&File', submenu: [isMac ? { role: 'close' } : { role: 'quit' }] },
    { role: 'editMenu' },
    {
      label: '&View',
      submenu: [
        ...views,
        { type: 'separator' },
        { role: 'resetZoom' },
        { role: 'zoomIn' },
        { role: 'zoomOut' },
        { type: 'separator' },
        { role: 'togglefullscreen' },
        // Reload and the developer tools only in development: a reload mid-edit would lose a form.
        ...(opts.dev ? ([{ type: 'separator' }, { role: 'reload' }, { role: 'toggleDevTools' }] as MenuItemConstructorOptions[]) : [])
      ]
    },
    { role: 'windowMenu' },
    {
      role: 'help',
      submenu: [
        {
          label: 'Open &Log Folder',
          click: () =>
            void shell.openPath(opts.logFolder).then((problem) => {
              if (problem) console.warn(`[menu] could not open the log folder ${opts.logFolder}: ${problem}`)
            })
        },
        { type: 'separator' },
        { label: 'About Netkeeper', click: () => app.showAboutPanel() }
      ]
    }
  ]
  return Menu.buildFromTemplate(template)
}
