/**
 * The text side of a proposed edit, without 'vscode': the proposed document (the current text with
 * the range replaced), and where the range has moved to after the user edited the document while
 * the proposal was open (preview.ts re-offers the proposal there instead of applying it blindly).
 */

/** An edit of the document as VS Code reports it: `length` characters at `offset` replaced by `text`. */
export interface TextChange {
  offset: number;
  length: number;
  text: string;
}

/** `text` with [start, end) replaced by `newText` (offsets clamped to the text). */
export function spliceText(text: string, start: number, end: number, newText: string): string {
  const a = Math.max(0, Math.min(start, text.length));
  const b = Math.max(a, Math.min(end, text.length));
  return text.slice(0, a) + newText + text.slice(b);
}

/**
 * [start, end) after `changes`, applied one after the other (each against the text the previous
 * ones left, as VS Code's contentChanges are). A change wholly before the range shifts it (an
 * insertion right at its start counts as before), one wholly after leaves it; one that overlaps it
 * makes the proposal meaningless: undefined.
 */
export function mapRange(start: number, end: number, changes: readonly TextChange[]): { start: number; end: number } | undefined {
  let s = start;
  let e = end;
  for (const c of changes) {
    const cEnd = c.offset + c.length;
    if (cEnd <= s) {
      const delta = c.text.length - c.length;
      s += delta;
      e += delta;
    } else if (c.offset >= e) {
      // after the range: nothing moves
    } else {
      return undefined;
    }
  }
  return { start: s, end: e };
}
