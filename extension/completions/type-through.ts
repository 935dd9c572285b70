/**
 * Type-through cache: when the user types the first characters of the suggestion that is showing,
 * the rest of it is still the right suggestion, so we answer from memory instead of asking the
 * engine again (no request, no latency, no flicker). The same holds for a repeated ask at the same
 * position (VS Code re-asks after some UI events).
 *
 * One entry (the last suggestion shown): it is valid only while the text before the place it was
 * shown is unchanged, the text typed since is a prefix of it, and the rest of the line after the
 * cursor is the same as when it was shown (an auto-closed bracket changes that, and the old
 * suggestion could then double it).
 */

export interface Shown {
  /** Document identity (the URI as a string). */
  uri: string;
  /** Offset of the cursor when the suggestion was shown. */
  offset: number;
  /** The suggestion text inserted at `offset`. */
  text: string;
  /** The last characters before `offset` then, to detect edits before the cursor. */
  before: string;
  /** The rest of the line after the cursor then. */
  lineSuffix: string;
}

const BEFORE_CHARS = 256;

export class TypeThroughCache {
  #last: Shown | undefined;

  /** Remember `text` as shown at `offset` in `docText`. */
  remember(uri: string, docText: string, offset: number, text: string): void {
    if (text.length === 0) {
      this.#last = undefined;
      return;
    }
    this.#last = { uri, offset, text, before: docText.slice(Math.max(0, offset - BEFORE_CHARS), offset), lineSuffix: lineSuffixAt(docText, offset) };
  }

  clear(): void {
    this.#last = undefined;
  }

  /** The rest of the last suggestion if the user has typed its start since; otherwise undefined. */
  lookup(uri: string, docText: string, offset: number): string | undefined {
    const s = this.#last;
    if (!s || s.uri !== uri || offset < s.offset) return undefined;
    if (docText.slice(Math.max(0, s.offset - s.before.length), s.offset) !== s.before) return undefined;
    const typed = docText.slice(s.offset, offset);
    if (!s.text.startsWith(typed)) return undefined;
    if (lineSuffixAt(docText, offset) !== s.lineSuffix) return undefined;
    const rest = s.text.slice(typed.length);
    return rest.length > 0 ? rest : undefined;
  }
}

function lineSuffixAt(text: string, offset: number): string {
  const nl = text.indexOf('\n', offset);
  return text.slice(offset, nl < 0 ? text.length : nl).replace(/\r$/, '');
}
