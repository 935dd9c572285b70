/**
 * Post-processing of the engine's raw completion before it is shown. Each rule is its own exported
 * function (tested one by one); `postprocess` runs them in order. Rules never add text the model
 * did not write; they only cut or drop it.
 *
 * 1. single line unless the cursor is at a "multi-line position" (`isMultilinePosition`);
 * 2. trim runaway repetition (the same line again and again, a block repeated, a phrase looping
 *    up to the token limit);
 * 3. when the token limit cut a multi-line suggestion, drop its unfinished last line;
 * 4. drop a suggestion that repeats what is already after the cursor (the rest of the line or the
 *    next lines), and cut trailing lines that duplicate the next lines of the document;
 * 5. keep brackets balanced: cut before a closer that closes nothing the prefix opened, drop
 *    trailing closers the rest of the line already provides, and cut a multi-line suggestion back
 *    to the last line where its own brackets are closed;
 * 6. no trailing whitespace; whitespace-only suggestions are dropped.
 */

/** Characters that may sit right of the cursor while a multi-line suggestion is still allowed. */
const CLOSING_ONLY = /^[\s)\]}>'"`;,]*$/;

/**
 * Multi-line suggestions only where nothing but closing characters and whitespace follow the
 * cursor on its line: in the middle of a line, a newline would split the user's code.
 */
export function isMultilinePosition(lineSuffix: string): boolean {
  return CLOSING_ONLY.test(lineSuffix);
}

/** The leading whitespace of the cursor line: the engine's indentation stop for multi-line suggestions. */
export function lineIndent(line: string): string {
  return /^[ \t]*/.exec(line)![0];
}

export interface PostprocessContext {
  multiline: boolean;
  /** The document text before the cursor (the prefix window is enough). */
  prefix: string;
  /** The rest of the cursor line after the cursor. */
  lineSuffix: string;
  /** The lines after the cursor line (a few are enough). */
  nextLines: string[];
  /** The engine stopped at maxTokens (the last line may be unfinished). */
  truncated: boolean;
}

export function postprocess(raw: string, ctx: PostprocessContext): string {
  let text = raw.replace(/\r\n/g, '\n');
  if (!ctx.multiline) text = firstLine(text);
  text = trimRepetition(text);
  if (ctx.multiline && ctx.truncated) text = dropUnfinishedLastLine(text);
  text = dropSuffixRepeats(text, ctx.lineSuffix, ctx.nextLines);
  text = balanceBrackets(text, ctx.prefix, ctx.lineSuffix, ctx.multiline);
  text = text.replace(/\s+$/, '');
  return text.trim().length === 0 ? '' : text;
}

export function firstLine(text: string): string {
  const nl = text.indexOf('\n');
  return nl < 0 ? text : text.slice(0, nl);
}

// ---- 2. runaway repetition ------------------------------------------------------------------

/** A line with something beyond brackets and punctuation (a lone `}` may legitimately repeat). */
const substantial = (line: string) => /[A-Za-z0-9_]/.test(line) && line.trim().length >= 3;

/**
 * Cuts repetition that the model fell into:
 * - the same substantial line three or more times in a row: keep the first;
 * - a block of two or more lines immediately repeated (with at least 12 non-blank characters): keep the first copy;
 * - a phrase with a letter or digit in it looping four or more times up to the very end of the text
 *   (generation ran into the token limit inside the loop): keep the first occurrence.
 */
export function trimRepetition(text: string): string {
  const lines = text.split('\n');
  for (let i = 2; i < lines.length; i++) {
    const l = lines[i]!.trim();
    if (substantial(l) && l === lines[i - 1]!.trim() && l === lines[i - 2]!.trim()) return lines.slice(0, i - 1).join('\n');
  }
  for (let k = 2; k <= Math.floor(lines.length / 2); k++) {
    for (let i = 0; i + 2 * k <= lines.length; i++) {
      const a = lines.slice(i, i + k);
      const b = lines.slice(i + k, i + 2 * k);
      if (a.join('\n').replace(/\s/g, '').length >= 12 && a.every((l, j) => l.trimEnd() === b[j]!.trimEnd())) {
        return lines.slice(0, i + k).join('\n');
      }
    }
  }
  return trimTrailingLoop(text);
}

/**
 * A phrase with a letter or digit looping (period 2..40 characters, four or more copies) up to the
 * end of the text, possibly ending mid-copy ("foo bar foo bar foo ba"): keep the first copy.
 */
function trimTrailingLoop(text: string): string {
  for (let unit = 2; unit <= 40 && unit * 4 <= text.length; unit++) {
    // Walk back while the text is periodic with this period.
    let i = text.length - 1;
    while (i - unit >= 0 && text[i] === text[i - unit]) i--;
    const loopStart = i + 1 - unit;
    const span = text.length - loopStart;
    if (span >= 4 * unit && /[A-Za-z0-9]/.test(text.slice(loopStart, loopStart + unit))) return text.slice(0, loopStart + unit);
  }
  return text;
}

// ---- 3. unfinished last line ----------------------------------------------------------------

/** Drop the last line of a multi-line suggestion that the token limit cut (kept when it is the only line). */
export function dropUnfinishedLastLine(text: string): string {
  const nl = text.lastIndexOf('\n');
  return nl < 0 ? text : text.slice(0, nl);
}

// ---- 4. repeating what follows ------------------------------------------------------------------

const squash = (s: string) => s.replace(/\s+/g, '');

/**
 * - The whole suggestion already follows the cursor (the rest of the line, or the rest of the line
 *   and the next lines, whitespace aside): drop it.
 * - Its first line (after the cursor line) equals the next non-blank line: the model is re-typing
 *   the next line; drop it.
 * - Its last lines equal the next lines of the document (indentation included) and one of them is
 *   substantial: cut them (the model wrote the code that comes next once more).
 */
export function dropSuffixRepeats(text: string, lineSuffix: string, nextLines: string[]): string {
  const t = squash(text);
  if (t.length === 0) return text;
  const following = squash([lineSuffix, ...nextLines.slice(0, 20)].join('\n'));
  if (following.startsWith(t)) return '';
  const lines = text.split('\n');
  const nextNonBlank = nextLines.filter((l) => l.trim().length > 0);
  const firstNew = lines.length > 1 && lines[0]!.trim() === '' ? lines.find((l, i) => i > 0 && l.trim().length > 0) : undefined;
  if (firstNew !== undefined && nextNonBlank.length > 0 && substantial(firstNew) && firstNew.trim() === nextNonBlank[0]!.trim()) return '';
  // Longest tail of the suggestion that equals the head of the next lines (blank lines skipped on both sides).
  const next = nextLines.map((l) => l.trimEnd());
  for (let m = Math.min(lines.length - 1, next.length); m >= 1; m--) {
    const tail = lines.slice(lines.length - m).map((l) => l.trimEnd());
    const head = next.slice(0, m);
    if (tail.every((l, i) => l === head[i]) && tail.some(substantial)) {
      return lines.slice(0, lines.length - m).join('\n');
    }
  }
  return text;
}

// ---- 5. brackets ----------------------------------------------------------------------------

const OPEN: Record<string, string> = { '(': ')', '[': ']', '{': '}' };
const CLOSE: Record<string, string> = { ')': '(', ']': '[', '}': '{' };

/**
 * Scans code for brackets, skipping string literals and line comments (roughly: quotes on one
 * line, `//` and `#` comments). `onBracket` sees each bracket and may stop the scan by returning
 * false. Returns the open-bracket stack at the end.
 */
function scanBrackets(text: string, stack: string[], onBracket?: (ch: string, index: number, matched: boolean) => boolean): string[] {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote || (ch === '\n' && quote !== '`')) quote = null;
      continue;
    }
    if (ch === '"' || ch === "'" || ch === '`') {
      quote = ch;
      continue;
    }
    if ((ch === '/' && text[i + 1] === '/') || (ch === '#' && (i === 0 || /\s/.test(text[i - 1]!)))) {
      const nl = text.indexOf('\n', i);
      if (nl < 0) break;
      i = nl - 1;
      continue;
    }
    if (ch in OPEN) {
      stack.push(ch);
      if (onBracket && !onBracket(ch, i, true)) break;
    } else if (ch in CLOSE) {
      const matched = stack.length > 0 && stack[stack.length - 1] === CLOSE[ch];
      if (onBracket && !onBracket(ch, i, matched)) break;
      if (matched) stack.pop();
    }
  }
  return stack;
}

/** The brackets left open at the end of `prefix`, innermost last. */
export function openBrackets(prefix: string): string[] {
  return scanBrackets(prefix, []);
}

/**
 * - Cut the suggestion before a closer that matches nothing open (it would unbalance the code).
 * - Drop closers at the end of the suggestion that the rest of the line then leaves unmatched
 *   (the model typed the `)` that is already right of the cursor).
 * - Multi-line: if the suggestion leaves brackets of its own open, cut back to the end of the last
 *   line where it had closed all of them (when there is such a line).
 */
export function balanceBrackets(text: string, prefix: string, lineSuffix: string, multiline: boolean): string {
  const base = openBrackets(prefix);
  let cut = text.length;
  scanBrackets(text, [...base], (_ch, i, matched) => {
    if (matched || !(_ch in CLOSE)) return true;
    cut = i;
    return false;
  });
  let out = text.slice(0, cut);
  if (cut < text.length) out = out.replace(/[ \t]+$/, '');

  // Trailing closers duplicated by the line suffix.
  const unmatchedIn = (s: string, stack: string[]) => {
    let n = 0;
    scanBrackets(s, stack, (ch, _i, matched) => {
      if (ch in CLOSE && !matched) n++;
      return true;
    });
    return n;
  };
  const before = unmatchedIn(lineSuffix, [...base]);
  for (;;) {
    const trimmed = out.replace(/\s+$/, '');
    const last = trimmed[trimmed.length - 1];
    if (last === undefined || !(last in CLOSE)) break;
    const after = unmatchedIn(lineSuffix, scanBrackets(out, [...base]));
    if (after <= before) break;
    out = trimmed.slice(0, -1);
  }

  if (multiline && out.includes('\n') && scanBrackets(out, []).length > 0) {
    const lines = out.split('\n');
    const stack: string[] = [];
    let depthZeroAt = -1;
    for (let i = 0; i < lines.length; i++) {
      scanBrackets(`${lines[i]!}\n`, stack);
      if (stack.length === 0) depthZeroAt = i;
    }
    if (depthZeroAt >= 0) out = lines.slice(0, depthZeroAt + 1).join('\n');
  }
  return out;
}
