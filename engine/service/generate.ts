/**
 * One request's generation on the shared session: take the best prefix from the prefix cache,
 * prefill the rest in chunks, decode token by token, and give the KV state back to the cache.
 * Every forward pass is one turn (see turns.ts), so completions overtake chat between steps and a
 * cancelled request stops within one step.
 */
import type { EngineTokenizer } from '../tokenizer/tokenizer.ts';
import { StreamDecoder } from '../tokenizer/stream-decoder.ts';
import type { ModelSession, KvState } from '../runtime/session.ts';
import type { PrefixCache } from '../runtime/prefix-cache.ts';
import { Sampler, type SamplingOptions } from '../runtime/sampler.ts';
import type { StopDetector } from '../generate/stops.ts';
import { greedyDecode, newDecodeStats, type DecodeSession } from '../generate/speculative.ts';
import type { FinishReason, Usage } from '../protocol/protocol.ts';
import { CancelledError, type Priority, type Turns } from './turns.ts';

/** Prefill chunk: long enough to use the matrix kernels well, short enough to yield to a keystroke. */
export const PREFILL_CHUNK = 256;

export interface GenerateJob {
  prompt: number[];
  priority: Priority;
  sampling: SamplingOptions;
  maxTokens: number;
  /** Stop ids, stop strings and the indentation rule. */
  stops: StopDetector;
  promptBudgetMs?: number;
  predictBudgetMs?: number;
  /** Draft from n-gram matches in the prompt (used only with greedy sampling; same output). */
  promptLookup?: boolean;
  signal: AbortSignal;
  /** New text, with the number of tokens generated so far (the text may lag them: stop strings are held back). */
  onText?: (delta: string, tokens: number) => void;
}

export interface GenerateResult {
  text: string;
  ids: number[];
  finishReason: FinishReason;
  usage: Usage & { forwards: number; draftedTokens: number; acceptedTokens: number };
}

export interface GenerateContext {
  session: ModelSession;
  tokenizer: EngineTokenizer;
  cache: PrefixCache;
  turns: Turns;
  contextLength: number;
}

export class PromptTooLongError extends Error {
  constructor(
    readonly promptTokens: number,
    readonly contextLength: number,
  ) {
    super(`the prompt has ${promptTokens} tokens; the context holds ${contextLength} (leave room for at least one generated token)`);
    this.name = 'PromptTooLongError';
  }
}

/** The session seen through the turn queue: each forward waits for this request's turn. */
function turnTaking(ctx: GenerateContext, job: GenerateJob): DecodeSession<KvState> {
  return {
    async forward(state, ids, opts) {
      const release = await ctx.turns.acquire(job.priority, job.signal);
      try {
        return await ctx.session.forward(state, ids, opts);
      } finally {
        release();
      }
    },
  };
}

export async function generate(ctx: GenerateContext, job: GenerateJob): Promise<GenerateResult> {
  const prompt = job.prompt;
  if (prompt.length === 0) throw new Error('the prompt is empty');
  if (prompt.length >= ctx.contextLength) throw new PromptTooLongError(prompt.length, ctx.contextLength);
  const maxTokens = Math.max(0, Math.min(job.maxTokens, ctx.contextLength - prompt.length));
  const session = turnTaking(ctx, job);

  const { state, reused } = await ctx.cache.take(prompt);
  const out: number[] = [];
  let text = '';
  let finish: FinishReason = 'length';
  const usage: GenerateResult['usage'] = {
    promptTokens: prompt.length,
    cachedTokens: reused,
    completionTokens: 0,
    prefillMs: 0,
    decodeMs: 0,
    forwards: 0,
    draftedTokens: 0,
    acceptedTokens: 0,
  };
  const show = (s: string) => {
    if (!s) return;
    text += s;
    job.onText?.(s, out.length);
  };
  const decoder = new StreamDecoder(ctx.tokenizer, { skipSpecialTokens: true, contextIds: prompt.slice(-4) });
  /** Feeds one generated token through detokenisation and the stop rules; true = stop here. */
  const accept = (id: number): boolean => {
    out.push(id);
    const s = job.stops.push(id, decoder.push(id));
    show(s.text);
    return s.stop;
  };
  try {
    const t0 = performance.now();
    let logits: Float32Array | null = null;
    state.planPrompt(prompt.length);
    for (let pos = reused; pos < prompt.length; pos += PREFILL_CHUNK) {
      logits = (await session.forward(state, prompt.slice(pos, Math.min(prompt.length, pos + PREFILL_CHUNK)), { logitsToKeep: 1 })).logits;
      usage.forwards++;
      if (job.promptBudgetMs !== undefined && performance.now() - t0 > job.promptBudgetMs && pos + PREFILL_CHUNK < prompt.length) {
        usage.prefillMs = performance.now() - t0;
        return { text: '', ids: [], finishReason: 'time', usage };
      }
    }
    usage.prefillMs = performance.now() - t0;

    const t1 = performance.now();
    const greedy = job.sampling.greedy || (job.sampling.temperature ?? 0.8) <= 0;
    if (job.promptLookup && greedy && maxTokens > 0) {
      const stats = newDecodeStats();
      const gen = greedyDecode(session, state, logits!, { maxTokens, lookup: {}, context: prompt, signal: job.signal, stats });
      outer: for await (const batch of gen) {
        for (const id of batch) {
          if (accept(id)) {
            finish = 'stop';
            break outer;
          }
        }
        if (job.predictBudgetMs !== undefined && job.stops.mayStopForTime(performance.now() - t1, job.predictBudgetMs)) {
          finish = 'time';
          break;
        }
      }
      if (stats.finish === 'abort') finish = 'cancelled';
      usage.forwards += stats.forwards;
      usage.draftedTokens = stats.drafted;
      usage.acceptedTokens = stats.accepted;
    } else {
      const sampler = new Sampler(job.sampling);
      const history = prompt.slice();
      for (let i = 0; i < maxTokens; i++) {
        if (job.signal.aborted) {
          finish = 'cancelled';
          break;
        }
        const next = sampler.next(logits!, history);
        history.push(next);
        if (accept(next)) {
          finish = 'stop';
          break;
        }
        if (i === maxTokens - 1) break;
        if (job.predictBudgetMs !== undefined && job.stops.mayStopForTime(performance.now() - t1, job.predictBudgetMs)) {
          finish = 'time';
          break;
        }
        logits = (await session.forward(state, [next], { logitsToKeep: 1 })).logits;
        usage.forwards++;
      }
    }
    if (finish !== 'stop' && finish !== 'cancelled') {
      const s = job.stops.push(-1, decoder.flush());
      show(s.text);
      if (s.stop) finish = 'stop';
    }
    if (finish !== 'cancelled' && !job.stops.stopped) show(job.stops.finish());
    usage.decodeMs = performance.now() - t1;
  } catch (e) {
    if (!(e instanceof CancelledError)) throw e;
    finish = 'cancelled';
  } finally {
    usage.completionTokens = out.length;
    // The state holds the prompt and the generated tokens but the last one (a speculative batch cut
    // short by a stop may hold a few more: trim them so cache entries and their tokens agree).
    const tokens = prompt.concat(out);
    if (state.length > tokens.length) await state.trim(tokens.length);
    ctx.cache.put(tokens, state);
  }
  return { text, ids: out, finishReason: finish, usage };
}
