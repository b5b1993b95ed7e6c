declare const __APP_VERSION__: string | undefined

/** The version `netkeeper --version` prints: the package's, written into the build. */
export function cliVersion(): string {
  return typeof __APP_VERSION__ === 'string' ? __APP_VERSION__ : (process.env.npm_package_version ?? '0.1.0')
}
