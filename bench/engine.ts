/**
 * `npm run bench:engine [-- options]`: engine speed and memory on a DeepSeek-Coder-V2-Lite-shaped
 * random checkpoint (see synthetic-checkpoint.ts), for float32, int8 and int4 builds. Each quant runs
 * in its own child process so peak RSS is that build's alone. Prints numbers; asserts nothing.
 *
 *   --quant none,int8,int4   which builds (default all three)
 *   --experts dispatch,fused how routed experts run (default both on the CPU: each is the other's
 *                            baseline, in the same run; fused on a GPU provider)
 *   --ep LIST                execution-provider preference (default webgpu,cuda,dml,coreml,cpu)
 *   --profile                also break one decode step down (ORT's per-node profile by op type,
 *                            session-run overhead, JavaScript time) at depth 0 and at --depth
 *   --layers N               override the layer count (default 12)
 *   --prefill N              prompt length for the prefill figure (default 512)
 *   --depth N                cache depth for the deep decode figure (default 4096)
 *   --decode N               decode steps per figure (default 16)
 *   --dir DIR                where the synthetic checkpoint lives (default <cache>/bench/checkpoint)
 *   --json                   one JSON object per build instead of the table
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Checkpoint, defaultCacheDir } from '../engine/checkpoint/checkpoint.ts';
import type { Quant } from '../engine/graph/linear.ts';
import { buildModel } from '../engine/model/build.ts';
import { humanBytes, humanCount, modelFacts } from '../engine/model/info.ts';
import { specFromConfig } from '../engine/model/spec.ts';
import { DEFAULT_PREFERENCE, parseProviderList } from '../engine/runtime/providers.ts';
import { argmax } from '../engine/runtime/sampler.ts';
import { ModelSession, type KvState } from '../engine/runtime/session.ts';
import type { ExpertMode } from '../engine/runtime/experts.ts';
import { summariseProfiles } from '../engine/runtime/profile.ts';
import { DispatchRunner } from '../engine/runtime/runners.ts';
import { ensureSyntheticCheckpoint, LITE_SCALED, type SyntheticShape } from './synthetic-checkpoint.ts';

interface ProfileRow {
  depth: number;
  step_ms: number;
  /** ms per step by op type, experts' sessions and the rest apart. */
  ops: { where: 'experts' | 'model'; op: string; ms: number; calls: number }[];
  /** ORT's own run time summed over sessions, ms per step; and the number of session runs. */
  ort_run_ms: number;
  session_runs: number;
  /** Expert dispatch in JavaScript (gather rows, sum outputs), ms per step. */
  dispatch_js_ms: number;
  /** Bytes of cache tensors that cross the binding per step (copied out of ORT into JavaScript). */
  cache_bytes_out: number;
}

interface BenchResult {
  quant: Quant;
  experts: string;
  provider: string;
  hash_s: number;
  build_s: number;
  cached_load_s: number;
  session_create_s: number;
  prefill_tokens: number;
  prefill_tok_s: number;
  decode_tok_s_depth0: number;
  depth: number;
  fill_to_depth_tok_s: number;
  decode_tok_s_at_depth: number;
  kv_bytes_at_depth: number;
  model_bytes: number;
  /** Weight bytes a decode step reads (all but the embedding table; routed experts: top-k of each layer's). */
  weight_bytes_per_token: number;
  peak_rss_bytes: number;
  profile?: ProfileRow[];
}

const options = {
  quant: { type: 'string', default: 'none,int8,int4' },
  experts: { type: 'string' },
  profile: { type: 'boolean', default: false },
  keep: { type: 'boolean', default: false },
  ep: { type: 'string' },
  layers: { type: 'string' },
  prefill: { type: 'string', default: '512' },
  depth: { type: 'string', default: '4096' },
  decode: { type: 'string', default: '16' },
  dir: { type: 'string' },
  json: { type: 'boolean', default: false },
  child: { type: 'boolean', default: false },
} as const;

const { values } = parseArgs({ args: process.argv.slice(2), options });
const int = (name: string, v: string | undefined): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`error: --${name} must be a positive integer (got '${v}')`);
    process.exit(2);
  }
  return n;
};
const shape: SyntheticShape = { ...LITE_SCALED, layers: values.layers ? int('layers', values.layers) : LITE_SCALED.layers };
const benchRoot = path.join(defaultCacheDir(), 'bench');
const ckptDir = values.dir ?? path.join(benchRoot, `checkpoint-${shape.layers}l`);
const log = (line: string) => process.stderr.write(`${line}\n`);

async function decodeSteps(session: ModelSession, state: KvState, first: number, steps: number): Promise<number> {
  let next = first;
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    const r = await session.forward(state, [next]);
    next = argmax(r.logits);
  }
  return steps / ((performance.now() - t0) / 1000);
}

async function child(): Promise<void> {
  const quant = values.quant as Quant;
  const experts = (values.experts ?? 'fused') as ExpertMode;
  const providers = values.ep ? parseProviderList(values.ep) : DEFAULT_PREFERENCE;
  const prefill = int('prefill', values.prefill);
  const depth = int('depth', values.depth);
  const steps = int('decode', values.decode);
  const buildDir = path.join(benchRoot, 'builds');

  const ckpt = Checkpoint.open(ckptDir);
  let t = performance.now();
  await ckpt.contentKey();
  const hashS = (performance.now() - t) / 1000;

  t = performance.now();
  let lastPct = -1;
  // The first mode of a quant rebuilds (the build time is one of the figures); the second reuses it.
  const built0 = await buildModel(ckpt, {
    quant,
    cacheDir: buildDir,
    force: !values.keep,
    onProgress: (p) => {
      const pct = Math.floor((100 * p.done) / Math.max(1, p.total));
      if (p.phase !== 'hashing' && pct !== lastPct && pct % 25 === 0) log(`  [${quant}] ${p.message}`);
      lastPct = pct;
    },
  });
  const buildS = (performance.now() - t) / 1000;
  t = performance.now();
  const built = await buildModel(ckpt, { quant, cacheDir: buildDir });
  const cachedS = (performance.now() - t) / 1000;
  if (!built.fromCache) throw new Error('second load rebuilt the model: the build cache did not hit');
  const modelBytes = fs.readdirSync(built0.dir).reduce((a, f) => a + fs.statSync(path.join(built0.dir, f)).size, 0);

  const session = await ModelSession.create(built, { providers, log, experts });
  const tag = `${quant}/${session.expertMode}`;
  log(`  [${tag}] session on ${session.provider} in ${(session.createMs / 1000).toFixed(1)} s`);

  const ids = (n: number, salt: number) => Array.from({ length: n }, (_, i) => 2 + ((i * 7919 + salt * 104729) % (shape.vocab - 2)));
  // Warm-up with a prompt as long as the measured one: first-run allocations of every kernel (and,
  // dispatched, of every expert's session) are not part of the figures.
  await session.forward(session.newState(), ids(prefill, 1));

  let state = session.newState();
  t = performance.now();
  await session.forward(state, ids(prefill, 2));
  const prefillTokS = prefill / ((performance.now() - t) / 1000);
  log(`  [${tag}] prefill ${prefill}: ${prefillTokS.toFixed(1)} tok/s`);

  state = session.newState();
  const r0 = await session.forward(state, ids(1, 3));
  const decode0 = await decodeSteps(session, state, argmax(r0.logits), steps);
  log(`  [${tag}] decode at depth 0: ${decode0.toFixed(2)} tok/s`);

  // Fill the cache to `depth` with real prefill chunks (the way a long file window arrives).
  state = session.newState();
  const chunk = 512;
  t = performance.now();
  let last = r0;
  for (let done = 0; done < depth; done += chunk) {
    last = await session.forward(state, ids(Math.min(chunk, depth - done), 4 + done));
  }
  const fillTokS = depth / ((performance.now() - t) / 1000);
  const decodeDeep = await decodeSteps(session, state, argmax(last.logits), steps);
  log(`  [${tag}] decode at depth ${depth}: ${decodeDeep.toFixed(2)} tok/s`);

  // Peak RSS of the measured session alone (the profile below creates a second one).
  const peakRss = process.resourceUsage().maxRSS * 1024;
  let profile: ProfileRow[] | undefined;
  if (values.profile) {
    const shallow = session.newState();
    await session.forward(shallow, ids(1, 5));
    profile = [await profileDecode(built, providers, experts, shallow, steps), await profileDecode(built, providers, experts, state, steps)];
  }

  const result: BenchResult = {
    quant,
    experts: session.expertMode,
    provider: session.provider,
    hash_s: hashS,
    build_s: buildS,
    cached_load_s: cachedS,
    session_create_s: session.createMs / 1000,
    prefill_tokens: prefill,
    prefill_tok_s: prefillTokS,
    decode_tok_s_depth0: decode0,
    depth,
    fill_to_depth_tok_s: fillTokS,
    decode_tok_s_at_depth: decodeDeep,
    kv_bytes_at_depth: state.bytes,
    model_bytes: modelBytes,
    weight_bytes_per_token: weightBytesPerToken(built),
    peak_rss_bytes: peakRss,
    profile,
  };
  await session.release();
  ckpt.close();
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/**
 * One decode step broken down: a second session with ONNX Runtime's profiler on continues from
 * `state` (filled by the unprofiled one) for `steps` tokens.
 */
async function profileDecode(built: Awaited<ReturnType<typeof buildModel>>, providers: ReturnType<typeof parseProviderList>, experts: ExpertMode, from: KvState, steps: number): Promise<ProfileRow> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-profile-'));
  try {
    const session = await ModelSession.create(built, { providers, experts, profileDir: dir });
    const state = await from.copy();
    const depth = state.length;
    const runner = session.runner instanceof DispatchRunner ? session.runner : null;
    if (runner) runner.times = { runMs: 0, runs: 0, jsMs: 0 };
    let next = 2;
    let cacheBytes = 0;
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) {
      const r = await session.forward(state, [next]);
      next = argmax(r.logits);
      // What the cache outputs carry out of ORT: the new rows of an append cache, a whole present otherwise.
      for (const c of built.io.caches) {
        const dims = state.tensors.get(c.past)!.dims as number[];
        cacheBytes += 4 * dims[0]! * dims[1]! * dims[3]! * (c.append ? 1 : dims[2]!);
      }
    }
    const stepMs = (performance.now() - t0) / steps;
    session.endProfiling();
    await session.release();
    const ops: ProfileRow['ops'] = [];
    const model = summariseProfiles(dir, 'session');
    const exp = summariseProfiles(dir, 'expert');
    for (const [where, sum] of [['model', model], ['experts', exp]] as const) {
      for (const [op, v] of sum.byOp) ops.push({ where, op, ms: v.us / 1000 / steps, calls: v.calls / steps });
    }
    ops.sort((a, b) => b.ms - a.ms);
    return {
      depth,
      step_ms: stepMs,
      ops,
      ort_run_ms: (model.runUs + exp.runUs) / 1000 / steps,
      session_runs: (model.runs + exp.runs) / steps,
      dispatch_js_ms: runner ? runner.times!.jsMs / steps : 0,
      cache_bytes_out: cacheBytes / steps,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Bytes of weights one decode step must read: the whole build less the embedding table (one row is
 * gathered) and less the routed experts that were not chosen (top-k of each MoE layer's experts).
 */
function weightBytesPerToken(built: Awaited<ReturnType<typeof buildModel>>): number {
  const embed = built.spec.vocab * built.spec.hidden * 4;
  const m = built.spec.moe;
  const routed = built.io.expertCuts.reduce((a, c) => a + c.bytes, 0);
  const chosen = m ? built.io.expertCuts.reduce((a, c) => a + (c.bytes * m.topK) / m.experts, 0) : 0;
  return built.modelBytes - embed - routed + chosen;
}

async function parent(): Promise<void> {
  const quants = values.quant.split(',').map((q) => q.trim());
  for (const q of quants) {
    if (q !== 'none' && q !== 'int8' && q !== 'int4') {
      console.error(`error: --quant takes none, int8 and/or int4 (got '${q}')`);
      process.exit(2);
    }
  }
  if (values.ep) parseProviderList(values.ep); // fail fast on a typo
  const made = ensureSyntheticCheckpoint(ckptDir, shape, log);
  if (made.created) log(`synthetic checkpoint written in ${(made.ms / 1000).toFixed(1)} s`);
  const ckpt = Checkpoint.open(ckptDir);
  const facts = modelFacts(specFromConfig(ckpt.config, ckpt.configPath), ckpt);
  ckpt.close();
  log(
    `model: DeepSeek-V2 (MLA, kv_lora ${shape.kvLoraRank}), hidden ${shape.hidden}, ${shape.layers} layers, ${shape.experts} experts top-${shape.topK} + ${shape.shared} shared, ` +
      `vocab ${shape.vocab}: ${humanCount(facts.totalParams)} params, ${humanCount(facts.activeParams)} active; ${os.availableParallelism()} cores`,
  );

  const self = fileURLToPath(import.meta.url);
  const passOn = ['--prefill', values.prefill, '--depth', values.depth, '--decode', values.decode, '--dir', ckptDir];
  if (values.layers) passOn.push('--layers', values.layers);
  if (values.ep) passOn.push('--ep', values.ep);
  if (values.profile) passOn.push('--profile');
  // On a GPU provider the experts run in the fused graph (on the device, or placed on the CPU).
  const onGpu = values.ep ? parseProviderList(values.ep)[0] !== 'cpu' : false;
  const modes = (values.experts ?? (onGpu ? 'fused' : 'dispatch,fused')).split(',').map((m) => m.trim());
  for (const m of modes) {
    if (m !== 'dispatch' && m !== 'fused') {
      console.error(`error: --experts takes dispatch and/or fused (got '${m}')`);
      process.exit(2);
    }
  }
  const results: BenchResult[] = [];
  for (const q of quants) {
    for (const [i, m] of modes.entries()) {
      log(`${i === 0 ? 'build' : 'run'} ${q} (${m} experts)`);
      const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', '--quant', q, '--experts', m, ...(i > 0 ? ['--keep'] : []), ...passOn], {
        stdio: ['ignore', 'pipe', 'inherit'],
        encoding: 'utf8',
        maxBuffer: 16 << 20,
      });
      if (r.status !== 0) {
        console.error(`error: the ${q} ${m} run failed (exit ${r.status ?? r.signal})`);
        process.exitCode = 1;
        continue;
      }
      const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as BenchResult;
      results.push(res);
      if (values.json) process.stdout.write(`${JSON.stringify(res)}\n`);
    }
  }
  // The bench always rebuilds (that is one of its figures), so the builds are not worth keeping.
  fs.rmSync(path.join(benchRoot, 'builds'), { recursive: true, force: true });
  if (values.json) return;

  const f1 = (x: number) => x.toFixed(1);
  const f2 = (x: number) => x.toFixed(2);
  const rows: string[][] = [
    ['quant', 'experts', 'ep', 'read/token', 'GB/s @0', 'model on disk', 'build s', 'cached load ms', 'session s', `prefill ${values.prefill} tok/s`, 'decode tok/s @0', `decode tok/s @${values.depth}`, `fill to ${values.depth} tok/s`, 'peak RSS'],
    ...results.map((r) => [
      r.quant,
      r.experts,
      r.provider,
      humanBytes(r.weight_bytes_per_token),
      // The bandwidth the decode rate implies: bytes read per token x tokens per second.
      ((r.weight_bytes_per_token * r.decode_tok_s_depth0) / 1e9).toFixed(1),
      humanBytes(r.model_bytes),
      f1(r.build_s),
      (r.cached_load_s * 1000).toFixed(0),
      f2(r.session_create_s),
      f1(r.prefill_tok_s),
      f2(r.decode_tok_s_depth0),
      f2(r.decode_tok_s_at_depth),
      f1(r.fill_to_depth_tok_s),
      humanBytes(r.peak_rss_bytes),
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) console.log(`| ${r.map((x, c) => x.padEnd(widths[c]!)).join(' | ')} |`);
  for (const r of results) {
    for (const p of r.profile ?? []) {
      console.log(`\nprofile: ${r.quant}, ${r.experts} experts, decode at depth ${p.depth}: ${f2(p.step_ms)} ms/token`);
      const other = p.step_ms - p.ort_run_ms - p.dispatch_js_ms;
      const prow = [
        ['where', 'op', 'ms/token', 'calls/token'],
        ...p.ops.filter((o) => o.ms >= 0.05).map((o) => [o.where, o.op, f2(o.ms), f1(o.calls)]),
        ['', 'all kernels', f2(p.ops.reduce((a, o) => a + o.ms, 0)), ''],
        ['', `ORT run total (${f1(p.session_runs)} session runs)`, f2(p.ort_run_ms), ''],
        ['JS', 'expert dispatch (gather rows, sum outputs)', f2(p.dispatch_js_ms), ''],
        ['JS', 'binding, cache copies out, sampler, rest', f2(other), ''],
      ];
      const w = prow[0]!.map((_, c) => Math.max(...prow.map((x) => x[c]!.length)));
      for (const x of prow) console.log(`| ${x.map((v, c) => v.padEnd(w[c]!)).join(' | ')} |`);
      console.log(`(cache copied out of ORT per token: ${humanBytes(p.cache_bytes_out)})`);
    }
  }
  if (results[0]) console.log(`(KV cache at depth ${results[0].depth}: ${humanBytes(results[0].kv_bytes_at_depth)} float32; checkpoint hash ${f1(results[0].hash_s)} s first time)`);
}

await (values.child ? child() : parent());
