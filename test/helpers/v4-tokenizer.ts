/**
 * A tokenizer with DeepSeek-V4's special tokens, for prompt tests: no V4 tokenizer files are in
 * ../shared. It is the real DeepSeek-Coder V1 tokenizer.json, which already has V4's BOS, EOS and
 * FIM tokens under the same texts (`<｜begin▁of▁sentence｜>`, `<｜fim▁begin｜>`...), plus V4's chat
 * tokens (`<｜User｜>`, `<｜Assistant｜>`, `<think>`, `</think>`) added after its last id, not
 * special (decoding keeps them, as the reasoning split needs); and its tokenizer_config.json with
 * V4's EOS and without a chat_template, as V4 ships none. Ids differ from V4's; texts are V4's.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sharedDir } from './paths.ts';

const SRC = () => path.join(sharedDir(), 'tokenizers', 'deepseek-coder-v1');
export const V4_CHAT_TOKENS = ['<｜User｜>', '<｜Assistant｜>', '<think>', '</think>'];

/** Writes the V4-shaped tokenizer files into `dir` (created if needed); returns `dir`. */
export function writeV4Tokenizer(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const tj = JSON.parse(fs.readFileSync(path.join(SRC(), 'tokenizer.json'), 'utf8')) as {
    added_tokens: { id: number; content: string }[];
  };
  let next = Math.max(...tj.added_tokens.map((t) => t.id)) + 1;
  for (const content of V4_CHAT_TOKENS) {
    tj.added_tokens.push({ id: next++, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: false } as never);
  }
  const cfg = JSON.parse(fs.readFileSync(path.join(SRC(), 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  delete cfg.chat_template;
  cfg.eos_token = '<｜end▁of▁sentence｜>';
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tj));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(cfg, null, 2));
  return dir;
}
