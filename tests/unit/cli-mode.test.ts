/** How the packaged app decides between its GUI and its command line (src/main/shell/cli-mode.ts). */
import { describe, expect, it } from 'vitest'
import { CLI_FLAG, cliArguments } from '../../src/main/shell/cli-mode'

const packaged = (args: string[], env: Record<string, string> = {}, binary = '/opt/Netkeeper/netkeeper'): string[] | null =>
  cliArguments({ argv: [binary, ...args], defaultApp: false, env })

describe('cliArguments', () => {
  it('is the command line when --netkeeper-cli is the first argument, and passes the rest on untouched', () => {
    expect(packaged([CLI_FLAG, 'pool', 'list', '--json'])).toEqual(['pool', 'list', '--json'])
    expect(packaged([CLI_FLAG])).toEqual([])
    expect(packaged([CLI_FLAG, '--version'])).toEqual(['--version'])
    // What follows is the CLI's, even a second flag, a `--` or an empty argument.
    expect(packaged([CLI_FLAG, 'entry', 'show', '--', CLI_FLAG, ''])).toEqual(['entry', 'show', '--', CLI_FLAG, ''])
  })

  it('skips the Chromium switches a wrapper or the AppImage runtime put before the flag', () => {
    expect(packaged(['--ozone-platform=headless', '--disable-gpu', CLI_FLAG, 'db', 'status'])).toEqual(['db', 'status'])
    expect(packaged(['--no-sandbox', CLI_FLAG, '-V'])).toEqual(['-V'])
  })

  it('is the GUI otherwise: no arguments, a link, a switch alone, or the flag after a non-switch', () => {
    expect(packaged([])).toBeNull()
    expect(packaged(['netkeeper://ip/10.0.0.7'])).toBeNull()
    expect(packaged(['--profile=lab'])).toBeNull()
    expect(packaged(['netkeeper://pool/lan', CLI_FLAG])).toBeNull()
    expect(packaged(['--', CLI_FLAG])).toBeNull()
  })

  it('in development (`electron <app path> ...`) the app path is not an argument', () => {
    expect(cliArguments({ argv: ['/x/electron', '.', CLI_FLAG, 'pool', 'list'], defaultApp: true, env: {} })).toEqual(['pool', 'list'])
    expect(cliArguments({ argv: ['/x/electron', '.'], defaultApp: true, env: {} })).toBeNull()
    // Without defaultApp the same argv is a GUI launch with a path argument.
    expect(cliArguments({ argv: ['/x/electron', '.', CLI_FLAG], defaultApp: false, env: {} })).toBeNull()
  })

  it('is the command line when started as netkeeper-cli (a link to the binary), on any platform', () => {
    expect(packaged(['pool', 'list'], {}, '/usr/local/bin/netkeeper-cli')).toEqual(['pool', 'list'])
    expect(packaged([], {}, 'C:\\Tools\\netkeeper-cli.exe')).toEqual([])
    expect(packaged([CLI_FLAG, 'pool'], {}, '/usr/local/bin/netkeeper-cli')).toEqual(['pool'])
    // The app's own binary names are the GUI.
    expect(packaged(['pool'], {}, '/opt/Netkeeper/netkeeper')).toBeNull()
    expect(packaged([], {}, 'C:\\Program Files\\Netkeeper\\Netkeeper.exe')).toBeNull()
  })

  it('an AppImage started through a link named netkeeper is the command line (the runtime passes ARGV0)', () => {
    const appImage = { APPIMAGE: '/home/me/Apps/Netkeeper-0.1.0-linux-x86_64.AppImage' }
    const mounted = '/tmp/.mount_NetkeeXYZ/netkeeper'
    expect(packaged(['pool', 'list'], { ...appImage, ARGV0: '/home/me/.local/bin/netkeeper' }, mounted)).toEqual(['pool', 'list'])
    expect(packaged(['-V'], { ...appImage, ARGV0: 'netkeeper-cli' }, mounted)).toEqual(['-V'])
    // Started by its own file name (the desktop entry, a double click): the GUI, links included.
    expect(packaged(['netkeeper://ip/10.0.0.7'], { ...appImage, ARGV0: '/home/me/Apps/Netkeeper-0.1.0-linux-x86_64.AppImage' }, mounted)).toBeNull()
    // ARGV0 means nothing outside an AppImage.
    expect(packaged(['pool'], { ARGV0: 'netkeeper' })).toBeNull()
  })
})
