/**
 * Streaming stop detection while decoding. Each step the caller pushes the sampled id and its
 * decoded text delta; the detector says what text is safe to show now and whether to stop.
 *
 * Rules, checked on the text not yet emitted (`pending`):
 * - Stop ids (EOS, end-of-turn, FIM markers): stop; that token's text is dropped, text held back
 *   before it is released (it can no longer become a stop string).
 * - Stop strings may straddle tokens ("</co" + "de>"), so any tail of the text that is the start of
 *   a stop string is held back until it is known not to be one. A stop fires as soon as a stop
 *   string is complete; the earliest-starting complete match wins (the longest on a tie). The text
 *   before it is emitted, the stop string and anything after it are not.
 * - Indentation (completions): after the first line, a non-blank line indented less than the cursor
 *   line ends the block. The completion then ends at the end of the last non-blank line that still
 *   belonged to it: no trailing newline, and trailing blank lines dropped. Because that can only be
 *   decided once the next line's first non-blank character arrives, a newline (with any blank lines
 *   and indentation after it) is held back until then. Blank lines inside the block never stop it.
 * If both a stop string and an indentation stop apply, the one that cuts earlier wins.
 *
 * Nothing emitted is ever taken back: emitted text never ends in a possible stop-string start, so
 * a stop string always lies wholly inside the pending text.
 */

export interface IndentRule {
  /** The cursor line's leading whitespace: spaces and tabs only. */
  cursorIndent: string;
  /** Tab stops every this many columns (a tab advances to the next stop). Default 4. */
  tabWidth?: number;
}

export interface StopOptions {
  stopStrings?: readonly string[];
  stopIds?: Iterable<number>;
  indent?: IndentRule;
}

export type StopReason = 'string' | 'id' | 'indent';

export interface StopStep {
  /** Text safe to show now (possibly empty). When `stop` is true this is the last of it. */
  text: string;
  stop: boolean;
  reason?: StopReason;
  /** The stop string that matched, when reason is 'string'. */
  stopString?: string;
}

/** Width in columns of leading spaces/tabs, tabs advancing to the next multiple of tabWidth. */
export function indentWidth(ws: string, tabWidth = 4): number {
  let w = 0;
  for (const ch of ws) {
    if (ch === ' ') w++;
    else if (ch === '\t') w += tabWidth - (w % tabWidth);
    else break;
  }
  return w;
}

export class StopDetector {
  private readonly strings: readonly string[];
  private readonly ids: ReadonlySet<number>;
  /** Columns a line must reach to stay in the block; undefined when there is no indentation rule. */
  private readonly minIndent: number | undefined;
  private readonly tabWidth: number;
  private pending = '';
  private out = '';
  private done = false;
  private newlineInLast = false;

  constructor(opts: StopOptions = {}) {
    const strings = opts.stopStrings ?? [];
    for (const s of strings) if (typeof s !== 'string' || s.length === 0) throw new Error('stop strings must be non-empty strings');
    this.strings = [...strings];
    this.ids = new Set(opts.stopIds ?? []);
    this.tabWidth = opts.indent?.tabWidth ?? 4;
    if (!Number.isSafeInteger(this.tabWidth) || this.tabWidth < 1) throw new Error(`indent.tabWidth must be a positive integer (got ${this.tabWidth})`);
    if (opts.indent && !/^[ \t]*$/.test(opts.indent.cursorIndent)) throw new Error('indent.cursorIndent must contain only spaces and tabs');
    this.minIndent = opts.indent ? indentWidth(opts.indent.cursorIndent, this.tabWidth) : undefined;
  }

  /** Everything emitted so far. */
  get emitted(): string {
    return this.out;
  }

  get stopped(): boolean {
    return this.done;
  }

  /** Feeds one sampled token. Throws if called after a stop. */
  push(id: number, delta: string): StopStep {
    if (this.done) throw new Error('StopDetector.push called after generation stopped');
    if (this.ids.has(id)) {
      this.newlineInLast = false;
      return this.end({ text: this.take(this.pending.length), stop: true, reason: 'id' });
    }
    this.newlineInLast = delta.includes('\n');
    this.pending += delta;
    return this.scan();
  }

  /**
   * End of generation for any reason the detector did not see (EOS handled by the caller, token
   * limit, time budget, cancel): releases the held-back text verbatim. Idempotent.
   */
  finish(): string {
    if (this.done) return '';
    this.done = true;
    return this.take(this.pending.length);
  }

  /**
   * llama.cpp's `t_max_predict_ms` rule: once the budget is spent, stop only right after a token
   * whose text contained a newline, so the result has at least one full line and ends at a line
   * end rather than mid-line. (llama.cpp tests the text it sent that step; we test the generated
   * delta, because the indentation rule may still be holding that newline back.) When this says
   * yes, the caller stops decoding and calls `finish()` for the held text.
   */
  mayStopForTime(elapsedMs: number, budgetMs: number): boolean {
    return !this.done && budgetMs > 0 && elapsedMs > budgetMs && this.newlineInLast;
  }

  private scan(): StopStep {
    const p = this.pending;
    let at = -1;
    let match = '';
    for (const s of this.strings) {
      const i = p.indexOf(s);
      if (i >= 0 && (at < 0 || i < at || (i === at && s.length > match.length))) {
        at = i;
        match = s;
      }
    }
    const ind = this.minIndent === undefined ? { hold: p.length } : this.indentScan(p, this.minIndent);
    if (at >= 0 && (ind.cut === undefined || at <= ind.cut)) return this.end({ text: this.take(at), stop: true, reason: 'string', stopString: match });
    if (ind.cut !== undefined) return this.end({ text: this.take(ind.cut), stop: true, reason: 'indent' });
    return { text: this.take(Math.min(this.partialStart(p), ind.hold)), stop: false };
  }

  /** Where the earliest tail of p that is a proper prefix of a stop string starts (p.length if none). */
  private partialStart(p: string): number {
    let best = p.length;
    for (const s of this.strings) {
      for (let i = Math.max(0, p.length - s.length + 1); i < best; i++) {
        if (s.startsWith(p.slice(i))) {
          best = i;
          break;
        }
      }
    }
    return best;
  }

  /**
   * Indentation over the pending text. Every line after a newline in p is a line after the first
   * line of the completion (the first line never reaches a newline before it). `cut`: where the
   * completion ends because a line left the block; `hold`: where undecided text starts.
   */
  private indentScan(p: string, minIndent: number): { cut?: number; hold: number } {
    let run = -1; // start of the line ending (and blank lines) after the last non-blank text
    for (let nl = p.indexOf('\n'); nl >= 0; ) {
      if (run < 0) run = nl > 0 && p[nl - 1] === '\r' ? nl - 1 : nl;
      let j = nl + 1;
      let width = 0;
      for (; j < p.length; j++) {
        const ch = p[j];
        if (ch === ' ') width++;
        else if (ch === '\t') width += this.tabWidth - (width % this.tabWidth);
        else if (ch !== '\r') break;
      }
      if (j === p.length) return { hold: run }; // the line has no content yet
      if (p[j] === '\n') {
        nl = j; // a blank line: the run goes on
        continue;
      }
      if (width < minIndent) return { cut: run, hold: run };
      run = -1;
      nl = p.indexOf('\n', j);
    }
    // A trailing '\r' may be the start of a "\r\n" line ending.
    return { hold: run >= 0 ? run : p.endsWith('\r') ? p.length - 1 : p.length };
  }

  private take(n: number): string {
    const text = this.pending.slice(0, n);
    this.pending = this.pending.slice(n);
    this.out += text;
    return text;
  }

  private end(step: StopStep): StopStep {
    this.done = true;
    this.pending = '';
    return step;
  }
}
