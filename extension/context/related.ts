/**
 * Related-file context: which chunks of other files go into the prompt, and in what order.
 *
 * The chunks come first in the prompt (the model's repo-level layout puts other files before the
 * current one), so any change to them invalidates the engine's prefix cache for everything after,
 * i.e. the whole prompt. Hence the set and order are a *snapshot* that is kept while the user types
 * and recomputed only when
 * - the user was idle (no request for `idleMs`, default 2 s): a re-prefill then costs nothing the
 *   user is waiting on, and the text around the cursor may now be about something else;
 * - the current file changed (another editor became active);
 * - the snapshot is older than `maxAgeMs` (default 60 s) even during non-stop typing;
 * - `invalidate()` (settings or model changed).
 * On a refresh, chunks that stay keep their previous relative order at the front and new ones are
 * appended, so the prompt's common prefix with the previous snapshot is as long as possible; a
 * previous chunk that no longer ranks stays while the budget has room for it. Room the ranked chunks
 * leave goes to the rest of their files, and consecutive chunks of one file go in as one entry, so
 * with a long window related files arrive whole.
 */
import type { RelatedFile } from '../../engine/protocol/protocol.ts';
import { CHUNK_LINES, jaccard, type Chunk } from './chunks.ts';

export interface Ranked {
  chunk: Chunk;
  score: number;
}

export interface RankOptions {
  /** Chunks scoring below this are unrelated noise (default 0.05). */
  minScore?: number;
  /** Added to chunks the user edited lately (default 0.05): what you just wrote is likely used next. */
  editedBonus?: number;
}

/** Chunks by Jaccard similarity to `query` (+ a small bonus for recent edits), best first; ties: more recent, then key. */
export function rankChunks(query: ReadonlySet<string>, chunks: readonly Chunk[], opts: RankOptions = {}): Ranked[] {
  const min = opts.minScore ?? 0.05;
  const bonus = opts.editedBonus ?? 0.05;
  const out: Ranked[] = [];
  for (const chunk of chunks) {
    const sim = jaccard(query, chunk.ids);
    if (sim < min) continue;
    out.push({ chunk, score: sim + (chunk.edited ? bonus : 0) });
  }
  return out.sort((a, b) => b.score - a.score || b.chunk.recency - a.chunk.recency || (a.chunk.key < b.chunk.key ? -1 : a.chunk.key > b.chunk.key ? 1 : 0));
}

/** The best chunks whose token counts fit `budget` together (a chunk that does not fit is skipped, smaller later ones may). */
export function selectWithinBudget(ranked: readonly Ranked[], budget: number, count: (text: string) => number): { chosen: Ranked[]; tokens: number } {
  const chosen: Ranked[] = [];
  let tokens = 0;
  for (const r of ranked) {
    // The engine adds the path and a separator per file: count them too.
    const t = count(r.chunk.text) + count(r.chunk.path) + 2;
    if (tokens + t > budget) continue;
    chosen.push(r);
    tokens += t;
  }
  return { chosen, tokens };
}

/**
 * Prompt order for the chosen chunks: those already in the previous snapshot first, in their
 * previous order; then the new ones, least relevant first, so the most relevant new chunk sits
 * nearest the current file.
 */
export function stableOrder(previousKeys: readonly string[], chosen: readonly Ranked[]): Ranked[] {
  return layoutGroups(
    previousKeys.map((k) => [k]),
    chosen,
  ).flat();
}

/**
 * The chosen chunks as prompt entries, each a run of consecutive chunks of one file (a whole file
 * when all of it is chosen, as long budgets allow): the previous snapshot's entries first, in their
 * order (an entry that lost a chunk is split at the gap), then the new chunks grouped by file into
 * runs, least relevant run first. Previous entries are never merged with new chunks, so their text
 * stays what the engine has cached.
 */
export function layoutGroups(previous: readonly (readonly string[])[], chosen: readonly Ranked[]): Ranked[][] {
  const byKey = new Map(chosen.map((r) => [r.chunk.key, r]));
  const out: Ranked[][] = [];
  const seen = new Set<string>();
  for (const keys of previous) {
    let run: Ranked[] = [];
    for (const k of keys) {
      const r = byKey.get(k);
      if (r && !seen.has(k)) {
        run.push(r);
        seen.add(k);
      } else if (run.length > 0) {
        out.push(run);
        run = [];
      }
    }
    if (run.length > 0) out.push(run);
  }
  const fresh = chosen.filter((r) => !seen.has(r.chunk.key)).sort((a, b) => (a.chunk.path < b.chunk.path ? -1 : a.chunk.path > b.chunk.path ? 1 : a.chunk.startLine - b.chunk.startLine));
  const runs: Ranked[][] = [];
  for (const r of fresh) {
    const last = runs[runs.length - 1]?.at(-1);
    if (last && last.chunk.path === r.chunk.path && last.chunk.startLine + CHUNK_LINES === r.chunk.startLine) runs[runs.length - 1]!.push(r);
    else runs.push([r]);
  }
  const best = (run: Ranked[]) => Math.max(...run.map((r) => r.score));
  // Stable sort: equal scores keep path/line order.
  return [...out, ...runs.sort((a, b) => best(a) - best(b))];
}

/**
 * What fills the room the ranked chunks leave (all of it, with a long window), at score 0, in this
 * order: chunks of the previous snapshot that no longer rank (dropping one would change the prompt
 * from its place on), then the other chunks of files that have a ranked chunk, best file first, in
 * line order (so those files go in whole).
 */
function leftovers(ranked: readonly Ranked[], candidates: readonly Chunk[], previousKeys: readonly string[]): Ranked[] {
  const rankedKeys = new Set(ranked.map((r) => r.chunk.key));
  const previous = new Set(previousKeys);
  const sticky = candidates.filter((c) => previous.has(c.key) && !rankedKeys.has(c.key));
  const fileRank = new Map<string, number>();
  for (const r of ranked) if (!fileRank.has(r.chunk.path)) fileRank.set(r.chunk.path, fileRank.size);
  const siblings = candidates
    .filter((c) => fileRank.has(c.path) && !rankedKeys.has(c.key) && !previous.has(c.key))
    .sort((a, b) => fileRank.get(a.path)! - fileRank.get(b.path)! || a.startLine - b.startLine);
  return [...sticky, ...siblings].map((chunk) => ({ chunk, score: 0 }));
}

export interface RelatedRequest {
  now: number;
  /** The current file (its identity: a URI string). */
  file: string;
  /** Identifiers around the cursor (called only on a refresh). */
  query: () => ReadonlySet<string>;
  /** Candidate chunks from other files (called only on a refresh). */
  candidates: () => readonly Chunk[];
  /** Tokens the chunks may use (read on a refresh). */
  budget: number;
  count: (text: string) => number;
}

export interface RelatedSnapshot {
  file: string;
  files: RelatedFile[];
  /** Chunk keys, in prompt order. */
  keys: string[];
  /** The chunk keys of each entry of `files`. */
  groups: string[][];
  tokens: number;
  takenAt: number;
}

export class RelatedContext {
  #snapshot: RelatedSnapshot | undefined;
  #lastRequestAt = -Infinity;
  #invalid = false;
  readonly #idleMs: number;
  readonly #maxAgeMs: number;
  readonly #rank: RankOptions;

  constructor(opts: { idleMs?: number; maxAgeMs?: number } & RankOptions = {}) {
    this.#idleMs = opts.idleMs ?? 2000;
    this.#maxAgeMs = opts.maxAgeMs ?? 60_000;
    this.#rank = opts;
  }

  invalidate(): void {
    this.#invalid = true;
  }

  /** The related files for this request and whether they were just recomputed. */
  get(req: RelatedRequest): { snapshot: RelatedSnapshot; refreshed: boolean } {
    const idle = req.now - this.#lastRequestAt >= this.#idleMs;
    this.#lastRequestAt = req.now;
    const s = this.#snapshot;
    const stale = !s || this.#invalid || s.file !== req.file || idle || req.now - s.takenAt >= this.#maxAgeMs;
    if (!stale) return { snapshot: s, refreshed: false };
    const candidates = req.candidates();
    const ranked = rankChunks(req.query(), candidates, this.#rank);
    const { chosen, tokens } = selectWithinBudget([...ranked, ...leftovers(ranked, candidates, s && s.file === req.file ? s.keys : [])], req.budget, req.count);
    const groups = layoutGroups(s?.groups ?? [], chosen);
    this.#snapshot = {
      file: req.file,
      // A run of consecutive chunks is their file's lines in one piece.
      files: groups.map((g) => ({ path: g[0]!.chunk.path, text: g.map((r) => r.chunk.text).join('\n') })),
      keys: groups.flat().map((r) => r.chunk.key),
      groups: groups.map((g) => g.map((r) => r.chunk.key)),
      tokens,
      takenAt: req.now,
    };
    this.#invalid = false;
    return { snapshot: this.#snapshot, refreshed: true };
  }
}
