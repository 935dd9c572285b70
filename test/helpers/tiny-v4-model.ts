/**
 * A tiny DeepSeek-V4 checkpoint with a real tokenizer for service-level tests: the oracle case
 * ../shared/oracle-v4/deepseek_v4 (5 layers: sliding, CSA, HCA; mHC; hash and top-k MoE) with its
 * vocabulary tensors (embed, head, tid2eid) regrown at random to the V4-shaped test tokenizer's size,
 * so the real V4 graph runs behind the protocol and `engine serve`. Random weights: tests compare
 * paths against each other, not text. Created once per machine under the OS temp dir.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Checkpoint } from '../../engine/checkpoint/checkpoint.ts';
import { writeConfig, writeSafetensors, type WriterTensor } from '../../engine/checkpoint/safetensors-writer.ts';
import { sharedDir } from './paths.ts';
import { writeV4Tokenizer } from './v4-tokenizer.ts';

export function tinyV4Model(): string {
  const dir = path.join(os.tmpdir(), 'switchyard-tiny-v4-model-v1');
  if (fs.existsSync(path.join(dir, 'model.safetensors'))) return dir;
  const tmp = fs.mkdtempSync(`${dir}.tmp-`);
  writeV4Tokenizer(tmp);
  const tj = JSON.parse(fs.readFileSync(path.join(tmp, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> }; added_tokens: { id: number; content: string }[] };
  const idOf = (content: string) => tj.added_tokens.find((t) => t.content === content)!.id;
  const vocab = Math.max(...Object.values(tj.model.vocab), ...tj.added_tokens.map((t) => t.id)) + 1;
  const src = path.join(sharedDir(), 'oracle-v4', 'deepseek_v4');
  const cfg = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8')) as Record<string, unknown>;
  const ckpt = Checkpoint.open(src);
  let seed = 7;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const tensors: Record<string, WriterTensor> = {};
  try {
    const H = cfg.hidden_size as number;
    const K = cfg.num_experts_per_tok as number;
    const E = cfg.n_routed_experts as number;
    for (const name of ckpt.names()) {
      if (name === 'embed.weight' || name === 'head.weight') {
        tensors[name] = { dtype: 'F32', shape: [vocab, H], data: Float32Array.from({ length: vocab * H }, () => (rand() - 0.5) * 0.1) };
      } else if (name.endsWith('.tid2eid')) {
        // Distinct experts per token, as DeepSeek's table has.
        const ids = new BigInt64Array(vocab * K);
        for (let t = 0; t < vocab; t++) for (let k = 0; k < K; k++) ids[t * K + k] = BigInt((t + k * 3) % E);
        tensors[name] = { dtype: 'I64', shape: [vocab, K], data: new Uint8Array(ids.buffer) };
      } else {
        tensors[name] = { dtype: 'F32', shape: [...ckpt.info(name).shape], data: ckpt.readF32(name) };
      }
    }
  } finally {
    ckpt.close();
  }
  writeConfig(tmp, { ...cfg, vocab_size: vocab, bos_token_id: idOf('<｜begin▁of▁sentence｜>'), eos_token_id: idOf('<｜end▁of▁sentence｜>') });
  writeSafetensors(path.join(tmp, 'model.safetensors'), tensors);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  return dir;
}
