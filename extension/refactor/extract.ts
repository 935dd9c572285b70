/**
 * The code in a model's answer, made ready to replace the selection: the largest fenced block (the
 * first of equals), or the whole answer when it has no fence; `<think>` leftovers removed; the
 * selection's indentation and trailing newline kept, so the edit fits where the selection was.
 *
 * No 'vscode' import.
 */

export interface ExtractOptions {
  /** The code the answer replaces; absent for a new file (tests). */
  selection?: string;
  /**
   * The document text from the start of the selection's first line to the selection: whitespace
   * when the selection starts after the indentation (the edit must not indent its first line
   * again), other text when it starts mid-line (then only the following lines are re-indented).
   */
  linePrefix?: string;
}

export interface ExtractedCode {
  code: string;
  /** Where the code came from: a closed fence, a fence the answer never closed (cut off?), or no fence. */
  fence: 'closed' | 'open' | 'none';
}

/** Removes reasoning the engine did not split off: whole `<think>` blocks, text up to a stray `</think>`, an unclosed `<think>` to the end. */
export function stripThink(answer: string): string {
  let s = answer.replace(/<think>[\s\S]*?<\/think>/g, '');
  const close = s.lastIndexOf('</think>');
  if (close >= 0) s = s.slice(close + '</think>'.length);
  const open = s.indexOf('<think>');
  if (open >= 0) s = s.slice(0, open);
  return s;
}

interface Block {
  text: string;
  closed: boolean;
}

const OPEN = /^ {0,3}(`{3,}|~{3,})(.*)$/;

/** CommonMark-style fenced blocks: a closing fence has the same character, at least the opening's length, and nothing else. */
export function fencedBlocks(text: string): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = OPEN.exec(lines[i]!);
    if (!m) continue;
    const fence = m[1]!;
    // A backtick fence's info string cannot contain backticks (that is inline code, not a fence).
    if (fence[0] === '`' && m[2]!.includes('`')) continue;
    const indent = lines[i]!.length - lines[i]!.trimStart().length;
    const close = new RegExp(`^ {0,3}${fence[0] === '`' ? '`' : '~'}{${fence.length},}[ \\t]*$`);
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !close.test(lines[j]!); j++) {
      // Content lines lose up to the opening fence's indentation, as in CommonMark.
      const l = lines[j]!;
      let k = 0;
      while (k < indent && l[k] === ' ') k++;
      body.push(l.slice(k));
    }
    blocks.push({ text: body.join('\n'), closed: j < lines.length });
    i = j;
  }
  return blocks;
}

const leadingWs = (line: string) => /^[ \t]*/.exec(line)![0];
const isBlank = (line: string) => line.trim() === '';

/** The shortest indentation among non-blank lines (undefined when all are blank). */
function minIndent(lines: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const l of lines) {
    if (isBlank(l)) continue;
    const ws = leadingWs(l);
    if (best === undefined || ws.length < best.length) best = ws;
  }
  return best;
}

/** `lines` with their common indentation replaced by `base` (blank lines emptied). */
function reindent(lines: readonly string[], base: string): string[] {
  const current = minIndent(lines);
  if (current === undefined || current === base) return [...lines];
  return lines.map((l) => (isBlank(l) ? '' : base + l.slice(current.length)));
}

/** Trims blank lines at both ends (the fence's own line breaks, a model's stray padding). */
function trimBlankLines(lines: string[]): string[] {
  let a = 0;
  let b = lines.length;
  while (a < b && isBlank(lines[a]!)) a++;
  while (b > a && isBlank(lines[b - 1]!)) b--;
  return lines.slice(a, b);
}

export function extractCode(answer: string, opts: ExtractOptions = {}): ExtractedCode {
  const text = stripThink(answer).replace(/\r\n/g, '\n');
  const blocks = fencedBlocks(text);
  let raw: string;
  let fence: ExtractedCode['fence'];
  if (blocks.length === 0) {
    raw = text;
    fence = 'none';
  } else {
    // The largest block: a model that adds a usage example after the code puts it in a smaller one.
    let best = blocks[0]!;
    for (const b of blocks) if (b.text.trim().length > best.text.trim().length) best = b;
    raw = best.text;
    fence = best.closed ? 'closed' : 'open';
  }
  let lines = trimBlankLines(raw.split('\n'));
  if (lines.length === 0) return { code: '', fence };

  const selection = opts.selection;
  if (selection === undefined) return { code: `${lines.join('\n')}\n`, fence };

  const eol = selection.includes('\r\n') ? '\r\n' : '\n';
  let sel = selection.replace(/\r\n/g, '\n');
  let prefix = opts.linePrefix ?? '';
  // Line breaks (and the next line's indentation) the selection starts or ends with are kept as
  // they are, so the edit neither joins the lines around it nor eats their indentation.
  const headWs = /^\s*/.exec(sel)![0];
  const head = headWs.includes('\n') && headWs !== sel ? headWs.slice(0, headWs.lastIndexOf('\n') + 1) : '';
  const tailWs = /\s*$/.exec(sel)![0];
  const tail = tailWs.includes('\n') ? tailWs.slice(tailWs.indexOf('\n')) : '';
  if (head !== '') {
    sel = sel.slice(head.length);
    prefix = ''; // what follows the head starts a line
  }
  const selLines = sel.split('\n');
  if (prefix === '') {
    // Whole lines: the answer's common indentation becomes the selection's.
    const base = minIndent(selLines);
    if (base !== undefined) lines = reindent(lines, base);
  } else {
    // The selection starts after the line's start (after its indentation, or mid-line): the
    // document already has what precedes it, so the first line loses its indentation. The other
    // lines are kept when the answer mirrors the selection (their indentation is absolute, as the
    // prompt showed them); otherwise the answer is laid out relative to its own first line, which
    // stands where the document's line starts.
    const first = lines[0]!;
    const rest = lines.slice(1);
    const restIndent = minIndent(rest);
    const selRestIndent = minIndent(selLines.slice(1));
    if (restIndent !== undefined && selRestIndent !== undefined && restIndent !== selRestIndent) {
      const from = leadingWs(first);
      const to = leadingWs(prefix) + leadingWs(sel);
      lines = [first, ...rest.map((l) => (isBlank(l) ? '' : l.startsWith(from) ? to + l.slice(from.length) : l))];
    }
    lines[0] = first.trimStart();
  }
  const code = head + lines.join('\n') + tail;
  return { code: eol === '\n' ? code : code.replace(/\n/g, eol), fence };
}

/** New tests added at the end of an existing test file: separated from it by one blank line. */
export function appendedText(existing: string, code: string): string {
  const eol = existing.includes('\r\n') ? '\r\n' : '\n';
  const body = code.replace(/\r?\n/g, eol);
  if (existing.trim() === '') return body;
  const trailing = /(\r?\n)*$/.exec(existing)![0].split('\n').length - 1;
  return eol.repeat(Math.max(0, 2 - trailing)) + body;
}
