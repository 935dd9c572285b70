/**
 * The dispatched-experts form of a built model: the decoder graph split at every MoE layer whose
 * experts the engine runs itself (pieces), plus one graph per routed expert. All of them read the
 * weights of the one model.onnx.data file that the fused graph (model.onnx) reads, so the build
 * writes no weight twice and either form can be loaded from the same folder.
 *
 * Why (README, "MoE speed"): ORT 1.30's CPU QMoE dequantises the chosen experts on every call
 * (int4 decode ~4 tok/s on the bench shape), while MatMulNBits with a constant B runs at memory speed
 * after a one-time prepack. Dispatching the router's top-k to per-expert sessions reads only the
 * chosen experts' weights. When an onnxruntime-node release carries ONNX Runtime's QMoE fix, the
 * fused graph comes back by switching the engine's expert mode (runtime/experts.ts), not by rebuilding.
 */
import * as path from 'node:path';
import { writeModelFile, type GraphBuilder } from '../graph/builder.ts';
import { expertGraph } from '../graph/expert-graphs.ts';
import { partitionGraph } from '../graph/partition.ts';
import type { ExpertsCut } from '../graph/moe.ts';
import type { LayerCut } from './decoder.ts';

export interface DispatchPiece {
  file: string;
  inputs: string[];
  outputs: string[];
}

/** Where the engine cuts in (the values it reads and the one it feeds back), and its expert sessions. */
export interface DispatchCut extends Pick<ExpertsCut, 'x2d' | 'indices' | 'weights' | 'output' | 'experts' | 'hidden' | 'topK'> {
  layer: number;
  /** One model file per expert, in expert order. */
  expertFiles: string[];
  /** Bytes of one expert's weights (for placement and the bandwidth roofline). */
  expertBytes: number;
}

export interface DispatchPlan {
  /** Piece k runs, then cut k (when k < cuts.length), then piece k+1. */
  pieces: DispatchPiece[];
  cuts: DispatchCut[];
}

/** Writes the pieces and expert graphs beside the fused model in `dir`; null when nothing to dispatch. */
export function writeDispatchPlan(dir: string, g: GraphBuilder, cuts: LayerCut[]): DispatchPlan | null {
  if (cuts.length === 0) return null;
  const pieces = partitionGraph(
    g.graph,
    cuts.map((c) => ({ needs: [c.x2d, c.indices, c.weights], output: c.output })),
  );
  const plan: DispatchPlan = { pieces: [], cuts: [] };
  pieces.forEach((p, k) => {
    const file = `piece.${k}.onnx`;
    writeModelFile(path.join(dir, file), `piece_${k}`, p);
    plan.pieces.push({ file, inputs: p.inputs.map((i) => i.name), outputs: p.outputs.map((o) => o.name) });
  });
  for (const c of cuts) {
    const expertFiles: string[] = [];
    let expertBytes = 0;
    for (let e = 0; e < c.experts; e++) {
      const graph = expertGraph(c, e, (n) => g.initializerOf(n));
      const file = `expert.${c.layer}.${e}.onnx`;
      writeModelFile(path.join(dir, file), `layer_${c.layer}_expert_${e}`, graph);
      expertFiles.push(file);
      if (e === 0) expertBytes = graph.initializers.reduce((a, t) => a + (t.external?.length ?? t.raw?.byteLength ?? 0), 0);
    }
    plan.cuts.push({ layer: c.layer, x2d: c.x2d, indices: c.indices, weights: c.weights, output: c.output, experts: c.experts, hidden: c.hidden, topK: c.topK, expertFiles, expertBytes });
  }
  return plan;
}
