/**
 * Emits the whole decoder graph for a ModelSpec: embeddings -> N x (attention + MLP/MoE) -> norm ->
 * lm_head, with an incremental KV interface:
 *   inputs  input_ids [1,S] int64, position_ids [1,S] int64, logits_to_keep [1] int64,
 *           past.<i> per layer (MLA: latent [1,1,P,kvLora+rope]; GQA: past_key.<i>/past_value.<i>)
 *   outputs logits [1,keep,V], per layer the cache (MLA: kv.<i>, the S new latent rows, appended by
 *           the engine; GQA: present_key/present_value.<i>, the whole cache), routing.<i> [S,K] int64
 *           per MoE layer.
 */
import { DataType, GraphBuilder } from '../graph/builder.ts';
import { attentionMask, gqaAttention, mlaAttention, ropeTables } from '../graph/attention.ts';
import { concatRows, linear, type Quant } from '../graph/linear.ts';
import { route, routedExperts, type ExpertsCut } from '../graph/moe.ts';
import type { ModelSpec } from './spec.ts';
import { layerPrefix, moeNames, type WeightSource } from './tensor-names.ts';

export interface CacheInput {
  past: string;
  /** The output: the whole cache after this step, or (append) only this step's new rows. */
  present: string;
  shape: (number | string)[];
  /** The output holds only the new rows; the engine appends them to its buffer (MLA's latent). */
  append?: boolean;
  /** The output is past + new rows; the engine keeps only the last `window` of them (V4's sliding window). */
  window?: number;
  /** Trailing rows of the output that are padding (V4 keeps every tensor non-empty for WebGPU); dropped. */
  padRows?: number;
}

export interface DecoderIO {
  caches: CacheInput[];
  routingOutputs: { layer: number; name: string; topK: number }[];
  /** Per MoE layer whose experts can be dispatched by the engine: where the fused node is cut out. */
  expertCuts: LayerCut[];
}

export type LayerCut = ExpertsCut & { layer: number };

export function cacheLayout(spec: ModelSpec): CacheInput[] {
  const out: CacheInput[] = [];
  const a = spec.attention;
  for (let i = 0; i < spec.layers; i++) {
    if (a.kind === 'mla') {
      out.push({ past: `past.${i}`, present: `kv.${i}`, shape: [1, 1, 'past', a.kvLoraRank + a.ropeDim], append: true });
    } else {
      out.push({ past: `past_key.${i}`, present: `present_key.${i}`, shape: [1, a.kvHeads, 'past', a.headDim] });
      out.push({ past: `past_value.${i}`, present: `present_value.${i}`, shape: [1, a.kvHeads, 'past', a.headDim] });
    }
  }
  return out;
}

/**
 * The inputs every decoder graph takes (token ids, positions, logits_to_keep, one per cache
 * tensor), and a weight reader that checks each tensor's shape against the config first.
 */
export function decoderInputs(g: GraphBuilder, caches: CacheInput[], src: WeightSource) {
  const inputIds = g.input('input_ids', DataType.INT64, [1, 'seq']);
  const positionIds = g.input('position_ids', DataType.INT64, [1, 'seq']);
  const logitsToKeep = g.input('logits_to_keep', DataType.INT64, [1]);
  for (const c of caches) g.input(c.past, DataType.FLOAT, c.shape);
  const W = (name: string, shape: number[]): Float32Array => {
    src.expectShape(name, shape);
    return src.readF32(name);
  };
  return { inputIds, positionIds, logitsToKeep, W };
}

/** Permutation that turns interleaved rope pairs (x0,x1),(x2,x3).. into rotate-half order. */
function deinterleaveRows(w: Float32Array, rowStart: number, rows: number, cols: number): void {
  const block = w.slice(rowStart * cols, (rowStart + rows) * cols);
  for (let r = 0; r < rows; r++) {
    const src = r < rows / 2 ? 2 * r : 2 * (r - rows / 2) + 1;
    w.set(block.subarray(src * cols, (src + 1) * cols), (rowStart + r) * cols);
  }
}

export function emitDecoder(
  g: GraphBuilder,
  spec: ModelSpec,
  src: WeightSource,
  quant: Quant,
  onLayer: (done: number, total: number) => void = () => {},
): DecoderIO {
  const H = spec.hidden;
  const caches = cacheLayout(spec);
  const { inputIds, positionIds, logitsToKeep, W } = decoderInputs(g, caches, src);

  const embed = W('model.embed_tokens.weight', [spec.vocab, H]);
  let h = g.gather(g.weight('embed_tokens', embed, [spec.vocab, H]), inputIds); // [1,S,H]
  const { cos, sin } = ropeTables(g, positionIds, spec.rope);
  const total = g.add(g.op('Gather', [g.op('Shape', [caches[0]!.past]), g.i64(2)], { axis: 0 }), g.op('Gather', [g.op('Shape', [inputIds]), g.i64(1)], { axis: 0 }));
  const fullMask = attentionMask(g, positionIds, total, null);
  const a0 = spec.attention;
  const slidingMask = a0.kind === 'gqa' && a0.slidingWindow ? attentionMask(g, positionIds, total, a0.slidingWindow) : null;

  const routingOutputs: DecoderIO['routingOutputs'] = [];
  const expertCuts: LayerCut[] = [];
  for (let i = 0; i < spec.layers; i++) {
    const p = layerPrefix(i);
    g.scope = `layers.${i}`;
    const x = g.rmsNorm(h, g.weight('input_layernorm', W(`${p}.input_layernorm.weight`, [H]), [H]), spec.eps);
    let attnOut: string;
    const a = spec.attention;
    if (a.kind === 'v4') throw new Error('internal: DeepSeek-V4 is emitted by deepseek-v4/graph.ts');
    if (a.kind === 'mla') {
      const qDim = a.nopeDim + a.ropeDim;
      let qW: Float32Array;
      let q: string;
      if (a.qLoraRank) {
        const qa = linear(g, x, W(`${p}.self_attn.q_a_proj.weight`, [a.qLoraRank, H]), a.qLoraRank, H, { quant, hint: 'q_a_proj' });
        const qaN = g.rmsNorm(qa, g.weight('q_a_layernorm', W(`${p}.self_attn.q_a_layernorm.weight`, [a.qLoraRank]), [a.qLoraRank]), spec.eps);
        qW = W(`${p}.self_attn.q_b_proj.weight`, [a.heads * qDim, a.qLoraRank]);
        if (a.ropeInterleaved) for (let hh = 0; hh < a.heads; hh++) deinterleaveRows(qW, hh * qDim + a.nopeDim, a.ropeDim, a.qLoraRank);
        q = linear(g, qaN, qW, a.heads * qDim, a.qLoraRank, { quant, hint: 'q_b_proj' });
      } else {
        qW = W(`${p}.self_attn.q_proj.weight`, [a.heads * qDim, H]);
        if (a.ropeInterleaved) for (let hh = 0; hh < a.heads; hh++) deinterleaveRows(qW, hh * qDim + a.nopeDim, a.ropeDim, H);
        q = linear(g, x, qW, a.heads * qDim, H, { quant, hint: 'q_proj' });
      }
      const kvAW = W(`${p}.self_attn.kv_a_proj_with_mqa.weight`, [a.kvLoraRank + a.ropeDim, H]);
      if (a.ropeInterleaved) deinterleaveRows(kvAW, a.kvLoraRank, a.ropeDim, H);
      const kvA = linear(g, x, kvAW, a.kvLoraRank + a.ropeDim, H, { quant, hint: 'kv_a_proj' });
      const kvNorm = g.weight('kv_a_layernorm', W(`${p}.self_attn.kv_a_layernorm.weight`, [a.kvLoraRank]), [a.kvLoraRank]);
      // kv_b_proj [H*(nope+v), kvLora] -> W_UK [H, nope, kvLora], W_UV^T [H, kvLora + rope, v] whose
      // rope rows are zero, so attention can multiply by the whole cached latent (see mlaAttention).
      const kvB = W(`${p}.self_attn.kv_b_proj.weight`, [a.heads * (a.nopeDim + a.vDim), a.kvLoraRank]);
      const C = a.kvLoraRank + a.ropeDim;
      const R = a.nopeDim + a.vDim;
      let absorbK: (qNope: string) => string;
      let absorbV: (oLat: string) => string;
      if (quant === 'none') {
        const wUK = new Float32Array(a.heads * a.nopeDim * a.kvLoraRank);
        const wUVt = new Float32Array(a.heads * C * a.vDim);
        for (let hh = 0; hh < a.heads; hh++) {
          for (let r = 0; r < a.nopeDim; r++) {
            wUK.set(kvB.subarray((hh * R + r) * a.kvLoraRank, (hh * R + r + 1) * a.kvLoraRank), (hh * a.nopeDim + r) * a.kvLoraRank);
          }
          for (let r = 0; r < a.vDim; r++) {
            for (let c = 0; c < a.kvLoraRank; c++) {
              wUVt[(hh * C + c) * a.vDim + r] = kvB[(hh * R + a.nopeDim + r) * a.kvLoraRank + c]!;
            }
          }
        }
        const uk = g.weight('w_uk', wUK, [a.heads, a.nopeDim, a.kvLoraRank]);
        const uv = g.weight('w_uv_t', wUVt, [a.heads, C, a.vDim]);
        absorbK = (qNope) => g.matmul(qNope, uk);
        absorbV = (oLat) => g.matmul(oLat, uv);
      } else {
        // Quantised builds run the absorbed projections as one int8 MatMulNBits per head: read as
        // float32 they were a third of a decode step's bytes on the bench shape. int8 even in int4
        // builds: they are small, and int4 here cost more agreement than it saved time.
        const perHeadK: Float32Array[] = [];
        const perHeadV: Float32Array[] = [];
        for (let hh = 0; hh < a.heads; hh++) {
          // As linear weights [out, in]: W_UK_h [kvLora, nope]; W_UV_h [v, kvLora + rope] (rope columns zero).
          const k = new Float32Array(a.kvLoraRank * a.nopeDim);
          for (let r = 0; r < a.nopeDim; r++) for (let c = 0; c < a.kvLoraRank; c++) k[c * a.nopeDim + r] = kvB[(hh * R + r) * a.kvLoraRank + c]!;
          const v = new Float32Array(a.vDim * C);
          for (let r = 0; r < a.vDim; r++) v.set(kvB.subarray((hh * R + a.nopeDim + r) * a.kvLoraRank, (hh * R + a.nopeDim + r + 1) * a.kvLoraRank), r * C);
          perHeadK.push(k);
          perHeadV.push(v);
        }
        // Heads split and joined at most 4 at a time: WebGPU shaders bind at most 8-16 storage
        // buffers, so a 16-way Split fails there at run time ("Too many storage buffers in shader").
        const perHead = (x: string, ws: Float32Array[], outDim: number, inDim: number, hint: string) => {
          const parts = splitNarrow(g, x, ws.length, 1); // [B,1,S,in] each
          const outs = ws.map((w, hh) => linear(g, parts[hh]!, w, outDim, inDim, { quant: 'int8', hint: `${hint}.${hh}` }));
          return concatNarrow(g, outs, 1);
        };
        absorbK = (qNope) => perHead(qNope, perHeadK, a.kvLoraRank, a.nopeDim, 'w_uk');
        absorbV = (oLat) => perHead(oLat, perHeadV, a.vDim, C, 'w_uv');
      }
      attnOut = mlaAttention(g, {
        q,
        kvA,
        kvNorm,
        eps: spec.eps,
        heads: a.heads,
        nope: a.nopeDim,
        rope: a.ropeDim,
        kvLora: a.kvLoraRank,
        vDim: a.vDim,
        absorbK,
        absorbV,
        scale: spec.softmaxScale,
        cos,
        sin,
        pastLatent: `past.${i}`,
        mask: fullMask,
        newRowsName: `kv.${i}`,
      });
      attnOut = linear(g, attnOut, W(`${p}.self_attn.o_proj.weight`, [H, a.heads * a.vDim]), H, a.heads * a.vDim, { quant, hint: 'o_proj' });
    } else {
      const qOut = a.heads * a.headDim;
      const kvOut = a.kvHeads * a.headDim;
      const qkv = concatRows([
        W(`${p}.self_attn.q_proj.weight`, [qOut, H]),
        W(`${p}.self_attn.k_proj.weight`, [kvOut, H]),
        W(`${p}.self_attn.v_proj.weight`, [kvOut, H]),
      ]);
      const bias = a.qkvBias
        ? concatRows([W(`${p}.self_attn.q_proj.bias`, [qOut]), W(`${p}.self_attn.k_proj.bias`, [kvOut]), W(`${p}.self_attn.v_proj.bias`, [kvOut])])
        : null;
      const fused = linear(g, x, qkv, qOut + 2 * kvOut, H, { quant, hint: 'qkv_proj', bias });
      const [q, k, v] = g.split(fused, [qOut, kvOut, kvOut], -1);
      const useSliding = a.slidingWindow !== null && i >= a.slidingFromLayer;
      attnOut = gqaAttention(g, {
        q: q!,
        k: k!,
        v: v!,
        qNorm: a.qkNorm ? g.weight('q_norm', W(`${p}.self_attn.q_norm.weight`, [a.headDim]), [a.headDim]) : undefined,
        kNorm: a.qkNorm ? g.weight('k_norm', W(`${p}.self_attn.k_norm.weight`, [a.headDim]), [a.headDim]) : undefined,
        eps: spec.eps,
        heads: a.heads,
        kvHeads: a.kvHeads,
        headDim: a.headDim,
        rotDim: spec.rope.dim,
        scale: spec.softmaxScale,
        cos,
        sin,
        pastKey: `past_key.${i}`,
        pastValue: `past_value.${i}`,
        mask: useSliding && slidingMask ? slidingMask : fullMask,
        presentKeyName: `present_key.${i}`,
        presentValueName: `present_value.${i}`,
      });
      attnOut = linear(g, attnOut, W(`${p}.self_attn.o_proj.weight`, [H, qOut]), H, qOut, {
        quant,
        hint: 'o_proj',
        bias: a.outBias ? W(`${p}.self_attn.o_proj.bias`, [H]) : null,
      });
    }
    h = g.add(h, attnOut);
    const x2 = g.rmsNorm(h, g.weight('post_attention_layernorm', W(`${p}.post_attention_layernorm.weight`, [H]), [H]), spec.eps);

    let mlpOut: string;
    if (spec.layerKinds[i] === 'moe') {
      const m = spec.moe!;
      const names = moeNames(spec, src, i);
      const x2d = g.reshape(x2, [-1, H]);
      const routing = route(
        g,
        x2d,
        W(names.gate, [m.experts, H]),
        m.router.hasCorrectionBias ? W(names.correctionBias, [m.experts]) : null,
        m.experts,
        H,
        m.topK,
        m.router,
      );
      const routingName = `routing.${i}`;
      g.output(routing.indices, routingName, DataType.INT64, ['seq', m.topK]);
      routingOutputs.push({ layer: i, name: routingName, topK: m.topK });
      const I = m.intermediate;
      let y = routedExperts(
        g,
        x2d,
        routing,
        m.experts,
        H,
        I,
        m.topK,
        (e) => {
          const n = names.expert(e);
          return { gate: W(n.gate, [I, H]), up: W(n.up, [I, H]), down: W(n.down, [H, I]) };
        },
        quant,
        (cut) => expertCuts.push({ ...cut, layer: i }),
      );
      if (m.shared) {
        const SI = m.shared.intermediate;
        let s = swiglu(g, x2d, W(names.shared.gate, [SI, H]), W(names.shared.up, [SI, H]), W(names.shared.down, [H, SI]), H, SI, quant, 'shared_expert');
        if (m.shared.gated) {
          const gateW = W(names.sharedGate, [1, H]);
          s = g.mul(s, g.sigmoid(g.matmul(x2d, g.weight('shared_expert_gate', gateW, [H, 1]))));
        }
        y = g.add(y, s);
      }
      mlpOut = g.reshape(y, [1, -1, H]);
    } else {
      const I = spec.denseIntermediate;
      mlpOut = swiglu(
        g,
        x2,
        W(`${p}.mlp.gate_proj.weight`, [I, H]),
        W(`${p}.mlp.up_proj.weight`, [I, H]),
        W(`${p}.mlp.down_proj.weight`, [H, I]),
        H,
        I,
        quant,
        'mlp',
      );
    }
    h = g.add(h, mlpOut);
    onLayer(i + 1, spec.layers);
  }
  g.scope = '';
  // Only the last `logits_to_keep` positions go through the norm and lm_head.
  const tail = g.op('Slice', [h, g.op('Neg', [logitsToKeep]), g.i64([Number.MAX_SAFE_INTEGER]), g.i64([1])]);
  const normed = g.rmsNorm(tail, g.weight('norm', W('model.norm.weight', [H]), [H]), spec.eps);
  const headName = spec.tieEmbeddings && !src.has('lm_head.weight') ? 'model.embed_tokens.weight' : 'lm_head.weight';
  const head = headName === 'model.embed_tokens.weight' ? embed : W('lm_head.weight', [spec.vocab, H]);
  const logits = linear(g, normed, head, spec.vocab, H, { quant, hint: 'lm_head' });
  g.output(logits, 'logits', DataType.FLOAT, [1, 'keep', spec.vocab]);
  for (const c of caches) g.output(c.present, c.present, DataType.FLOAT, c.shape.map((d) => (d === 'past' ? (c.append ? 'seq' : 'total') : d)));
  return { caches, routingOutputs, expertCuts };
}

/** x split into n unit slices along `axis`, as a tree of Splits of at most 4 outputs each. */
function splitNarrow(g: GraphBuilder, x: string, n: number, axis: number): string[] {
  if (n <= 4) return n === 1 ? [x] : g.split(x, Array(n).fill(1), axis);
  const group = Math.ceil(n / 4);
  const sizes: number[] = [];
  for (let left = n; left > 0; left -= group) sizes.push(Math.min(group, left));
  return g.split(x, sizes, axis).flatMap((part, i) => splitNarrow(g, part, sizes[i]!, axis));
}

/** Concat of many inputs as a tree of at most 4 at a time (WebGPU's per-shader buffer limit). */
function concatNarrow(g: GraphBuilder, xs: string[], axis: number): string {
  let level = xs;
  while (level.length > 1) {
    const next: string[] = [];
    for (let i = 0; i < level.length; i += 4) {
      const group = level.slice(i, i + 4);
      next.push(group.length === 1 ? group[0]! : g.concat(group, axis));
    }
    level = next;
  }
  return level[0]!;
}

function swiglu(
  g: GraphBuilder,
  x: string,
  gate: Float32Array,
  up: Float32Array,
  down: Float32Array,
  H: number,
  I: number,
  quant: Quant,
  hint: string,
): string {
  const gu = linear(g, x, concatRows([gate, up]), 2 * I, H, { quant, hint: `${hint}.gate_up` });
  const [gg, uu] = g.split(gu, [I, I], -1);
  return linear(g, g.mul(g.silu(gg!), uu!), down, H, I, { quant, hint: `${hint}.down` });
}
