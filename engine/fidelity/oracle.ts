/**
 * Runs the engine against an oracle case (a checkpoint folder with reference.json computed by the
 * upstream implementations): prefill logits, one cached decode step, a 16-token greedy
 * continuation and the recorded expert choices. Float32 is judged by max |logit diff|; quantised
 * builds by agreement (cosine similarity of logits and top-1 agreement).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Checkpoint } from '../checkpoint/checkpoint.ts';
import { EngineInputError } from '../errors.ts';
import type { Quant } from '../graph/linear.ts';
import { buildModel } from '../model/build.ts';
import type { ProviderName } from '../runtime/providers.ts';
import { ModelSession } from '../runtime/session.ts';

export interface OracleOptions {
  quant: Quant;
  providers: ProviderName[];
  cacheDir?: string;
  /** Max |logit diff| allowed in float32 (1e-4 on CPU, 1e-3 on a GPU). */
  tolerance: number;
  /** Agreement floors for quantised builds. */
  minCosine?: number;
  minTop1?: number;
}

export interface CaseResult {
  name: string;
  prefillMaxAbs: number;
  decodeMaxAbs: number;
  greedyMatched: number;
  greedyTotal: number;
  routingMatched: number;
  routingTotal: number;
  /** Chunked-prefill schedules run (reference.json `chunked_prefill`, DeepSeek-V4 cases) and their worst diff. */
  chunkedSchedules: number;
  chunkedMaxAbs: number;
  cosine: number;
  top1: number;
  provider: string;
  pass: boolean;
}

interface Reference {
  input_ids: number[];
  prefill: { logits: number[][] };
  decode_step: { token_id: number; logits: number[] };
  greedy: { new_tokens: number[]; step_logits: number[][] };
  routing?: { layers: { layer: number; topk_indices: number[][] }[] };
  /** The prompt fed in chunks of these sizes (V4 cases): every position vs prefill.logits, then decode_step. */
  chunked_prefill?: Record<string, { chunk_sizes?: number[] } | string>;
}

/**
 * Regression floors for quantised builds of a case (tiny random-weight oracles have small logit
 * margins, so top-1 agreement is a harsher test than on trained models). DeepSeek-V4's tiny cases
 * are far more sensitive still (indexer top-k, hash and biased routing flip under small errors; see
 * the README's Fidelity section), so they have floors of their own.
 */
export function agreementFloors(caseDir: string, quant: Quant): { minCosine: number; minTop1: number } {
  let v4 = false;
  try {
    v4 = (JSON.parse(fs.readFileSync(path.join(caseDir, 'config.json'), 'utf8')) as { model_type?: string }).model_type === 'deepseek_v4';
  } catch {
    // an unreadable config fails later, with its own error
  }
  if (v4) return quant === 'int4' ? { minCosine: 0.75, minTop1: 0.15 } : { minCosine: 0.985, minTop1: 0.85 };
  return quant === 'int4' ? { minCosine: 0.98, minTop1: 0.7 } : { minCosine: 0.999, minTop1: 0.9 };
}

/** Folders under dir that hold a reference.json (sorted). */
export function oracleCases(dir: string): string[] {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new EngineInputError(dir, 'oracle directory not found');
  const cases = fs
    .readdirSync(dir)
    .filter((n) => fs.existsSync(path.join(dir, n, 'reference.json')))
    .sort()
    .map((n) => path.join(dir, n));
  if (cases.length === 0) throw new EngineInputError(dir, 'no case folders with a reference.json');
  return cases;
}

class Agreement {
  private cosSum = 0;
  private rows = 0;
  private top1 = 0;
  maxAbs = 0;

  add(ours: Float32Array, ref: number[]): number {
    let dot = 0;
    let na = 0;
    let nb = 0;
    let max = 0;
    let am = 0;
    let bm = 0;
    for (let i = 0; i < ref.length; i++) {
      const a = ours[i]!;
      const b = ref[i]!;
      dot += a * b;
      na += a * a;
      nb += b * b;
      max = Math.max(max, Math.abs(a - b));
      if (a > ours[am]!) am = i;
      if (b > ref[bm]!) bm = i;
    }
    this.cosSum += dot / Math.sqrt(na * nb || 1);
    this.rows++;
    if (am === bm) this.top1++;
    this.maxAbs = Math.max(this.maxAbs, max);
    return max;
  }

  get cosine(): number {
    return this.rows ? this.cosSum / this.rows : 1;
  }
  get top1Rate(): number {
    return this.rows ? this.top1 / this.rows : 1;
  }
}

function argmax(v: Float32Array, offset: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (v[offset + i]! > v[offset + best]!) best = i;
  return best;
}

export async function runOracleCase(caseDir: string, opts: OracleOptions): Promise<CaseResult> {
  const name = path.basename(caseDir);
  const refPath = path.join(caseDir, 'reference.json');
  let ref: Reference;
  try {
    ref = JSON.parse(fs.readFileSync(refPath, 'utf8')) as Reference;
  } catch (e) {
    throw new EngineInputError(refPath, `cannot read reference: ${(e as Error).message}`);
  }
  const ckpt = Checkpoint.open(caseDir);
  try {
    const built = await buildModel(ckpt, { quant: opts.quant, cacheDir: opts.cacheDir });
    const session = await ModelSession.create(built, { providers: opts.providers });
    try {
      const ids = ref.input_ids;
      const T = ids.length;
      const all = new Agreement();
      const prefillAgg = new Agreement();
      const state = session.newState();
      const pre = await session.forward(state, ids, { logitsToKeep: T, routing: true });
      const V = pre.vocab;
      for (let t = 0; t < T; t++) {
        const row = pre.logits.subarray(t * V, (t + 1) * V);
        prefillAgg.add(row, ref.prefill.logits[t]!);
        all.add(row, ref.prefill.logits[t]!);
      }

      // Routing: same expert set per token per recorded layer.
      let routingMatched = 0;
      let routingTotal = 0;
      for (const layer of ref.routing?.layers ?? []) {
        const ours = pre.routing?.get(layer.layer);
        for (let t = 0; t < layer.topk_indices.length; t++) {
          routingTotal++;
          if (!ours) continue;
          const k = ours.topK;
          const mine = Array.from(ours.indices.subarray(t * k, (t + 1) * k), Number).sort((a, b) => a - b);
          const theirs = [...layer.topk_indices[t]!].sort((a, b) => a - b);
          if (mine.length === theirs.length && mine.every((v, i) => v === theirs[i])) routingMatched++;
        }
      }

      // One cached decode step on a copy of the cache.
      const decodeAgg = new Agreement();
      const branch = await state.clone();
      const dec = await session.forward(branch, [ref.decode_step.token_id]);
      decodeAgg.add(dec.logits, ref.decode_step.logits);
      all.add(dec.logits, ref.decode_step.logits);

      // Greedy continuation with the cache; logits compared while our tokens still match.
      const steps = ref.greedy.new_tokens.length;
      let greedyMatched = 0;
      let diverged = false;
      let logits = pre.logits.subarray((T - 1) * V, T * V);
      for (let s = 0; s < steps; s++) {
        if (!diverged) {
          decodeAgg.add(logits, ref.greedy.step_logits[s]!);
          all.add(logits, ref.greedy.step_logits[s]!);
        }
        const tok = argmax(logits, 0, V);
        if (!diverged && tok === ref.greedy.new_tokens[s]) greedyMatched++;
        else diverged = true;
        if (s + 1 < steps) logits = (await session.forward(state, [tok])).logits;
      }

      // Chunked prefill: the same prompt through the cache in the reference's schedules, each
      // position's logits against the one-pass prefill, then the decode step after the last chunk.
      const chunked = new Agreement();
      let chunkedSchedules = 0;
      for (const sched of Object.values(ref.chunked_prefill ?? {})) {
        if (typeof sched !== 'object' || !Array.isArray(sched.chunk_sizes)) continue;
        chunkedSchedules++;
        const st = session.newState();
        let at = 0;
        for (const n of sched.chunk_sizes) {
          const r = await session.forward(st, ids.slice(at, at + n), { logitsToKeep: n });
          for (let t = 0; t < n; t++) {
            const row = r.logits.subarray(t * V, (t + 1) * V);
            chunked.add(row, ref.prefill.logits[at + t]!);
            all.add(row, ref.prefill.logits[at + t]!);
          }
          at += n;
        }
        const after = await session.forward(st, [ref.decode_step.token_id]);
        chunked.add(after.logits, ref.decode_step.logits);
        all.add(after.logits, ref.decode_step.logits);
        st.dispose();
      }

      const quantised = opts.quant !== 'none';
      const pass = quantised
        ? all.cosine >= (opts.minCosine ?? 0.99) && all.top1Rate >= (opts.minTop1 ?? 0.9)
        : prefillAgg.maxAbs <= opts.tolerance &&
          decodeAgg.maxAbs <= opts.tolerance &&
          greedyMatched === steps &&
          routingMatched === routingTotal &&
          chunked.maxAbs <= opts.tolerance;
      return {
        name,
        prefillMaxAbs: prefillAgg.maxAbs,
        decodeMaxAbs: decodeAgg.maxAbs,
        greedyMatched,
        greedyTotal: steps,
        routingMatched,
        routingTotal,
        chunkedSchedules,
        chunkedMaxAbs: chunked.maxAbs,
        cosine: all.cosine,
        top1: all.top1Rate,
        provider: session.provider,
        pass,
      };
    } finally {
      await session.release();
    }
  } finally {
    ckpt.close();
  }
}

export function formatCase(r: CaseResult, quant: Quant): string {
  let line =
    `case=${r.name} prefill_max_abs=${r.prefillMaxAbs.toExponential(2)} decode_max_abs=${r.decodeMaxAbs.toExponential(2)} ` +
    `greedy=${r.greedyMatched}/${r.greedyTotal} routing=${r.routingMatched}/${r.routingTotal}`;
  if (r.chunkedSchedules) line += ` chunked=${r.chunkedSchedules} chunked_max_abs=${r.chunkedMaxAbs.toExponential(2)}`;
  if (quant !== 'none') line += ` cosine=${r.cosine.toFixed(5)} top1=${r.top1.toFixed(3)}`;
  return `${line} pass=${r.pass}`;
}
