/**
 * DeepSeek-V4 on a checkpoint the engine has not seen, with a reference: the oracle case rewritten
 * into a different but equivalent model. Its routed experts are renumbered (the experts' tensors,
 * the router's rows, the correction bias and the hash table all follow one permutation) and its
 * attention heads reordered within each output group (wq_b's head rows, the sinks and wo_a's input
 * columns). Such a model computes the same logits, with the experts' ids mapped, so the upstream
 * reference still judges it; an engine that leaned on the original ordering would fail.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { Checkpoint } from '../../../engine/checkpoint/checkpoint.ts';
import { writeSafetensors, type WriterTensor } from '../../../engine/checkpoint/safetensors-writer.ts';
import { formatCase, runOracleCase } from '../../../engine/fidelity/oracle.ts';
import { sharedDir } from '../../helpers/paths.ts';

const src = path.join(sharedDir(), 'oracle-v4', 'deepseek_v4');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-v4-unseen-'));
after(() => fs.rmSync(work, { recursive: true, force: true }));

function rewrite(dir: string): void {
  const cfg = JSON.parse(fs.readFileSync(path.join(src, 'config.json'), 'utf8')) as Record<string, number>;
  const E = cfg.n_routed_experts!;
  const heads = cfg.num_attention_heads!;
  const D = cfg.head_dim!;
  const G = cfg.o_groups!;
  const perGroup = heads / G;
  const perm = Array.from({ length: E }, (_, e) => (e * 3 + 5) % E); // old expert e -> new id perm[e]
  // New head h is old head headFrom[h]: reversed within each group.
  const headFrom = Array.from({ length: heads }, (_, h) => Math.floor(h / perGroup) * perGroup + (perGroup - 1 - (h % perGroup)));
  const ck = Checkpoint.open(src);
  const out: Record<string, WriterTensor> = {};
  try {
    for (const name of ck.names()) {
      const shape = [...ck.info(name).shape];
      const m = /^layers\.(\d+)\.ffn\.experts\.(\d+)\.(.*)$/.exec(name);
      if (m) {
        out[`layers.${m[1]}.ffn.experts.${perm[Number(m[2])]}.${m[3]}`] = { dtype: 'F32', shape, data: ck.readF32(name) };
        continue;
      }
      if (name.endsWith('.tid2eid')) {
        const ids = ck.readI64(name).map((e) => BigInt(perm[Number(e)]!));
        out[name] = { dtype: 'I64', shape, data: new Uint8Array(ids.buffer) };
        continue;
      }
      const w = ck.readF32(name);
      let data = w;
      if (name.endsWith('.ffn.gate.weight') || name.endsWith('.ffn.gate.bias')) {
        const row = w.length / E;
        data = new Float32Array(w.length);
        for (let e = 0; e < E; e++) data.set(w.subarray(e * row, (e + 1) * row), perm[e]! * row);
      } else if (name.endsWith('.attn.wq_b.weight') || name.endsWith('.attn.attn_sink')) {
        const row = w.length / heads; // one head's rows (wq_b) or value (sinks)
        data = new Float32Array(w.length);
        for (let h = 0; h < heads; h++) data.set(w.subarray(headFrom[h]! * row, (headFrom[h]! + 1) * row), h * row);
      } else if (name.endsWith('.attn.wo_a.weight')) {
        // [G*rank, perGroup*D]: within a group, the input columns of head j move with it.
        const cols = perGroup * D;
        const rows = w.length / cols;
        data = new Float32Array(w.length);
        for (let r = 0; r < rows; r++) {
          for (let j = 0; j < perGroup; j++) {
            const from = headFrom[j]! % perGroup;
            data.set(w.subarray(r * cols + from * D, r * cols + (from + 1) * D), r * cols + j * D);
          }
        }
      }
      out[name] = { dtype: 'F32', shape, data };
    }
  } finally {
    ck.close();
  }
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(src, 'config.json'), path.join(dir, 'config.json'));
  writeSafetensors(path.join(dir, 'model.safetensors'), out);
  const ref = JSON.parse(fs.readFileSync(path.join(src, 'reference.json'), 'utf8')) as { routing: { layers: { topk_indices: number[][] }[] } };
  for (const l of ref.routing.layers) l.topk_indices = l.topk_indices.map((row) => row.map((e) => perm[e]!));
  fs.writeFileSync(path.join(dir, 'reference.json'), JSON.stringify(ref));
}

describe('DeepSeek-V4 on an unseen, equivalent checkpoint', () => {
  it('experts renumbered and heads reordered: the reference still holds (float32, CPU)', async () => {
    const dir = path.join(work, 'deepseek_v4_renumbered');
    rewrite(dir);
    const r = await runOracleCase(dir, { quant: 'none', providers: ['cpu'], cacheDir: path.join(work, 'cache'), tolerance: 1e-4 });
    assert.ok(r.pass, formatCase(r, 'none'));
    assert.equal(r.routingMatched, r.routingTotal);
    assert.equal(r.chunkedSchedules, 2);
  });
});
