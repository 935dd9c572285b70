/**
 * Small real checkpoints with real tokenizers for service-level tests: the bench's synthetic
 * DeepSeek-V2 generator at toy size (hidden 64, 2 layers, 8 experts top-2) with its vocabulary
 * sized to a tokenizer in ../shared/tokenizers, whose files are copied beside it. Random weights
 * give nonsense text, but deterministic nonsense: tests compare paths against each other.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureSyntheticCheckpoint, type SyntheticShape } from '../../bench/synthetic-checkpoint.ts';
import { sharedDir } from './paths.ts';

export type TinyTokenizer = 'deepseek-coder-v1' | 'qwen2.5-coder';

const VOCAB: Record<TinyTokenizer, number> = { 'deepseek-coder-v1': 32256, 'qwen2.5-coder': 151936 };

export const TINY_SHAPE: Omit<SyntheticShape, 'vocab'> = {
  hidden: 64,
  layers: 2,
  heads: 2,
  experts: 8,
  topK: 2,
  shared: 1,
  moeInter: 32,
  denseInter: 128,
  kvLoraRank: 32,
};

/**
 * A tiny model folder for `tokenizer`, created once in `dir` (default: under the OS temp dir) and
 * reused after.
 */
export function tinyModel(tokenizer: TinyTokenizer = 'deepseek-coder-v1', dir = path.join(os.tmpdir(), `switchyard-tiny-${tokenizer}-v1`)): string {
  ensureSyntheticCheckpoint(dir, { ...TINY_SHAPE, vocab: VOCAB[tokenizer] });
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
    const dst = path.join(dir, f);
    if (!fs.existsSync(dst)) fs.copyFileSync(path.join(sharedDir(), 'tokenizers', tokenizer, f), dst);
  }
  return dir;
}
