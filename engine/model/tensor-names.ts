/**
 * Hugging Face tensor names per architecture family. Only naming lives here; the math is shared.
 */
import type { ModelSpec } from './spec.ts';

export interface WeightSource {
  has(name: string): boolean;
  /** Throws EngineInputError naming the file when missing or shaped differently. */
  expectShape(name: string, shape: number[]): void;
  readF32(name: string): Float32Array;
}

export function layerPrefix(i: number): string {
  return `model.layers.${i}`;
}

export function moeNames(spec: ModelSpec, src: WeightSource, i: number) {
  const p = layerPrefix(i);
  const block = spec.family === 'mixtral' && src.has(`${p}.block_sparse_moe.gate.weight`) ? `${p}.block_sparse_moe` : `${p}.mlp`;
  const mixtralStyle = src.has(`${block}.experts.0.w1.weight`);
  return {
    gate: `${block}.gate.weight`,
    correctionBias: `${block}.gate.e_score_correction_bias`,
    expert: (e: number) =>
      mixtralStyle
        ? { gate: `${block}.experts.${e}.w1.weight`, up: `${block}.experts.${e}.w3.weight`, down: `${block}.experts.${e}.w2.weight` }
        : {
            gate: `${block}.experts.${e}.gate_proj.weight`,
            up: `${block}.experts.${e}.up_proj.weight`,
            down: `${block}.experts.${e}.down_proj.weight`,
          },
    shared:
      spec.family === 'deepseek'
        ? { gate: `${block}.shared_experts.gate_proj.weight`, up: `${block}.shared_experts.up_proj.weight`, down: `${block}.shared_experts.down_proj.weight` }
        : { gate: `${block}.shared_expert.gate_proj.weight`, up: `${block}.shared_expert.up_proj.weight`, down: `${block}.shared_expert.down_proj.weight` },
    sharedGate: `${block}.shared_expert_gate.weight`,
  };
}
