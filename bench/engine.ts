/**
 * `npm run bench:engine [-- options]`: engine speed and memory on a DeepSeek-Coder-V2-Lite-shaped
 * random checkpoint (see synthetic-checkpoint.ts), for float32, int8 and int4 builds. Each quant runs
 * in its own child process so peak RSS is that build's alone. Prints numbers; asserts nothing.
 *
 *   --quant none,int8,int4   which builds (default all three)
 *   --ep LIST                execution-provider preference (default webgpu,cuda,dml,coreml,cpu)
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
import { ensureSyntheticCheckpoint, LITE_SCALED, type SyntheticShape } from './synthetic-checkpoint.ts';

interface BenchResult {
  quant: Quant;
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
  peak_rss_bytes: number;
}

const options = {
  quant: { type: 'string', default: 'none,int8,int4' },
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
  const built0 = await buildModel(ckpt, {
    quant,
    cacheDir: buildDir,
    force: true,
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

  const session = await ModelSession.create(built, { providers, log });
  log(`  [${quant}] session on ${session.provider} in ${(session.createMs / 1000).toFixed(1)} s`);

  const ids = (n: number, salt: number) => Array.from({ length: n }, (_, i) => 2 + ((i * 7919 + salt * 104729) % (shape.vocab - 2)));
  await session.forward(session.newState(), ids(8, 1)); // warm-up: first-run allocations and kernels

  let state = session.newState();
  t = performance.now();
  await session.forward(state, ids(prefill, 2));
  const prefillTokS = prefill / ((performance.now() - t) / 1000);
  log(`  [${quant}] prefill ${prefill}: ${prefillTokS.toFixed(1)} tok/s`);

  state = session.newState();
  const r0 = await session.forward(state, ids(1, 3));
  const decode0 = await decodeSteps(session, state, argmax(r0.logits), steps);
  log(`  [${quant}] decode at depth 0: ${decode0.toFixed(2)} tok/s`);

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
  log(`  [${quant}] decode at depth ${depth}: ${decodeDeep.toFixed(2)} tok/s`);

  const result: BenchResult = {
    quant,
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
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
  };
  await session.release();
  ckpt.close();
  // The bench always rebuilds (that is one of its figures), so the build is not worth keeping.
  fs.rmSync(built.dir, { recursive: true, force: true });
  process.stdout.write(`${JSON.stringify(result)}\n`);
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
  const results: BenchResult[] = [];
  for (const q of quants) {
    log(`build ${q}`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', '--quant', q, ...passOn], {
      stdio: ['ignore', 'pipe', 'inherit'],
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    });
    if (r.status !== 0) {
      console.error(`error: the ${q} run failed (exit ${r.status ?? r.signal})`);
      process.exitCode = 1;
      continue;
    }
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as BenchResult;
    results.push(res);
    if (values.json) process.stdout.write(`${JSON.stringify(res)}\n`);
  }
  if (values.json) return;

  const f1 = (x: number) => x.toFixed(1);
  const f2 = (x: number) => x.toFixed(2);
  const rows: string[][] = [
    ['quant', 'ep', 'model on disk', 'build s', 'cached load ms', 'session s', `prefill ${values.prefill} tok/s`, 'decode tok/s @0', `decode tok/s @${values.depth}`, `fill to ${values.depth} tok/s`, 'peak RSS'],
    ...results.map((r) => [
      r.quant,
      r.provider,
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
  if (results[0]) console.log(`(KV cache at depth ${results[0].depth}: ${humanBytes(results[0].kv_bytes_at_depth)} float32; checkpoint hash ${f1(results[0].hash_s)} s first time)`);
}

await (values.child ? child() : parent());
