/**
 * Writes text to the clipboard: the async Clipboard API (the Electron shell grants its page the sanitized
 * write, and nothing else; a browser grants it on loopback), with the old execCommand as the fallback for a
 * page without focus or permission. Returns whether the text got there.
 */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text)
    return true
  } catch {
    const area = document.createElement('textarea')
    area.value = text
    area.setAttribute('readonly', '')
    area.style.position = 'fixed'
    area.style.opacity = '0'
    document.body.appendChild(area)
    area.select()
    let ok = false
    try {
      ok = document.execCommand('copy')
    } catch {
      ok = false
    }
    area.remove()
    return ok
  }
}
