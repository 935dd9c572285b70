/**
 * The context chips' text, as windows within the chat's context budget, and how they are written
 * into the prompt. Pure (no 'vscode'): context-chips.ts collects the sources from the editor, this
 * decides how much of each goes in, and session.ts renders them.
 *
 * The budget (`switchyard.chat.budgetTokens`, capped by what the model can hold; 0 follows the model) is allocated in
 * order of how deliberately the user chose the text:
 * 1. the selection, whole (cut from its end when it alone is over the budget);
 * 2. @file mentions, from the top of each file, sharing what is left equally (a small file's
 *    unused share goes to the others);
 * 3. the active file, as a window around the cursor or selection, with the rest.
 */
import type { Chip, ChipKind } from '../../webview/protocol.ts';
import { budgetFromSetting } from '../context/budget.ts';

export type Count = (text: string) => number;

export interface ChipSource {
  id: string;
  kind: ChipKind;
  label: string;
  /** Workspace-relative path, shown to the model. */
  path: string;
  languageId: string;
  /** Selection: the selected text; file and mention: the document's text (or a slice of it). */
  text: string;
  /** 1-based line of the file where `text` starts (default 1). */
  firstLine?: number;
  /** Lines in the whole file (for "lines 10-80 of 400"). */
  totalLines?: number;
  /** Active file: offsets into `text` of the cursor/selection the window centres on. */
  focus?: { start: number; end: number };
}

export interface ChipWindow {
  chip: Chip;
  path: string;
  languageId: string;
  text: string;
  /** 1-based, inclusive lines of the file that `text` covers. */
  startLine: number;
  endLine: number;
  totalLines: number;
}

/** Tokens each chip costs beyond its text: the header line and the code fence. */
export const CHIP_OVERHEAD_TOKENS = 16;
/** Kept free for the system prompt and the user's own words when the model's context caps the chips. */
export const QUESTION_RESERVE_TOKENS = 512;

/**
 * Tokens kept for the answer: the configured maximum, but at most half the context (a small model
 * context must still leave room for the question and its code).
 */
export function answerReserve(contextLength: number, chatMaxTokens: number): number {
  return Math.max(0, Math.min(chatMaxTokens, Math.floor(contextLength / 2)));
}

/** The chips' total budget: the setting (0: automatic, see context/budget.ts), capped by the model's context when a backend is known. */
export function chipBudget(settingsBudget: number, contextLength: number | undefined, chatMaxTokens: number): number {
  return budgetFromSetting(settingsBudget, contextLength === undefined ? undefined : contextLength - answerReserve(contextLength, chatMaxTokens) - QUESTION_RESERVE_TOKENS);
}

interface Lines {
  /** Start offset of each line; lines include their '\n'. */
  starts: number[];
  tokens: number[];
}

function lines(text: string, count: Count): Lines {
  const starts: number[] = [];
  const tokens: number[] = [];
  for (let s = 0; s < text.length; ) {
    const nl = text.indexOf('\n', s);
    const e = nl < 0 ? text.length : nl + 1;
    starts.push(s);
    tokens.push(count(text.slice(s, e)));
    s = e;
  }
  return { starts, tokens };
}

const lineEnd = (l: Lines, text: string, i: number) => (i + 1 < l.starts.length ? l.starts[i + 1]! : text.length);
const lineOf = (l: Lines, offset: number) => {
  let lo = 0;
  let hi = l.starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (l.starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
};

interface Cut {
  text: string;
  /** 0-based line indices into the source text, inclusive. */
  first: number;
  last: number;
  tokens: number;
}

/** Whole lines from the top while they fit; a first line over the budget alone is cut by characters. */
export function headWindow(text: string, budget: number, count: Count): Cut {
  const l = lines(text, count);
  return headOf(text, l, 0, budget, count);
}

function headOf(text: string, l: Lines, from: number, budget: number, count: Count): Cut {
  let used = 0;
  let i = from;
  while (i < l.starts.length && used + l.tokens[i]! <= budget) used += l.tokens[i++]!;
  if (i === from && from < l.starts.length && budget > 0) {
    // One line over the budget (minified code): keep as many characters as the budget allows.
    const line = text.slice(l.starts[from]!, lineEnd(l, text, from));
    const chars = Math.floor((budget * line.length) / Math.max(1, count(line)));
    const cut = line.slice(0, chars);
    return { text: cut, first: from, last: from, tokens: count(cut) };
  }
  if (i === from) return { text: '', first: from, last: from - 1, tokens: 0 };
  return { text: text.slice(l.starts[from]!, lineEnd(l, text, i - 1)), first: from, last: i - 1, tokens: used };
}

/**
 * The whole text if it fits; otherwise the focus lines plus lines around them, one above then one
 * below in turn (the code above the cursor — definitions, imports of the function — counts as much
 * as what follows). A focus larger than the budget is taken from its start.
 */
export function aroundWindow(text: string, focus: { start: number; end: number }, budget: number, count: Count): Cut {
  const l = lines(text, count);
  const n = l.starts.length;
  const total = l.tokens.reduce((a, b) => a + b, 0);
  if (total <= budget) return { text, first: 0, last: n - 1, tokens: total };
  const a = lineOf(l, Math.min(focus.start, text.length));
  // A selection ending at a line start does not include that line.
  let b = lineOf(l, Math.max(focus.start, focus.end - (focus.end > focus.start ? 1 : 0)));
  b = Math.max(a, b);
  let used = 0;
  for (let i = a; i <= b; i++) used += l.tokens[i]!;
  if (used > budget) return headOf(text, l, a, budget, count);
  let first = a;
  let last = b;
  for (let up = true; ; up = !up) {
    const canUp = first > 0 && used + l.tokens[first - 1]! <= budget;
    const canDown = last < n - 1 && used + l.tokens[last + 1]! <= budget;
    if (!canUp && !canDown) break;
    if ((up && canUp) || !canDown) used += l.tokens[--first]!;
    else used += l.tokens[++last]!;
  }
  return { text: text.slice(l.starts[first]!, lineEnd(l, text, last)), first, last, tokens: used };
}

const lineCount = (text: string) => (text.length === 0 ? 1 : text.split('\n').length - (text.endsWith('\n') ? 1 : 0));

/** Windows for `sources` within `total` tokens; returned in the sources' order. */
export function allocateChips(sources: readonly ChipSource[], total: number, count: Count): { windows: ChipWindow[]; used: number } {
  const out = new Map<ChipSource, ChipWindow>();
  let remaining = Math.max(0, total);
  const take = (s: ChipSource, budget: number) => {
    const room = Math.max(0, budget - CHIP_OVERHEAD_TOKENS);
    const cut = s.kind === 'file' && s.focus ? aroundWindow(s.text, s.focus, room, count) : headWindow(s.text, room, count);
    const w = windowOf(s, cut);
    out.set(s, w);
    remaining -= w.chip.tokens;
  };
  for (const s of sources) if (s.kind === 'selection') take(s, remaining);
  // Mentions share what is left: smallest need first, so a small file's unused share passes on.
  const mentions = sources.filter((s) => s.kind === 'mention').map((s) => ({ s, need: count(s.text) + CHIP_OVERHEAD_TOKENS }));
  mentions.sort((x, y) => x.need - y.need);
  mentions.forEach(({ s }, i) => take(s, Math.floor(remaining / (mentions.length - i))));
  for (const s of sources) if (s.kind === 'file') take(s, remaining);
  const windows = sources.map((s) => out.get(s)!);
  return { windows, used: windows.reduce((a, w) => a + w.chip.tokens, 0) };
}

function windowOf(s: ChipSource, cut: Cut): ChipWindow {
  const firstLine = s.firstLine ?? 1;
  const sourceLines = lineCount(s.text);
  const truncated = cut.text.length < s.text.length;
  const chip: Chip = { id: s.id, kind: s.kind, label: s.label, tokens: cut.text ? cut.tokens + CHIP_OVERHEAD_TOKENS : 0 };
  if (truncated) chip.truncated = true;
  return {
    chip,
    path: s.path,
    languageId: s.languageId,
    text: cut.text,
    startLine: firstLine + cut.first,
    endLine: firstLine + Math.max(cut.first, cut.last),
    totalLines: s.totalLines ?? firstLine - 1 + sourceLines,
  };
}

/** Re-count the windows' tokens (e.g. exactly, by the model's tokenizer): the chips with new counts. */
export function withCounts(windows: readonly ChipWindow[], counts: readonly number[]): ChipWindow[] {
  return windows.map((w, i) => ({ ...w, chip: { ...w.chip, tokens: w.text ? counts[i]! + CHIP_OVERHEAD_TOKENS : 0 } }));
}

// ---- rendering into the prompt ------------------------------------------------------------------

const FENCE_LANG: Record<string, string> = {
  typescriptreact: 'tsx',
  javascriptreact: 'jsx',
  plaintext: '',
  shellscript: 'sh',
  'objective-c': 'objc',
  'objective-cpp': 'objcpp',
};

/** A backtick fence longer than any run of backticks in `text`, so the code cannot close it early. */
export function fenceFor(text: string): string {
  let longest = 0;
  for (const m of text.matchAll(/`+/g)) longest = Math.max(longest, m[0].length);
  return '`'.repeat(Math.max(3, longest + 1));
}

function header(w: ChipWindow): string {
  const whole = w.startLine === 1 && w.endLine >= w.totalLines;
  const lines = w.startLine === w.endLine ? `line ${w.startLine}` : `lines ${w.startLine}-${w.endLine}`;
  switch (w.chip.kind) {
    case 'selection':
      return `Selected code from \`${w.path}\` (${lines}${w.chip.truncated ? ', cut to fit' : ''}):`;
    case 'file':
      return `The file open in the editor, \`${w.path}\`${whole ? '' : ` (${lines} of ${w.totalLines})`}:`;
    case 'mention':
      return `\`${w.path}\`${whole ? '' : ` (${lines} of ${w.totalLines})`}:`;
  }
}

/** One window as a header line and a fenced code block. */
export function renderWindow(w: ChipWindow): string {
  const fence = fenceFor(w.text);
  const lang = FENCE_LANG[w.languageId] ?? w.languageId;
  const body = w.text.endsWith('\n') ? w.text : `${w.text}\n`;
  return `${header(w)}\n${fence}${lang}\n${body}${fence}`;
}

/**
 * The user message sent to the model: the code windows first, the question last (models answer the
 * end of the prompt best). Prompt order of the windows: the active file (widest), then mentions,
 * then the selection, so the most specific code sits right before the question.
 */
export function renderUserMessage(question: string, windows: readonly ChipWindow[]): string {
  const rank = { file: 0, mention: 1, selection: 2 } as const;
  const ws = windows.filter((w) => w.text).sort((a, b) => rank[a.chip.kind] - rank[b.chip.kind]);
  if (ws.length === 0) return question;
  return `${ws.map(renderWindow).join('\n\n')}\n\n${question}`;
}
