/**
 * A chat code block's text has no final newline (the view sends what the block shows). Inserting
 * or applying it must not glue the next line onto the code: these put the newline back where the
 * place it goes needs one. Pure, for unit tests.
 */

/** Code inserted at a cursor: a newline when it goes at the start of a line that has text after it. */
export function codeForInsert(code: string, at: { column: number; restOfLine: string }): string {
  if (!code || code.endsWith('\n')) return code;
  return at.column === 0 && at.restOfLine.trim() !== '' ? `${code}\n` : code;
}

/** Code replacing `replaced` (a selection or a whole file): keeps the line end the replaced text had. */
export function codeForReplace(code: string, replaced: string): string {
  if (!code || code.endsWith('\n')) return code;
  const end = /\r?\n$/.exec(replaced)?.[0];
  return end ? code + end : code;
}
