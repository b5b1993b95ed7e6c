/**
 * LIKE patterns that read the same whatever the server's settings. A pattern's escape character is written
 * in the SQL text as a string literal, and a backslash there depends on standard_conforming_strings: with
 * it on, '\' is a one-character string; with it off the backslash escapes the closing quote and the
 * literal never ends (a syntax error). `!` reads the same either way: the patterns escape with it, and the
 * value itself always travels as a bound parameter, which no string-literal rule touches.
 */

/** The ESCAPE clause to write after every LIKE / ILIKE whose pattern comes from likeText(). */
export const LIKE_ESCAPE = `escape '!'`

/** `s` matched literally inside a LIKE pattern (with LIKE_ESCAPE): %, _ and ! lose their meaning. */
export function likeText(s: string): string {
  return s.replace(/[!%_]/g, (c) => `!${c}`)
}
