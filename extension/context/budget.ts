/**
 * How the context budget is shared out.
 *
 * - total: `switchyard.context.budgetTokens`, capped by what the model can hold: its context
 *   length minus the tokens we ask it to generate minus a reserve for the layout's special tokens,
 *   the file path and the repository name.
 * - suffix: 1/8 of the total, at most 1024 tokens. The suffix follows the cursor in the prompt, so
 *   the engine re-prefills all of it on every keystroke; more of it buys little and costs latency.
 * - related files: at least 1/4 of the total; more when the current file's prefix is short and
 *   leaves budget unused.
 * - prefix: the rest.
 */

/** Tokens kept free for FIM special tokens, file separators, paths and the repository name. */
export const LAYOUT_RESERVE_TOKENS = 64;

export function totalBudget(settingsBudget: number, modelContext: number | undefined, maxTokens: number): number {
  const cap = modelContext === undefined ? Infinity : modelContext - maxTokens - LAYOUT_RESERVE_TOKENS;
  return Math.max(0, Math.floor(Math.min(settingsBudget, cap)));
}

export interface BudgetSplit {
  total: number;
  suffix: number;
  /** The related files' guaranteed share. */
  relatedShare: number;
  /** The prefix's share when related files use exactly their share. */
  prefixShare: number;
}

export function splitBudget(total: number): BudgetSplit {
  const suffix = Math.min(1024, Math.floor(total / 8));
  const relatedShare = Math.floor(total / 4);
  return { total, suffix, relatedShare, prefixShare: total - suffix - relatedShare };
}

/** Tokens for related files given how much prefix there is: their share plus whatever the prefix does not need. */
export function relatedBudget(split: BudgetSplit, prefixTokensAvailable: number): number {
  return split.total - split.suffix - Math.min(prefixTokensAvailable, split.prefixShare);
}
