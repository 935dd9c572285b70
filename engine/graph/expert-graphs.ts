/**
 * One small graph per routed expert, for the engine to run only the experts the router chose:
 *   inputs  x [n, H] (the rows routed to this expert), w [n, 1] (their mixing weights)
 *   output  y [n, H] = w * down(silu(gate(x)) * up(x))
 * Its weights are not copied: the initializers point at this expert's slice of the fused layer's
 * fc1/fc2 tensors in the model's .data file (gate/up rows interleaved, as the fused MoE/QMoE kernels
 * read them), so the fused graph and the dispatched experts share one file. int8/int4 run as
 * MatMulNBits with a constant B, which ONNX Runtime prepacks once at session creation: that is what
 * reads the weights at memory speed (ORT 1.30's CPU QMoE dequantises the chosen experts on every
 * call). float32 runs as Gemm with transB (the [out, in] rows as stored).
 */
import { DataType, type GraphParts } from './builder.ts';
import type { ExpertsCut } from './moe.ts';
import type { NodeProto, TensorProto } from './onnx-proto.ts';

/** Expert e's slice of a fused [E, ...] initializer, by reference into the same bytes. */
function slice(t: TensorProto, e: number, experts: number, dims: number[]): TensorProto {
  const total = t.external ? t.external.length : t.raw!.byteLength;
  if (total % experts !== 0) throw new Error(`internal: ${t.name} (${total} bytes) does not split into ${experts} experts`);
  const per = total / experts;
  const name = `${t.name}.e${e}`;
  if (t.external) return { name, dataType: t.dataType, dims, external: { ...t.external, offset: t.external.offset + e * per, length: per } };
  return { name, dataType: t.dataType, dims, raw: t.raw!.slice(e * per, (e + 1) * per) };
}

const i64 = (name: string, values: number[]): TensorProto => ({
  name,
  dataType: DataType.INT64,
  dims: [values.length],
  raw: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer),
});

const f32 = (name: string, value: number): TensorProto => ({ name, dataType: DataType.FLOAT, dims: [], raw: new Uint8Array(Float32Array.of(value).buffer) });

export function expertGraph(cut: ExpertsCut, e: number, initializerOf: (name: string) => TensorProto): GraphParts {
  const { hidden: H, inter: I, experts: E, bits, blockSize: bs } = cut;
  const inits: TensorProto[] = [i64('swiglu_shape', [0, I, 2]), i64('pair', [1, 1]), i64('flat_shape', [0, I])];
  const nodes: NodeProto[] = [];
  const node = (opType: string, inputs: string[], outputs: string[], attrs: NodeProto['attributes'] = [], domain?: string) =>
    nodes.push({ opType, domain, name: `${outputs[0]}_node`, inputs, outputs, attributes: attrs });

  const proj = (which: 'fc1' | 'fc2', x: string, N: number, K: number, out: string) => {
    const names = cut[which];
    if (bits === 0) {
      const w = slice(initializerOf(names.w), e, E, [N, K]);
      inits.push(w);
      node('Gemm', [x, w.name], [out], [{ name: 'transB', i: 1 }]);
      return;
    }
    const kBlocks = K / bs;
    const w = slice(initializerOf(names.w), e, E, [N, kBlocks, (bs * bits) / 8]);
    const s = slice(initializerOf(names.scales!), e, E, [N, kBlocks]);
    inits.push(w, s);
    // No zero points: the experts are quantised symmetrically (MatMulNBits' default zero point).
    node('MatMulNBits', [x, w.name, s.name], [out], [
      { name: 'K', i: K },
      { name: 'N', i: N },
      { name: 'bits', i: bits },
      { name: 'block_size', i: bs },
      { name: 'accuracy_level', i: 4 },
    ], 'com.microsoft');
  };

  proj('fc1', 'x', 2 * I, H, 'gate_up');
  node('Reshape', ['gate_up', 'swiglu_shape'], ['gate_up_pairs']);
  const L = cut.swigluLimit ?? 0;
  node('Split', ['gate_up_pairs', 'pair'], L > 0 ? ['gate_raw', 'up_raw'] : ['gate', 'up'], [{ name: 'axis', i: 2 }]);
  if (L > 0) {
    // DeepSeek-V4's swiglu_limit: gate clamped from above, up to [-L, L].
    inits.push(f32('limit', L), f32('neg_limit', -L));
    node('Min', ['gate_raw', 'limit'], ['gate']);
    node('Clip', ['up_raw', 'neg_limit', 'limit'], ['up']);
  }
  node('Sigmoid', ['gate'], ['gate_sigmoid']);
  node('Mul', ['gate', 'gate_sigmoid'], ['gate_silu']);
  node('Mul', ['gate_silu', 'up'], ['act3']);
  node('Reshape', ['act3', 'flat_shape'], ['act']);
  proj('fc2', 'act', H, I, 'down');
  node('Mul', ['down', 'w'], ['y']);
  return {
    nodes,
    initializers: inits,
    inputs: [
      { name: 'x', dataType: DataType.FLOAT, shape: ['n', H] },
      { name: 'w', dataType: DataType.FLOAT, shape: ['n', 1] },
    ],
    outputs: [{ name: 'y', dataType: DataType.FLOAT, shape: ['n', H] }],
  };
}
