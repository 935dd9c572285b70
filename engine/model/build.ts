/**
 * Checkpoint -> ONNX model on disk, cached by checkpoint content and build options: a second load
 * of the same checkpoint with the same options reuses the built files. Builds go to a temporary
 * folder renamed into place, so an interrupted build never leaves a half model in the cache.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Checkpoint, defaultCacheDir } from '../checkpoint/checkpoint.ts';
import { GraphBuilder } from '../graph/builder.ts';
import type { Quant } from '../graph/linear.ts';
import { emitDecoder, type DecoderIO } from './decoder.ts';
import { emitV4Decoder } from './deepseek-v4/graph.ts';
import { writeDispatchPlan, type DispatchPlan } from './dispatch.ts';
import { specFromConfig, type ModelSpec } from './spec.ts';

/** Bump when the emitted graph changes, so cached builds are rebuilt. */
export const BUILDER_VERSION = 15;

export interface BuildProgress {
  phase: 'hashing' | 'building' | 'quantising' | 'done';
  done: number;
  total: number;
  message: string;
}

export interface BuildOptions {
  quant: Quant;
  cacheDir?: string;
  /** Rebuild even when a cached build exists. */
  force?: boolean;
  onProgress?: (p: BuildProgress) => void;
}

export interface BuiltModel {
  dir: string;
  modelPath: string;
  spec: ModelSpec;
  io: DecoderIO;
  /** The same model with its routed experts dispatched by the engine (null: no MoE layer to cut). */
  dispatch: DispatchPlan | null;
  quant: Quant;
  key: string;
  fromCache: boolean;
  buildMs: number;
  modelBytes: number;
}

interface Manifest {
  builderVersion: number;
  quant: Quant;
  io: DecoderIO;
  dispatch: DispatchPlan | null;
  modelBytes: number;
  buildMs: number;
  checkpoint: string;
}

export async function buildModel(ckpt: Checkpoint, opts: BuildOptions): Promise<BuiltModel> {
  const spec = specFromConfig(ckpt.config, ckpt.configPath);
  const progress = opts.onProgress ?? (() => {});
  const cacheRoot = opts.cacheDir ?? defaultCacheDir();
  const contentKey = await ckpt.contentKey({
    cacheDir: cacheRoot,
    onProgress: (done, total) => progress({ phase: 'hashing', done, total, message: 'hashing checkpoint' }),
  });
  const key = createHash('sha256').update(`${contentKey}|${opts.quant}|v${BUILDER_VERSION}`).digest('hex').slice(0, 32);
  const dir = path.join(cacheRoot, 'models', key);
  const modelPath = path.join(dir, 'model.onnx');
  const manifestPath = path.join(dir, 'manifest.json');
  const cached = opts.force ? null : readCachedBuild(dir);
  if (cached) {
    progress({ phase: 'done', done: 1, total: 1, message: 'using cached build' });
    return { dir, modelPath, spec, io: cached.io, dispatch: cached.dispatch, quant: cached.quant, key, fromCache: true, buildMs: cached.buildMs, modelBytes: cached.modelBytes };
  }

  const t0 = performance.now();
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  removeStaleTemps(path.dirname(dir));
  const tmp = fs.mkdtempSync(`${dir}.tmp-`);
  const g = new GraphBuilder(path.join(tmp, 'model.onnx'));
  let io: DecoderIO;
  let dispatch: DispatchPlan | null;
  try {
    const phase = opts.quant === 'none' ? 'building' : 'quantising';
    const emit = spec.v4 ? emitV4Decoder : emitDecoder;
    io = emit(g, spec, ckpt, opts.quant, (done, total) =>
      progress({ phase, done, total, message: `${phase} layer ${done}/${total}` }),
    );
    g.finish({ switchyard_builder: String(BUILDER_VERSION), model_type: spec.modelType, quant: opts.quant });
    dispatch = writeDispatchPlan(tmp, g, io.expertCuts);
  } catch (e) {
    g.abort();
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const buildMs = performance.now() - t0;
  const modelBytes = fs.statSync(path.join(tmp, 'model.onnx')).size + fs.statSync(path.join(tmp, 'model.onnx.data')).size;
  const manifest: Manifest = { builderVersion: BUILDER_VERSION, quant: opts.quant, io, dispatch, modelBytes, buildMs, checkpoint: ckpt.dir };
  fs.writeFileSync(path.join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 1));
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  progress({ phase: 'done', done: 1, total: 1, message: `built in ${(buildMs / 1000).toFixed(1)} s` });
  return { dir, modelPath, spec, io, dispatch, quant: opts.quant, key, fromCache: false, buildMs, modelBytes };
}

/**
 * The manifest of a complete cached build, or null when the entry is missing or damaged (unreadable
 * manifest, another builder version, files missing or of the wrong size): such an entry is rebuilt.
 */
function readCachedBuild(dir: string): Manifest | null {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
    if (m.builderVersion !== BUILDER_VERSION || !m.io) return null;
    for (const f of [...(m.dispatch?.pieces.map((p) => p.file) ?? []), ...(m.dispatch?.cuts.flatMap((c) => c.expertFiles) ?? [])]) {
      if (!fs.existsSync(path.join(dir, f))) return null;
    }
    const size = fs.statSync(path.join(dir, 'model.onnx')).size + fs.statSync(path.join(dir, 'model.onnx.data')).size;
    return size === m.modelBytes ? m : null;
  } catch {
    return null;
  }
}

/** Temp folders of builds that were killed part-way (a day old: no live build is that slow). */
function removeStaleTemps(modelsDir: string): void {
  const dayAgo = Date.now() - 24 * 3600 * 1000;
  for (const name of fs.readdirSync(modelsDir)) {
    if (!name.includes('.tmp-')) continue;
    const p = path.join(modelsDir, name);
    try {
      if (fs.statSync(p).mtimeMs < dayAgo) fs.rmSync(p, { recursive: true, force: true });
    } catch {
      // another process may be removing it too
    }
  }
}
