/**
 * `npm run bench:v4 [-- options]`: DeepSeek-V4 speed and cache size on a V4-Flash-shaped random
 * checkpoint scaled to this machine (v4-checkpoint.ts), and a typing trace in a long window with the
 * engine's prefix cache on and off. Prints numbers; asserts nothing.
 *
 * 1. Decode tok/s at each --depths (the cache filled by real prefill chunks of the service's size),
 *    with the cache's bytes there: the live state (sliding windows, compressors' pending and overlap
 *    rows, compressed entries) and the snapshots kept for trim/copy, apart.
 * 2. Typing trace: the window (the first --window tokens of this repository's engine/ sources,
 *    DeepSeek-Coder tokenizer: its vocabulary is the checkpoint's) is the cached prompt (the state
 *    filled in 1). Then keystrokes near its end (append a character, another, delete one, a character
 *    that joins the last token, edits inside the last few hundred tokens); each is re-tokenised and
 *    timed to its first token (take from the cache + prefill of what is new + logits), through
 *    PrefixCache as engine/service/generate.ts uses it. "off": a fresh state each time, the whole
 *    prompt prefilled.
 *
 *   --quant none|int8|int4   (default int8)     --ep LIST (default cpu)
 *   --experts dispatch|fused (default: the engine's default for the quant)
 *   --depths LIST            (default 0,8192,32768)   --decode N (steps per figure, default 8)
 *   --window N               tokens of the typing window (default: the largest depth)
 *   --off-keys LIST          keystrokes (1-based) also timed with the cache off (default 1,8: an
 *                            append at the end and an edit 300 tokens back; each is a full prefill
 *                            of the window, ~as long as opening it, the trace's first row; 0: none)
 *   --layers N               (default 8)   --dir DIR (checkpoint; default <cache>/bench/v4-checkpoint-<N>l)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Checkpoint, defaultCacheDir } from '../engine/checkpoint/checkpoint.ts';
import type { Quant } from '../engine/graph/linear.ts';
import { v4CacheFloatsAt } from '../engine/model/deepseek-v4/config.ts';
import { buildModel } from '../engine/model/build.ts';
import { humanBytes, humanCount, modelFacts } from '../engine/model/info.ts';
import { kvBytesPerToken, specFromConfig } from '../engine/model/spec.ts';
import { CompressedKvState } from '../engine/runtime/compressed-state.ts';
import type { ExpertMode } from '../engine/runtime/experts.ts';
import { PrefixCache } from '../engine/runtime/prefix-cache.ts';
import { parseProviderList } from '../engine/runtime/providers.ts';
import { argmax } from '../engine/runtime/sampler.ts';
import { ModelSession, type KvState } from '../engine/runtime/session.ts';
import { PREFILL_CHUNK } from '../engine/service/generate.ts';
import { loadTokenizer } from '../engine/tokenizer/tokenizer.ts';
import { ensureV4Checkpoint, releasedSchedule, V4_SCALED, type V4Shape } from './v4-checkpoint.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    quant: { type: 'string', default: 'int8' },
    ep: { type: 'string', default: 'cpu' },
    experts: { type: 'string' },
    depths: { type: 'string', default: '0,8192,32768' },
    decode: { type: 'string', default: '8' },
    window: { type: 'string' },
    'off-keys': { type: 'string' },
    layers: { type: 'string' },
    dir: { type: 'string' },
  },
});
const fail = (msg: string): never => {
  console.error(`error: ${msg}`);
  process.exit(2);
};
const count = (name: string, v: string, min = 1): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer >= ${min} (got '${v}')`);
  return n;
};
const quant = values.quant as Quant;
if (quant !== 'none' && quant !== 'int8' && quant !== 'int4') fail(`--quant takes none, int8 or int4 (got '${values.quant}')`);
if (values.experts && values.experts !== 'dispatch' && values.experts !== 'fused') fail(`--experts takes dispatch or fused (got '${values.experts}')`);
const providers = parseProviderList(values.ep);
const depths = [...new Set(values.depths.split(',').map((d) => count('depths', d.trim(), 0)))].sort((a, b) => a - b);
const steps = count('decode', values.decode);
const windowTokens = count('window', values.window ?? String(Math.max(...depths, 1024)), 512);
const shape: V4Shape = { ...V4_SCALED, layers: values.layers ? count('layers', values.layers) : V4_SCALED.layers };

const log = (line: string) => process.stderr.write(`${line}\n`);
const t0run = performance.now();
const loadAtStart = os.loadavg()[0]!;
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const benchRoot = path.join(defaultCacheDir(), 'bench');
const ckptDir = values.dir ?? path.join(benchRoot, `v4-checkpoint-${shape.layers}l`);
const made = ensureV4Checkpoint(ckptDir, shape, log);
if (made.created) log(`checkpoint written in ${(made.ms / 1000).toFixed(1)} s`);

// ---- the model --------------------------------------------------------------------------------
const ckpt = Checkpoint.open(ckptDir);
const spec = specFromConfig(ckpt.config, ckpt.configPath);
const facts = modelFacts(spec, ckpt);
const schedule = releasedSchedule(shape.layers, shape.csaRate, shape.hcaRate);
const describe =
  `DeepSeek-V4 random checkpoint: hidden ${shape.hidden}, ${shape.layers} layers [${schedule.map((m) => (m === 0 ? 'S' : m === shape.csaRate ? 'C' : 'H')).join('')}] ` +
  `(S sliding ${shape.slidingWindow}, C CSA ${shape.csaRate} + indexer ${shape.indexHeads}x${shape.indexHeadDim} top-${shape.indexTopk}, H HCA ${shape.hcaRate}), ` +
  `${shape.heads} heads x ${shape.headDim}, ${shape.experts} experts top-${shape.topK} of ${shape.moeInter} + 1 shared (${shape.hashLayers} hash layers), mHC ${shape.hcMult}, vocab ${shape.vocab}: ` +
  `${humanCount(facts.totalParams)} params, ${humanCount(facts.activeParams)} active`;
log(describe);
let t = performance.now();
const built = await buildModel(ckpt, {
  quant,
  cacheDir: path.join(benchRoot, 'v4-builds'),
  onProgress: (p) => {
    if (p.phase !== 'hashing' && p.done === p.total) log(`  ${p.message}`);
  },
});
const buildS = (performance.now() - t) / 1000;
log(`model ${quant} ${built.fromCache ? 'from the build cache' : 'built'} in ${buildS.toFixed(1)} s`);
const session = await ModelSession.create(built, { providers, log, experts: values.experts as ExpertMode | undefined });
log(`session on ${session.provider} (${session.expertMode} experts) in ${(session.createMs / 1000).toFixed(1)} s; ${os.availableParallelism()} cores`);

// ---- the window's tokens: real source text, so keystrokes re-tokenise as in the editor ------------
const tok = await loadTokenizer(path.join(process.env.SWITCHYARD_SHARED ?? path.join(repo, '..', 'shared'), 'tokenizers', 'deepseek-coder-v1'));
if (tok.vocabSize > shape.vocab) fail(`the tokenizer's vocabulary (${tok.vocabSize}) exceeds the checkpoint's (${shape.vocab})`);
function sourceText(tokens: number): string {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const n of fs.readdirSync(path.join(repo, dir)).sort()) {
      const rel = path.join(dir, n);
      if (fs.statSync(path.join(repo, rel)).isDirectory()) walk(rel);
      else if (/\.(ts|mjs)$/.test(n)) files.push(rel);
    }
  };
  for (const d of ['engine', 'extension', 'test', 'bench', 'webview']) walk(d);
  let text = '';
  for (const f of files) {
    text += `// ${f}\n${fs.readFileSync(path.join(repo, f), 'utf8')}\n`;
    // ~3 characters a token in code: stop once safely past the window.
    if (text.length > tokens * 5 && tok.encode(text).length > tokens + 64) break;
  }
  const ids = tok.encode(text);
  if (ids.length < tokens) fail(`the repository's sources give only ${ids.length} tokens (< --window ${tokens})`);
  // Cut at a line end inside the window so the prompt is text as an editor would send it.
  const cut = tok.decode(ids.slice(0, tokens));
  return cut.slice(0, cut.lastIndexOf('\n') + 1);
}
const windowText = sourceText(windowTokens);
const windowIds = tok.encode(windowText);
// Filling past the window (a depth beyond it) continues with the same text repeated.
const idsTo = (n: number) => Array.from({ length: n }, (_, i) => windowIds[i % windowIds.length]!);

// Checked before the long part below, so a wrong --off-keys fails at once.
const keys = keystrokes(windowText);
const offKeys = (values['off-keys'] ?? '1,8')
  .split(',')
  .map((k) => count('off-keys', k.trim(), 0))
  .filter((k) => k > 0);
for (const k of offKeys) if (k > keys.length) fail(`--off-keys: there are ${keys.length} keystrokes (got ${k})`);

// ---- 1. decode at depth --------------------------------------------------------------------------
/** Bytes of the live tensors alone (CompressedKvState.bytes adds its snapshots). */
const liveBytes = (s: KvState) => [...s.tensors.values()].reduce((a, x) => a + 4 * (x.dims as number[]).reduce((p, d) => p * d, 1), 0);

async function decode(state: KvState, first: number): Promise<number> {
  let next = first;
  const t1 = performance.now();
  for (let i = 0; i < steps; i++) next = argmax((await session.forward(state, [next])).logits);
  return steps / ((performance.now() - t1) / 1000);
}

interface DepthRow {
  depth: number;
  fillTokS: number | null;
  decodeTokS: number;
  live: number;
  snapshots: number;
  snapshotCount: number;
  formula: number;
}

// Warm-up: first-run allocations of every kernel are not part of the figures.
await session.forward(session.newState(), idsTo(PREFILL_CHUNK));
await decode(session.newState(), 2);

const rows: DepthRow[] = [];
const state = session.newState() as CompressedKvState;
const fillTarget = Math.max(windowIds.length, ...depths);
let last = 0;
let fillMs = 0;
let filledAt = 0;
const probes: { state: KvState; first: number }[] = [];
for (const depth of [...depths, fillTarget]) {
  if (depth > state.length) {
    const all = idsTo(depth);
    const t1 = performance.now();
    for (let pos = state.length; pos < depth; pos += PREFILL_CHUNK) {
      last = argmax((await session.forward(state, all.slice(pos, Math.min(depth, pos + PREFILL_CHUNK)))).logits);
    }
    fillMs += performance.now() - t1;
    log(`  filled to ${depth} tokens: ${((depth - filledAt) / ((performance.now() - t1) / 1000)).toFixed(1)} tok/s (this stretch)`);
    filledAt = depth;
  }
  if (!depths.includes(depth) || rows.some((r) => r.depth === depth)) continue;
  const live = liveBytes(state);
  // A copy to decode from later (from the snapshot at `depth`, no re-prefill), so the filled state goes on.
  probes.push({ state: depth === 0 ? session.newState() : await state.copy(), first: last });
  rows.push({
    depth,
    fillTokS: depth ? depth / (fillMs / 1000) : null,
    decodeTokS: 0,
    live,
    snapshots: state.bytes - live,
    snapshotCount: state.snapshotPositions.length,
    formula: 4 * v4CacheFloatsAt(spec.v4!, depth),
  });
}
// Every depth's decode back to back: this machine is shared, and its load drifts over a long fill.
for (const [i, r] of rows.entries()) {
  const { state: probe, first } = probes[i]!;
  r.decodeTokS = await decode(probe, r.depth === 0 ? argmax((await session.forward(probe, [2])).logits) : first);
  probe.dispose();
  log(`  depth ${r.depth}: decode ${r.decodeTokS.toFixed(2)} tok/s; cache ${humanBytes(r.live)} + snapshots ${humanBytes(r.snapshots)}`);
}

// ---- 2. typing trace -----------------------------------------------------------------------------
if (state.length > windowIds.length) await state.trim(windowIds.length);
// The same trace on a copy whose prompts take no tail snapshot (only the regular ones every
// snapshotEvery positions): the baseline for what the tail snapshots buy, in this run.
const gridOnly = await state.copy();
gridOnly.promptTail = 0;
const gridCache = new PrefixCache(8 * 1024 ** 3, () => session.newState());
gridCache.put(windowIds, gridOnly);
const cache = new PrefixCache(8 * 1024 ** 3, () => session.newState());
cache.put(windowIds, state);

interface Key {
  what: string;
  text: string;
}
/** Keystrokes near the end of the window, each applied to the text after the one before. */
function keystrokes(text: string): Key[] {
  const keys: Key[] = [];
  let cur = text;
  const push = (what: string, next: string) => keys.push({ what, text: (cur = next) });
  push('type "c" at the end (a new line)', `${cur}c`);
  push('type "o"', `${cur}o`);
  push('type "n"', `${cur}n`);
  push('delete it (backspace)', cur.slice(0, -1));
  push('type "s"', `${cur}s`);
  push('type "t" (joins the last token)', `${cur}t`);
  // Inside the window: a character typed into a line ~N tokens before the end, the cursor left there.
  for (const back of [100, 300]) {
    const ids = tok.encode(cur);
    const at = tok.decode(ids.slice(0, ids.length - back)).length;
    const lineEnd = cur.indexOf('\n', at);
    push(`type "x" ${back} tokens before the end`, `${cur.slice(0, lineEnd)}x${cur.slice(lineEnd)}`);
  }
  push('type "y" at the end again', `${cur}y`);
  return keys;
}

/** One request's time to first token: the best cached prefix (or a fresh state), prefill, logits. */
async function ttft(prompt: number[], cached: PrefixCache | null): Promise<{ ms: number; reused: number }> {
  const t1 = performance.now();
  const { state: s, reused } = cached ? await cached.take(prompt) : { state: session.newState(), reused: 0 };
  s.planPrompt(prompt.length); // as the service does
  let logits: Float32Array | null = null;
  for (let pos = reused; pos < prompt.length; pos += PREFILL_CHUNK) {
    logits = (await session.forward(s, prompt.slice(pos, Math.min(prompt.length, pos + PREFILL_CHUNK)))).logits;
  }
  argmax(logits!);
  const ms = performance.now() - t1;
  if (cached) cached.put(prompt, s);
  else s.dispose();
  return { ms, reused };
}

interface TraceRow {
  what: string;
  prompt: number;
  reused: number;
  onMs: number;
  gridMs: number;
  offMs: number | null;
}
const trace: TraceRow[] = [];
for (const [i, k] of keys.entries()) {
  const prompt = tok.encode(k.text);
  const grid = await ttft(prompt, gridCache);
  const on = await ttft(prompt, cache);
  trace.push({ what: k.what, prompt: prompt.length, reused: on.reused, onMs: on.ms, gridMs: grid.ms, offMs: null });
  log(`  key ${i + 1} ${k.what}: prompt ${prompt.length}, reused ${on.reused}: cache on ${on.ms.toFixed(0)} ms (regular snapshots only ${grid.ms.toFixed(0)} ms)`);
}
gridCache.clear();
// The same requests from a fresh state each (the slow part: each is the whole window), after the
// cached ones so that a cut-short run still has those.
for (const n of offKeys) {
  const off = await ttft(tok.encode(keys[n - 1]!.text), null);
  trace[n - 1]!.offMs = off.ms;
  log(`  key ${n} ${keys[n - 1]!.what}: cache off ${off.ms.toFixed(0)} ms`);
}
const peakRss = process.resourceUsage().maxRSS * 1024;
await session.release();
ckpt.close();

// ---- report ----------------------------------------------------------------------------------------
const table = (r: string[][]) => {
  const w = r[0]!.map((_, c) => Math.max(...r.map((x) => x[c]!.length)));
  for (const x of r) console.log(`| ${x.map((v, c) => v.padEnd(w[c]!)).join(' | ')} |`);
};
console.log(describe);
console.log(
  `${quant}, ${session.expertMode} experts on ${session.provider}, ${os.availableParallelism()} cores; KV per token (spec, float32, at 128K) ${humanBytes(kvBytesPerToken(spec, 4))}; ` +
    `snapshots every ${state.snapshotEvery} positions; peak RSS ${humanBytes(peakRss)}; run ${((performance.now() - t0run) / 1000).toFixed(0)} s; ` +
    // This machine is shared: the load says how far the figures are from an idle machine's.
    `load average ${loadAtStart.toFixed(1)} at the start, ${os.loadavg()[0]!.toFixed(1)} at the end\n`,
);
table([
  ['depth', 'decode tok/s', 'fill tok/s (0 -> depth)', 'KV cache (live state)', 'snapshots', 'KV by v4CacheFloatsAt'],
  ...rows.map((r) => [
    String(r.depth),
    r.decodeTokS.toFixed(2),
    r.fillTokS === null ? '-' : r.fillTokS.toFixed(1),
    humanBytes(r.live),
    `${humanBytes(r.snapshots)} (${r.snapshotCount})`,
    humanBytes(r.formula),
  ]),
]);
console.log(`\ntyping trace: a ${windowIds.length}-token window, time to first token per keystroke (ms)`);
table([
  ['keystroke', 'prompt tokens', 'reused (cache on)', 'prefix cache on', 'on, regular snapshots only', 'off (fresh state)'],
  // Opening the window: the fill above, from a fresh state in the service's chunks (what "off" pays on every key).
  ['open the window (the fill above)', String(fillTarget), '0', (fillMs).toFixed(0), (fillMs).toFixed(0), (fillMs).toFixed(0)],
  ...trace.map((r) => [r.what, String(r.prompt), String(r.reused), r.onMs.toFixed(0), r.gridMs.toFixed(0), r.offMs === null ? 'not run' : r.offMs.toFixed(0)]),
]);
