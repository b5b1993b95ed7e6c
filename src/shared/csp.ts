/**
 * The renderer's Content Security Policy, in one place: the meta tag in src/renderer/index.html must carry
 * exactly RENDERER_CSP (the renderer build fails otherwise), and the Electron shell and the browser harness
 * send RESPONSE_CSP as a header. No inline scripts, no eval, no remote anything; inline styles are allowed
 * because Vue binds `style` attributes.
 */
export const RENDERER_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'none'"

/** frame-ancestors only works as a header, so it is added here and not in the meta tag. */
export const RESPONSE_CSP = `${RENDERER_CSP}; frame-ancestors 'none'`
