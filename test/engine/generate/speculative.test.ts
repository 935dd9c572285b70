/**
 * Prompt-lookup speculation must not change greedy output: on a scripted model (exact control of
 * stops inside accepted drafts, the cache contents, aborts) and on real built models (the float32
 * oracle checkpoints, fed token ids; the tiny checkpoints with real tokenizers, fed a refactor
 * prompt), the tokens equal plain one-token-per-forward greedy decoding.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  greedyDecode,
  lookupDraft,
  newDecodeStats,
  type DecodeSession,
  type DecodeStats,
  type GreedyDecodeOptions,
} from '../../../engine/generate/speculative.ts';
import { loadModel } from '../../../engine/runtime/load.ts';
import { argmax } from '../../../engine/runtime/sampler.ts';
import type { KvState, ModelSession } from '../../../engine/runtime/session.ts';
import { sharedDir } from '../../helpers/paths.ts';
import { tinyModel } from '../../helpers/tiny-model.ts';
import { assertProvider, WEBGPU_SKIPPED } from '../../helpers/webgpu.ts';

async function collect<S extends { length: number; trim(n: number): void }>(
  session: DecodeSession<S>,
  state: S,
  start: Float32Array | number,
  opts: GreedyDecodeOptions,
): Promise<{ tokens: number[]; batches: number[][]; stats: DecodeStats }> {
  const stats = opts.stats ?? newDecodeStats();
  const batches: number[][] = [];
  for await (const b of greedyDecode(session, state, start, { ...opts, stats })) batches.push(b);
  return { tokens: batches.flat(), batches, stats };
}

describe('lookupDraft', () => {
  test('the longest n-gram wins, at its most recent occurrence', () => {
    // [1,2,3] matched at 0 beats the more recent [2,3] at 5.
    assert.deepEqual(lookupDraft([1, 2, 3, 4, 7, 2, 3, 5, 1, 2, 3], { maxDraft: 4 }), [4, 7, 2, 3]);
    assert.deepEqual(lookupDraft([1, 2, 9, 1, 2, 8, 1, 2], { maxNgram: 2, maxDraft: 2 }), [8, 1]);
  });

  test('shorter n-grams are the fallback; minNgram and maxDraft bound the search', () => {
    assert.deepEqual(lookupDraft([4, 2, 3, 5, 9, 3, 6, 8, 3], { maxDraft: 3 }), [6, 8, 3]);
    assert.deepEqual(lookupDraft([5, 1, 6, 1], { minNgram: 2 }), []);
    assert.deepEqual(lookupDraft([5, 1, 6, 1], { maxDraft: 0 }), []);
    assert.deepEqual(lookupDraft([1, 2, 3]), []);
    assert.deepEqual(lookupDraft([]), []);
  });

  test('a loop drafts past the end of the history, not just one period', () => {
    assert.deepEqual(lookupDraft([9, 1, 2, 1, 2, 1, 2], { maxDraft: 5 }), [1, 2, 1, 2, 1]);
    assert.deepEqual(lookupDraft([7, 7, 7], { maxDraft: 4 }), [7, 7, 7, 7]);
  });
});

/**
 * A model whose greedy choice is a function of its cache contents: mostly a copy from 5 back (so
 * lookup drafts get accepted), sometimes the sum of everything cached (so a cache that kept a
 * rejected draft token predicts differently). Logits are one-hot.
 */
const V = 50;
class ScriptState {
  tokens: number[] = [];
  get length(): number {
    return this.tokens.length;
  }
  trim(n: number): void {
    assert.ok(n >= 0 && n <= this.tokens.length);
    this.tokens.length = n;
  }
}
function scriptNext(h: readonly number[]): number {
  if (h.length % 7 === 0) return h.reduce((a, b) => a + b, 0) % V;
  return h[h.length - 5] ?? (h.length * 13) % V;
}
class ScriptSession implements DecodeSession<ScriptState> {
  calls = 0;
  onForward?: () => void;
  async forward(state: ScriptState, ids: number[], opts: { logitsToKeep: number }) {
    this.calls++;
    this.onForward?.();
    assert.equal(opts.logitsToKeep, ids.length, 'speculation wants a row for every fed position');
    const logits = new Float32Array(opts.logitsToKeep * V);
    for (let i = 0; i < ids.length; i++) {
      state.tokens.push(ids[i]!);
      const row = i - (ids.length - opts.logitsToKeep);
      if (row >= 0) logits[row * V + scriptNext(state.tokens)] = 1;
    }
    return { logits, vocab: V };
  }
}
const SCRIPT_PROMPT = [3, 14, 15, 9, 26, 5, 35, 8, 9, 7];
function scriptGreedy(prompt: readonly number[], n: number): number[] {
  const h = [...prompt];
  for (let i = 0; i < n; i++) h.push(scriptNext(h));
  return h.slice(prompt.length);
}
/** The prompt in a fresh scripted cache, and the logits after it. */
function scriptStart(): { state: ScriptState; logits: Float32Array } {
  const state = new ScriptState();
  state.tokens = [...SCRIPT_PROMPT];
  const logits = new Float32Array(V);
  logits[scriptNext(SCRIPT_PROMPT)] = 1;
  return { state, logits };
}

describe('greedyDecode on a scripted model', () => {
  const N = 60;
  const ref = scriptGreedy(SCRIPT_PROMPT, N);

  test('lookup output equals plain greedy; drafts are accepted; the cache holds all but the last token', async () => {
    for (const lookup of [null, {}, { maxNgram: 1, maxDraft: 3 }, { minNgram: 2, maxDraft: 20 }]) {
      const { state, logits } = scriptStart();
      const s = new ScriptSession();
      const r = await collect(s, state, logits, { maxTokens: N, lookup, context: SCRIPT_PROMPT });
      assert.deepEqual(r.tokens, ref, JSON.stringify(lookup));
      assert.equal(r.stats.tokens, N);
      assert.equal(r.stats.forwards, s.calls);
      assert.equal(r.stats.finish, 'length');
      assert.deepEqual(state.tokens, [...SCRIPT_PROMPT, ...ref.slice(0, -1)]);
      if (lookup) {
        assert.ok(r.stats.accepted > 0 && r.stats.forwards < N / 2, JSON.stringify(r.stats));
        assert.ok(r.stats.accepted <= r.stats.drafted);
      } else {
        assert.equal(r.stats.forwards, N - 1);
      }
    }
  });

  test('maxTokens is never exceeded, also when a draft could run past it', async () => {
    for (let n = 0; n <= 25; n++) {
      const { state, logits } = scriptStart();
      const r = await collect(new ScriptSession(), state, logits, { maxTokens: n, lookup: { maxDraft: 8 }, context: SCRIPT_PROMPT });
      assert.deepEqual(r.tokens, ref.slice(0, n));
      assert.equal(state.length, SCRIPT_PROMPT.length + Math.max(0, n - 1));
    }
  });

  test('a stop id inside an accepted draft ends the batch at the stop token', async () => {
    // Find a run with a long accepted batch, and a stop token first seen in its middle.
    const { state, logits } = scriptStart();
    const full = await collect(new ScriptSession(), state, logits, { maxTokens: N, lookup: {}, context: SCRIPT_PROMPT });
    let at = -1;
    let pos = 0;
    for (const b of full.batches) {
      for (let j = 0; j < b.length - 1 && at < 0; j++) if (!ref.slice(0, pos + j).includes(b[j]!)) at = pos + j;
      pos += b.length;
    }
    assert.ok(at >= 0, 'the script should put a new token inside an accepted draft');
    for (const lookup of [{}, null]) {
      const st = scriptStart();
      const r = await collect(new ScriptSession(), st.state, st.logits, { maxTokens: N, stopIds: [ref[at]!, 999], lookup, context: SCRIPT_PROMPT });
      assert.deepEqual(r.tokens, ref.slice(0, at + 1));
      assert.equal(r.stats.finish, 'stop');
      assert.deepEqual(st.state.tokens, [...SCRIPT_PROMPT, ...ref.slice(0, at)]);
    }
    // A stop as the very first token.
    const st = scriptStart();
    const r = await collect(new ScriptSession(), st.state, st.logits, { maxTokens: N, stopIds: [ref[0]!], lookup: {}, context: SCRIPT_PROMPT });
    assert.deepEqual(r.tokens, [ref[0]]);
    assert.equal(r.stats.forwards, 0);
  });

  test('a start token (not in the cache yet) is not yielded again; the rest matches', async () => {
    const state = new ScriptState();
    state.tokens = SCRIPT_PROMPT.slice(0, -1);
    const r = await collect(new ScriptSession(), state, SCRIPT_PROMPT.at(-1)!, { maxTokens: N, lookup: {}, context: SCRIPT_PROMPT.slice(0, -1) });
    assert.deepEqual(r.tokens, ref);
    assert.deepEqual(state.tokens, [...SCRIPT_PROMPT, ...ref.slice(0, -1)]);
  });

  test('an aborted signal stops before the next forward', async () => {
    const pre = scriptStart();
    const s0 = new ScriptSession();
    const r0 = await collect(s0, pre.state, pre.logits, { maxTokens: N, lookup: {}, context: SCRIPT_PROMPT, signal: AbortSignal.abort() });
    assert.deepEqual(r0.tokens, []);
    assert.equal(s0.calls, 0);
    assert.equal(r0.stats.finish, 'abort');

    // Aborted while the third forward runs: that batch still arrives (the cache holds it), no more.
    const ac = new AbortController();
    const s = new ScriptSession();
    s.onForward = () => {
      if (s.calls === 3) ac.abort();
    };
    const st = scriptStart();
    const r = await collect(s, st.state, st.logits, { maxTokens: N, lookup: {}, context: SCRIPT_PROMPT, signal: ac.signal });
    assert.equal(s.calls, 3);
    assert.equal(r.stats.finish, 'abort');
    assert.deepEqual(r.tokens, ref.slice(0, r.tokens.length));
    assert.deepEqual(st.state.tokens, [...SCRIPT_PROMPT, ...r.tokens.slice(0, -1)]);
  });
});

// ---------------------------------------------------------------------------------------------
// Real models.

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-spec-'));
after(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

/** Plain greedy, one token per forward, written independently of the module under test. */
async function plainGreedy(session: ModelSession, state: KvState, logits: Float32Array, n: number): Promise<number[]> {
  const out: number[] = [];
  let tok = argmax(logits);
  for (let i = 0; i < n; i++) {
    out.push(tok);
    if (i + 1 < n) tok = argmax((await session.forward(state, [tok])).logits);
  }
  return out;
}

interface RealCheck {
  tokens: number;
  stats: DecodeStats;
}

/**
 * Prefill `prompt`, then check speculative greedy against plain greedy for `n` tokens, plus stop
 * ids and an abort on the same model.
 */
async function checkModel(session: ModelSession, prompt: number[], n: number): Promise<RealCheck> {
  const st = session.newState();
  const pre = await session.forward(st, prompt);
  const ref = await plainGreedy(session, (await st.clone()), pre.logits, n);

  const spec = (await st.clone());
  const r = await collect(session, spec, pre.logits, { maxTokens: n, lookup: {}, context: prompt });
  const diverge = ref.findIndex((t, i) => t !== r.tokens[i]);
  assert.equal(diverge, -1, `speculative output leaves plain greedy at token ${diverge}`);
  assert.equal(r.tokens.length, n);
  // Everything but the last token is cached, and nothing rejected is left behind: continuing
  // from here equals a fresh prefill of the whole sequence.
  assert.equal(spec.length, prompt.length + n - 1);
  const cont = await session.forward(spec, [r.tokens.at(-1)!]);
  const fresh = await session.forward(session.newState(), [...prompt, ...r.tokens]);
  let d = 0;
  for (let i = 0; i < cont.logits.length; i++) d = Math.max(d, Math.abs(cont.logits[i]! - fresh.logits[i]!));
  assert.ok(d < 1e-4, `continued cache differs from a fresh prefill by ${d}`);

  const plain = await collect(session, (await st.clone()), pre.logits, { maxTokens: n, lookup: null, context: prompt });
  assert.deepEqual(plain.tokens, ref);

  // Stop at the first occurrence of a token from the second half.
  const stopTok = ref[Math.floor(n * 0.6)]!;
  const at = ref.indexOf(stopTok);
  const stopSt = (await st.clone());
  const s = await collect(session, stopSt, pre.logits, { maxTokens: n, stopIds: [stopTok], lookup: {}, context: prompt });
  assert.deepEqual(s.tokens, ref.slice(0, at + 1));
  assert.equal(s.stats.finish, 'stop');
  assert.equal(stopSt.length, prompt.length + at);

  // Abort after the second batch: generation ends with no further forward.
  const ac = new AbortController();
  const abortStats = newDecodeStats();
  let batches = 0;
  for await (const b of greedyDecode(session, (await st.clone()), pre.logits, { maxTokens: n, lookup: {}, context: prompt, signal: ac.signal, stats: abortStats })) {
    assert.ok(b.length > 0);
    if (++batches === 2) ac.abort();
  }
  assert.equal(batches, 2);
  assert.equal(abortStats.finish, 'abort');
  assert.equal(abortStats.forwards, 1);
  return { tokens: n, stats: r.stats };
}

describe('greedyDecode on built models', () => {
  const results = new Map<string, RealCheck>();
  const N = 64;
  // A sequence repeated (and begun a third time), so lookup finds drafts from the start.
  const motif = [5, 17, 99, 3, 250, 41, 7, 64, 128, 33, 201, 12, 90, 77, 8, 150];
  const idsPrompt = [...motif, ...motif, ...motif.slice(0, 4)];

  for (const c of ['deepseek_v2_lite', 'deepseek_v2', 'deepseek_v3', 'qwen3_moe', 'qwen2_moe', 'mixtral']) {
    test(`oracle ${c}: ${N} tokens with lookup equal plain greedy`, async (t) => {
      const m = await loadModel(path.join(sharedDir(), 'oracle', c), { quant: 'none', providers: ['cpu'], cacheDir });
      try {
        const r = await checkModel(m.session, idsPrompt, N);
        results.set(c, r);
        t.diagnostic(`${c}: ${JSON.stringify(r.stats)}, ${(r.tokens / r.stats.forwards).toFixed(2)} tokens per forward`);
      } finally {
        await m.close();
      }
    });
  }

  // With the cache on the GPU every rejected draft is trimmed on the device.
  test('oracle deepseek_v2_lite on WebGPU (cache on the device): lookup equals plain greedy', { skip: WEBGPU_SKIPPED && 'SWITCHYARD_SKIP_WEBGPU=1' }, async (t) => {
    const m = await loadModel(path.join(sharedDir(), 'oracle', 'deepseek_v2_lite'), { quant: 'none', providers: ['webgpu'], cacheDir });
    try {
      assertProvider(m.session.provider, 'webgpu', m.session.attempts);
      assert.equal(m.session.kvLocation, 'gpu-buffer');
      const r = await checkModel(m.session, idsPrompt, N);
      assert.ok(r.stats.accepted > 0 && r.stats.accepted < r.stats.drafted, 'both accepted and rejected drafts should occur');
      t.diagnostic(`webgpu: ${JSON.stringify(r.stats)}`);
    } finally {
      await m.close();
    }
  });

  for (const tok of ['deepseek-coder-v1', 'qwen2.5-coder'] as const) {
    test(`tiny ${tok} model: a refactor prompt decodes the same with lookup`, async (t) => {
      const m = await loadModel(tinyModel(tok), { quant: 'none', providers: ['cpu'], cacheDir });
      try {
        const code = 'function total(items) {\n  let sum = 0;\n  for (const item of items) {\n    sum += item.price * item.quantity;\n  }\n  return sum;\n}\n';
        const prompt = m.tokenizer!.encode(`Here is some code:\n\n${code}\nRewrite it to use reduce instead of the loop:\n\n\`\`\`js\nfunction total(`);
        const r = await checkModel(m.session, prompt, N);
        results.set(tok, r);
        assert.ok(r.stats.drafted > 0, 'the repeated code should give drafts');
        t.diagnostic(`${tok}: ${JSON.stringify(r.stats)}, ${(r.tokens / r.stats.forwards).toFixed(2)} tokens per forward`);
      } finally {
        await m.close();
      }
    });
  }

  test('drafts were accepted and saved forward calls somewhere', () => {
    assert.ok(results.size > 0);
    const good = [...results].filter(([, r]) => r.stats.accepted > 0 && r.stats.forwards < r.tokens);
    assert.ok(good.length > 0, JSON.stringify([...results]));
  });
});
