/**
 * One call from a model folder to a ready session: open the checkpoint, build (or reuse) the ONNX
 * model, create the session on the best available execution provider, and load the tokenizer when
 * the folder has one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Checkpoint } from '../checkpoint/checkpoint.ts';
import type { Quant } from '../graph/linear.ts';
import { buildModel, type BuildProgress, type BuiltModel } from '../model/build.ts';
import { loadTokenizer, type EngineTokenizer } from '../tokenizer/tokenizer.ts';
import type { ProviderName } from './providers.ts';
import { ModelSession } from './session.ts';

export interface LoadOptions {
  quant: Quant;
  providers?: ProviderName[];
  cacheDir?: string;
  onProgress?: (p: BuildProgress | { phase: 'creating session'; done: number; total: number; message: string }) => void;
  log?: (line: string) => void;
  /** GPU memory the weights may take; routed experts beyond it stay on the CPU (see placement.ts). */
  gpuMemoryBudgetBytes?: number;
}

export interface LoadedModel {
  ckpt: Checkpoint;
  built: BuiltModel;
  session: ModelSession;
  tokenizer: EngineTokenizer | null;
  close(): Promise<void>;
}

export async function loadModel(dir: string, opts: LoadOptions): Promise<LoadedModel> {
  const ckpt = Checkpoint.open(dir);
  try {
    const tokenizer = fs.existsSync(path.join(ckpt.dir, 'tokenizer.json')) ? await loadTokenizer(ckpt.dir) : null;
    const built = await buildModel(ckpt, { quant: opts.quant, cacheDir: opts.cacheDir, onProgress: opts.onProgress });
    opts.onProgress?.({ phase: 'creating session', done: 0, total: 1, message: 'creating session' });
    const session = await ModelSession.create(built, {
      providers: opts.providers,
      log: opts.log,
      gpuMemoryBudgetBytes: opts.gpuMemoryBudgetBytes,
      onProgress: (done, total) => opts.onProgress?.({ phase: 'creating session', done, total, message: `creating sessions ${done}/${total}` }),
    });
    return {
      ckpt,
      built,
      session,
      tokenizer,
      async close() {
        await session.release();
        ckpt.close();
      },
    };
  } catch (e) {
    ckpt.close();
    throw e;
  }
}
