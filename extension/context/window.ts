/**
 * The current file's windows around the cursor: the prefix (text before it) and the suffix (text
 * after it), each within a token budget.
 *
 * The prefix window's start is what decides whether the engine's prefix cache helps: the engine
 * reuses the KV state of the longest token prefix it has seen, so as long as the window starts at
 * the same place, a keystroke re-prefills only the last few tokens. A window that always took
 * "the last N tokens" would slide by a token per keystroke and miss the cache every time. So the
 * start snaps to a grid of `blockTokens`-sized blocks counted from the top of the file (at line
 * starts), and is the first grid line from which the rest fits the budget: it moves only when the
 * text before the cursor has grown by a block, and then by a block at once. The window therefore
 * holds between (budget - block) and budget tokens.
 *
 * The suffix is re-prefilled on every keystroke whatever we do (it follows the cursor in the
 * prompt), so it gets a small budget; it ends at a line end.
 */

export interface TextWindow {
  /** Offsets into the document: [start, end). */
  start: number;
  end: number;
  text: string;
  /** Estimated tokens. */
  tokens: number;
}

export type Estimate = (text: string) => number;

export const DEFAULT_BLOCK_TOKENS = 512;

export function prefixWindow(doc: string, cursor: number, budgetTokens: number, estimate: Estimate, blockTokens = DEFAULT_BLOCK_TOKENS): TextWindow {
  const all = doc.slice(0, cursor);
  const allTokens = estimate(all);
  if (allTokens <= budgetTokens) return { start: 0, end: cursor, text: all, tokens: allTokens };
  if (budgetTokens <= 0) return { start: cursor, end: cursor, text: '', tokens: 0 };

  // Line starts before the cursor, with the estimated tokens before each.
  const starts: number[] = [0];
  const before: number[] = [0];
  for (let i = doc.indexOf('\n'); i >= 0 && i < cursor; i = doc.indexOf('\n', i + 1)) {
    before.push(before[before.length - 1]! + estimate(doc.slice(starts[starts.length - 1]!, i + 1)));
    starts.push(i + 1);
  }
  const last = starts.length - 1; // the cursor line
  const total = before[last]! + estimate(doc.slice(starts[last]!, cursor));

  // The first line from which the rest fits, then the first grid line at or after it.
  let ideal = last + 1;
  for (let lo = 0, hi = last; lo <= hi; ) {
    const mid = (lo + hi) >> 1;
    if (total - before[mid]! <= budgetTokens) {
      ideal = mid;
      hi = mid - 1;
    } else lo = mid + 1;
  }
  if (ideal <= last) {
    const gridTokens = Math.ceil(before[ideal]! / blockTokens) * blockTokens;
    let line = ideal;
    while (line <= last && before[line]! < gridTokens) line++;
    if (line <= last) {
      const start = starts[line]!;
      return { start, end: cursor, text: doc.slice(start, cursor), tokens: total - before[line]! };
    }
    // No grid line between the ideal start and the cursor: take the ideal line itself.
    const start = starts[ideal]!;
    return { start, end: cursor, text: doc.slice(start, cursor), tokens: total - before[ideal]! };
  }
  // The cursor line alone is over the budget: cut it by characters.
  const lineText = doc.slice(starts[last]!, cursor);
  const chars = Math.floor((budgetTokens * lineText.length) / Math.max(1, estimate(lineText)));
  const start = cursor - Math.min(chars, lineText.length);
  const text = doc.slice(start, cursor);
  return { start, end: cursor, text, tokens: estimate(text) };
}

export function suffixWindow(doc: string, cursor: number, budgetTokens: number, estimate: Estimate): TextWindow {
  const all = doc.slice(cursor);
  const allTokens = estimate(all);
  if (allTokens <= budgetTokens) return { start: cursor, end: doc.length, text: all, tokens: allTokens };
  let end = cursor;
  let tokens = 0;
  for (;;) {
    const nl = doc.indexOf('\n', end);
    const lineEnd = nl < 0 ? doc.length : nl + 1;
    const t = estimate(doc.slice(end, lineEnd));
    if (tokens + t > budgetTokens) break;
    tokens += t;
    end = lineEnd;
    if (lineEnd >= doc.length) break;
  }
  if (end === cursor && budgetTokens > 0) {
    // The rest of the cursor line alone is over the budget: cut it by characters.
    const nl = doc.indexOf('\n', cursor);
    const line = doc.slice(cursor, nl < 0 ? doc.length : nl);
    end = cursor + Math.floor((budgetTokens * line.length) / Math.max(1, estimate(line)));
    tokens = estimate(doc.slice(cursor, end));
  }
  return { start: cursor, end, text: doc.slice(cursor, end), tokens };
}
