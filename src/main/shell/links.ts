/**
 * `netkeeper://` links into the running app: registration as the OS handler of the scheme, the link of a
 * first launch, a second launch's link (handed over through the single-instance lock) and macOS's open-url,
 * all delivered to the main window's page through OPEN_LINK_EVENT once it has loaded (queued until then).
 * The page parses the link again (src/shared/palette.ts parseLink); nothing here opens anything itself.
 */
import path from 'node:path'
import type { App, BrowserWindow } from 'electron'
import { LINK_SCHEME, linkInArgv, parseLink } from '../../shared/palette'
import { OPEN_LINK_EVENT } from '../../shared/navigation'

export class LinkHandOver {
  private readonly pending: string[] = []
  private target: BrowserWindow | undefined
  private loaded = false

  /** `focus`: brings the main window to the front (a link from outside means the person wants to see it). */
  constructor(private readonly focus: () => void) {}

  /** Registers the app as the scheme's handler (a development run passes its entry script, as Electron documents). */
  static register(app: App): boolean {
    if (process.defaultApp && process.argv.length >= 2) {
      return app.setAsDefaultProtocolClient(LINK_SCHEME, process.execPath, [path.resolve(process.argv[1]!)])
    }
    return app.setAsDefaultProtocolClient(LINK_SCHEME)
  }

  /** The window whose page gets the links; queued links go out once its page has finished loading. */
  attach(win: BrowserWindow): void {
    this.target = win
    this.loaded = false
    win.webContents.on('did-finish-load', () => {
      if (this.target !== win) return
      this.loaded = true
      this.flush()
    })
    win.on('closed', () => {
      if (this.target === win) this.target = undefined
    })
  }

  /** A command line (the first launch's, or a second launch's): hands over its link, if it has one. */
  fromArgv(argv: readonly string[]): boolean {
    const link = linkInArgv(argv)
    if (link) this.open(link)
    return link !== undefined
  }

  /** One link; anything that is not a well-formed Netkeeper link is dropped (and logged). */
  open(link: string): void {
    if (!parseLink(link)) {
      console.warn(`[links] ignored a link that is not a Netkeeper link: ${JSON.stringify(link.slice(0, 200))}`)
      return
    }
    console.info(`[links] opening ${link}`)
    this.pending.push(link)
    this.flush()
    this.focus()
  }

  private flush(): void {
    const win = this.target
    if (!win || win.isDestroyed() || !this.loaded) return
    for (const link of this.pending.splice(0)) win.webContents.send(OPEN_LINK_EVENT, link)
  }
}
