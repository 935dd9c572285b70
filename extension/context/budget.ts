/**
 * How the context budget is shared out.
 *
 * - total: what the model can hold (its context length minus the tokens we ask it to generate minus
 *   a reserve for the layout's special tokens, the file path and the repository name), capped by
 *   `switchyard.context.budgetTokens` when that is set (> 0). At 0, the default, the budget follows
 *   the model: the engine loads it with the longest context whose caches fit the memory (for
 *   DeepSeek-V4 up to 1M tokens; see engine/service/context-fit.ts) and the budget takes
 *   AUTO_SHARE of what that leaves, so hundreds of thousands of tokens for V4 and a few thousand
 *   for a 4K model.
 * - suffix: 1/8 of the total, at most 1024 tokens. The suffix follows the cursor in the prompt, so
 *   the engine re-prefills all of it on every keystroke; more of it buys little and costs latency.
 * - related files: at least 1/4 of the total; more when the current file's prefix is short and
 *   leaves budget unused.
 * - prefix: the rest.
 */

/** Tokens kept free for FIM special tokens, file separators, paths and the repository name. */
export const LAYOUT_RESERVE_TOKENS = 64;

/**
 * An automatic budget's share of the room the model leaves. Token counts are estimates (chars per
 * token); the headroom keeps a full window clear of the exact engine count that assemble.ts makes
 * near the limit, which on a long window would tokenise megabytes on every keystroke.
 */
export const AUTO_SHARE = 0.8;

/** The automatic budget while the model's context is not known yet (no model loaded). */
export const AUTO_FALLBACK_TOKENS = 8192;

/**
 * A budget from a setting (0: automatic) and the room the model leaves (undefined: not known).
 * A set value is capped by the room; the automatic one is AUTO_SHARE of it.
 */
export function budgetFromSetting(setting: number, room: number | undefined): number {
  if (room === undefined) return Math.max(0, Math.floor(setting > 0 ? setting : AUTO_FALLBACK_TOKENS));
  const cap = Math.max(0, room);
  return Math.floor(setting > 0 ? Math.min(setting, cap) : cap * AUTO_SHARE);
}

export function totalBudget(settingsBudget: number, modelContext: number | undefined, maxTokens: number): number {
  return budgetFromSetting(settingsBudget, modelContext === undefined ? undefined : modelContext - maxTokens - LAYOUT_RESERVE_TOKENS);
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
