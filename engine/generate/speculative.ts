/**
 * Greedy decoding with prompt-lookup speculation (as in "prompt lookup decoding", llama.cpp's
 * --lookup, vLLM's ngram speculator). Coding requests repeat their input a lot (refactors, edits,
 * quoting), so the tokens that followed the last n-gram's previous occurrence are a cheap draft.
 * The draft is checked in one batched forward and only tokens that plain greedy would also have
 * chosen are kept, so the output is the same as plain greedy decoding; only the number of forward
 * calls changes.
 *
 * Cache invariant (at every yield and at the end): `state` holds every token of the sequence but
 * the last one. The last token is "pending": the next forward starts with it. To continue the
 * sequence later, feed that last token.
 */
import { argmax } from '../runtime/sampler.ts';

/** What decoding needs of a session and its cache: ModelSession and KvState fit (tests script one). */
export interface DecodeSession<S extends DecodeState> {
  forward(state: S, ids: number[], opts: { logitsToKeep: number }): Promise<{ logits: Float32Array; vocab: number }>;
}
export interface DecodeState {
  readonly length: number;
  trim(n: number): void | Promise<void>;
}

export interface LookupOptions {
  /** Longest n-gram tried first (default 3). */
  maxNgram?: number;
  /** Shortest n-gram tried (default 1). */
  minNgram?: number;
  /** Most draft tokens verified per forward (default 10). */
  maxDraft?: number;
}

export type FinishReason = 'stop' | 'length' | 'abort';

/** Live counters, updated as the generator runs (a benchmark reads them after the loop). */
export interface DecodeStats {
  /** Tokens yielded. */
  tokens: number;
  /** Forward calls made by the generator (the caller's prefill not included). */
  forwards: number;
  /** Draft tokens proposed and verified. */
  drafted: number;
  /** Draft tokens that matched the model's greedy choice. */
  accepted: number;
  /** Set when the generator ends. */
  finish: FinishReason | null;
}

export interface GreedyDecodeOptions {
  /** Most tokens to yield (in total over all batches). */
  maxTokens: number;
  /** Generation ends after any of these (the stop token is yielded, so callers can see it). */
  stopIds?: readonly number[];
  /** Prompt-lookup settings; null or absent: one token per forward. */
  lookup?: LookupOptions | null;
  /** The ids `state` holds (or their tail): where drafts are looked up, with the generated ids. */
  context?: readonly number[];
  /** Checked before every forward; an aborted signal ends generation (finish 'abort'), no throw. */
  signal?: AbortSignal;
  /** Filled in live; pass one to read the counters after a `for await`. */
  stats?: DecodeStats;
}

export function newDecodeStats(): DecodeStats {
  return { tokens: 0, forwards: 0, drafted: 0, accepted: 0, finish: null };
}

/**
 * The draft for `seq`: for n from maxNgram down to minNgram, the most recent earlier occurrence of
 * seq's last n tokens, and up to maxDraft tokens that followed it. Copying reads on into the draft
 * itself once it passes the end of seq, so a loop of period p still drafts maxDraft tokens, not p.
 */
export function lookupDraft(seq: readonly number[], opts: LookupOptions = {}): number[] {
  const maxNgram = opts.maxNgram ?? 3;
  const minNgram = Math.max(1, opts.minNgram ?? 1);
  const maxDraft = opts.maxDraft ?? 10;
  const L = seq.length;
  if (maxDraft <= 0) return [];
  for (let n = Math.min(maxNgram, L - 1); n >= minNgram; n--) {
    // Candidate starts i end before the suffix itself (i + n <= L - 1), newest first.
    for (let i = L - n - 1; i >= 0; i--) {
      let j = 0;
      while (j < n && seq[i + j] === seq[L - n + j]) j++;
      if (j < n) continue;
      const draft: number[] = [];
      for (let k = 0; k < maxDraft; k++) {
        const at = i + n + k;
        draft.push(at < L ? seq[at]! : draft[at - L]!);
      }
      return draft;
    }
  }
  return [];
}

/**
 * Greedy decoding from `state`, yielding accepted tokens in batches (one batch per forward, plus
 * the first token on its own when `start` is logits).
 *
 * `start`: either the logits of the last position `state` holds (the first token is their argmax
 * and is yielded), or a token already chosen by the caller that `state` does not hold yet (it is
 * not yielded again; it joins the lookup history after `context`).
 */
export async function* greedyDecode<S extends DecodeState>(
  session: DecodeSession<S>,
  state: S,
  start: Float32Array | number,
  opts: GreedyDecodeOptions,
): AsyncGenerator<number[], DecodeStats, undefined> {
  const stats = opts.stats ?? newDecodeStats();
  const stop = new Set(opts.stopIds ?? []);
  const lookup = opts.lookup ?? null;
  const seq = [...(opts.context ?? [])];
  const finish = (r: FinishReason): DecodeStats => {
    stats.finish = r;
    return stats;
  };
  if (opts.maxTokens <= 0) return finish('length');

  if (opts.signal?.aborted) return finish('abort');
  let pending = typeof start === 'number' ? start : argmax(start);
  seq.push(pending);
  if (typeof start !== 'number') {
    stats.tokens++;
    yield [pending];
    if (stop.has(pending)) return finish('stop');
  }

  while (stats.tokens < opts.maxTokens) {
    if (opts.signal?.aborted) return finish('abort');
    const left = opts.maxTokens - stats.tokens;
    // A verify step yields at most draft.length + 1 tokens, so never draft past maxTokens.
    const draft = lookup ? lookupDraft(seq, { ...lookup, maxDraft: Math.min(lookup.maxDraft ?? 10, left - 1) }) : [];
    const base = state.length;
    const r = await session.forward(state, [pending, ...draft], { logitsToKeep: draft.length + 1 });
    stats.forwards++;
    stats.drafted += draft.length;
    // Row i predicts the token after [pending, ...draft[0..i)]; it is what greedy would pick there
    // as long as every earlier draft token was the model's own choice.
    const out: number[] = [];
    for (let i = 0; i <= draft.length; i++) {
      const t = argmax(r.logits.subarray(i * r.vocab, (i + 1) * r.vocab));
      out.push(t);
      if (t !== draft[i]) break;
      stats.accepted++;
      if (stop.has(t)) break;
    }
    // The cache now holds pending + every draft token; keep pending + the accepted ones, so that
    // out's last token is the new pending one.
    await state.trim(base + out.length);
    pending = out[out.length - 1]!;
    for (const t of out) seq.push(t);
    stats.tokens += out.length;
    yield out;
    if (stop.has(pending)) return finish('stop');
  }
  return finish('length');
}
