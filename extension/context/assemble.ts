/**
 * Puts one completion request's context together: related-file chunks (a stable snapshot, see
 * related.ts), then the current file's prefix window (grid-aligned start, see window.ts) and its
 * suffix window, within the budgets of budget.ts. Prompt order, most stable first: related files,
 * the current file's path, the prefix, and the cursor's surroundings last — so a keystroke changes
 * only the end of the prompt and the engine's prefix cache serves the rest.
 *
 * Pure (no 'vscode'): the provider feeds it document text and candidate chunks.
 */
import type { RelatedFile } from '../../engine/protocol/protocol.ts';
import { identifiers, type Chunk } from './chunks.ts';
import { relatedBudget, splitBudget, totalBudget, type BudgetSplit } from './budget.ts';
import type { RelatedContext } from './related.ts';
import type { TokenCounter } from './tokens.ts';
import { prefixWindow, suffixWindow, type TextWindow } from './window.ts';

export interface AssembleInput {
  now: number;
  /** The current document: identity, text and cursor offset. */
  uri: string;
  text: string;
  cursor: number;
  settingsBudget: number;
  /** The loaded model's context length (undefined: not known yet). */
  modelContext: number | undefined;
  maxTokens: number;
  /** Chunks of other files (called only when the related snapshot is refreshed). */
  candidates: () => readonly Chunk[];
  counter: TokenCounter;
  related: RelatedContext;
}

export interface AssembledContext {
  prefix: TextWindow;
  suffix: TextWindow;
  relatedFiles: RelatedFile[];
  relatedTokens: number;
  /** Estimated prompt tokens (without the layout's own tokens). */
  tokens: number;
  split: BudgetSplit;
  /** The related snapshot was recomputed for this request. */
  refreshed: boolean;
}

/** Lines around the cursor whose identifiers rank the related chunks. */
const QUERY_LINES_BEFORE = 40;
const QUERY_LINES_AFTER = 10;

export function queryAround(text: string, cursor: number): Set<string> {
  let start = cursor;
  for (let n = 0; n <= QUERY_LINES_BEFORE && start > 0; n++) {
    const nl = text.lastIndexOf('\n', start - 1);
    start = nl < 0 ? 0 : nl;
  }
  let end = cursor;
  for (let n = 0; n < QUERY_LINES_AFTER && end >= 0 && end < text.length; n++) {
    const nl = text.indexOf('\n', end + 1);
    end = nl < 0 ? text.length : nl;
  }
  return identifiers(text.slice(start, Math.max(end, cursor)));
}

export function assembleContext(input: AssembleInput): AssembledContext {
  const split = splitBudget(totalBudget(input.settingsBudget, input.modelContext, input.maxTokens));
  const estimate = (s: string) => input.counter.estimate(s);
  const prefixAvailable = estimate(input.text.slice(0, input.cursor));
  const { snapshot, refreshed } = input.related.get({
    now: input.now,
    file: input.uri,
    query: () => queryAround(input.text, input.cursor),
    candidates: input.candidates,
    budget: relatedBudget(split, prefixAvailable),
    count: (s) => input.counter.count(s),
  });
  // The prefix gets what the related snapshot left; between refreshes that is constant, so the
  // window's grid start does not move.
  const prefixBudget = Math.max(0, split.total - split.suffix - snapshot.tokens);
  const prefix = prefixWindow(input.text, input.cursor, prefixBudget, estimate);
  const suffix = suffixWindow(input.text, input.cursor, split.suffix, estimate);
  return {
    prefix,
    suffix,
    relatedFiles: snapshot.files,
    relatedTokens: snapshot.tokens,
    tokens: snapshot.tokens + prefix.tokens + suffix.tokens,
    split,
    refreshed,
  };
}

/**
 * The exact check near the hard limit: estimates are off by some percent, and past the model's
 * context the engine refuses the request. When the estimate is within 15% of `hardLimit`, count
 * exactly with the engine and, if over, drop related files and then shorten the prefix from its
 * start (by whole lines) until it fits. Far from the limit (the usual case: an 8k budget on a 32k
 * model) no engine call is made.
 */
export async function fitExactly(
  ctx: AssembledContext,
  hardLimit: number,
  exactCount: (text: string) => Promise<number>,
): Promise<AssembledContext> {
  if (ctx.tokens <= hardLimit * 0.85) return ctx;
  const countAll = (c: AssembledContext) => exactCount([...c.relatedFiles.map((f) => `${f.path}\n${f.text}\n`), c.prefix.text, c.suffix.text].join(''));
  let c = ctx;
  let n = await countAll(c);
  if (n <= hardLimit) return c;
  if (c.relatedFiles.length > 0) {
    c = { ...c, relatedFiles: [], relatedTokens: 0 };
    n = await countAll(c);
  }
  for (let guard = 0; n > hardLimit && c.prefix.text.length > 0 && guard < 8; guard++) {
    const keepChars = Math.floor(c.prefix.text.length * Math.max(0, 1 - (n - hardLimit) / Math.max(1, n)) * 0.95);
    const from = c.prefix.text.length - keepChars;
    const nl = c.prefix.text.indexOf('\n', from);
    const cut = nl < 0 || nl + 1 >= c.prefix.text.length ? from : nl + 1;
    const text = c.prefix.text.slice(cut);
    c = { ...c, prefix: { ...c.prefix, start: c.prefix.start + cut, text } };
    n = await countAll(c);
  }
  return { ...c, tokens: n };
}
