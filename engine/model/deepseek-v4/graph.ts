/**
 * DeepSeek-V4's decoder as one ONNX graph with its caches as explicit state (see the case READMEs
 * in ../shared/oracle-v4 for the equations):
 *   inputs  input_ids [1,S], position_ids [1,S], logits_to_keep [1], and per layer
 *           past.win.<i>     [1,1,P,D]  the sliding window's last K=V rows (at most window-1)
 *           past.cpend.<i>   [1,1,r,w]  compressor rows of the window being filled (kv | gate+ape)
 *           past.cprev.<i>   [1,1,m,2D] CSA: the previous window's first-half rows (overlap)
 *           past.centry.<i>  [1,1,E,D]  compressed entries so far
 *           past.ipend/iprev/ientry.<i> the same for the Lightning Indexer's compressor (CSA)
 *   outputs logits [1,keep,V]; present.win.<i> (past + new rows; the engine keeps the last window-1),
 *           present.cpend/cprev (replace), entries.<i> (only the new entries; appended), routing.<i>.
 *           Pending and entry outputs end with one pad row the engine drops (no tensor is ever empty).
 * Every rule is in plain ONNX ops (no custom kernels) so float32 matches the reference and the same
 * graph runs on every execution provider; the routed experts use the fused MoE/QMoE kernels with
 * the same cut as the other DeepSeek models, so the engine can dispatch them.
 */
import { DataType, type GraphBuilder } from '../../graph/builder.ts';
import { concatRows, linear, transpose2d, type Quant } from '../../graph/linear.ts';
import { routedExperts, scalarTensor, type ExpertsCut } from '../../graph/moe.ts';
import { decoderInputs, type CacheInput, type DecoderIO, type LayerCut } from '../decoder.ts';
import type { RopeParams } from '../rope.ts';
import type { ModelSpec } from '../spec.ts';
import type { WeightSource } from '../tensor-names.ts';
import type { V4Spec } from './config.ts';

export interface V4WeightSource extends WeightSource {
  readI64(name: string): BigInt64Array;
}

/** The state tensors of layer i, in the order the graph takes them. */
export function v4CacheLayout(spec: ModelSpec): CacheInput[] {
  const v = spec.v4!;
  const D = v.headDim;
  const Di = v.indexHeadDim;
  const out: CacheInput[] = [];
  for (let i = 0; i < spec.layers; i++) {
    const t = v.layerTypes[i]!;
    const m = v.compressRates[i]!;
    out.push({ past: `past.win.${i}`, present: `present.win.${i}`, shape: [1, 1, 'win', D], window: v.slidingWindow - 1 });
    if (t === 'sliding') continue;
    const c = t === 'csa' ? 2 : 1;
    out.push({ past: `past.cpend.${i}`, present: `present.cpend.${i}`, shape: [1, 1, 'pend', 2 * c * D], padRows: 1 });
    if (t === 'csa') out.push({ past: `past.cprev.${i}`, present: `present.cprev.${i}`, shape: [1, 1, 'prev', 2 * D] });
    out.push({ past: `past.centry.${i}`, present: `entries.${i}`, shape: [1, 1, 'entries', D], append: true, padRows: 1 });
    if (t === 'csa') {
      out.push({ past: `past.ipend.${i}`, present: `present.ipend.${i}`, shape: [1, 1, 'pend', 4 * Di], padRows: 1 });
      out.push({ past: `past.iprev.${i}`, present: `present.iprev.${i}`, shape: [1, 1, 'prev', 2 * Di] });
      out.push({ past: `past.ientry.${i}`, present: `ientries.${i}`, shape: [1, 1, 'entries', Di], append: true, padRows: 1 });
    }
  }
  return out;
}

export function emitV4Decoder(
  g: GraphBuilder,
  spec: ModelSpec,
  src: V4WeightSource,
  quant: Quant,
  onLayer: (done: number, total: number) => void = () => {},
): DecoderIO {
  const v = spec.v4!;
  const H = spec.hidden;
  const D = v.headDim;
  const R = v.ropeDim;
  const Hh = v.heads;
  const hc = v.hcMult;
  const eps = spec.eps;
  const moe = spec.moe!;
  const caches = v4CacheLayout(spec);
  const { inputIds, positionIds, logitsToKeep, W } = decoderInputs(g, caches, src);

  // ---- small helpers over [rows, ...] tensors with the batch dimension dropped ----
  const scalarOf = (x: string, axis: number) => g.op('Gather', [g.op('Shape', [x]), g.i64(axis)], { axis: 0 }); // int64 scalar
  const vec = (s: string) => g.reshape(s, [1]);
  const rows2d = (x4: string, width: number) => g.op('Reshape', [x4, g.concat([vec(scalarOf(x4, 2)), g.i64([width])], 0)]);
  const as4d = (x2: string, width: number) => g.op('Reshape', [x2, g.concat([g.i64([1, 1]), vec(scalarOf(x2, 0)), g.i64([width])], 0)]);
  const sliceRows = (x: string, start: string, end: string, axis = 0) => g.op('Slice', [x, vec(start), vec(end), g.i64([axis])]);
  const ones = (n: number) => g.weight('ones', new Float32Array(n).fill(1), [n]);
  const unweightedNorm = (x: string, n: number) => g.rmsNorm(x, ones(n), eps);

  const ids = g.reshape(inputIds, [-1]); // [T]
  const pos = g.reshape(positionIds, [-1]); // [T]
  const T = scalarOf(ids, 0);
  const p0 = g.op('Gather', [pos, g.i64(0)], { axis: 0 });
  const posF = g.op('Cast', [pos], { to: DataType.FLOAT });

  /** cos/sin [N, R/2, 1] of angles positions x inv_freq. */
  const ropeTable = (posFloat: string, rope: RopeParams, hint: string) => {
    const freqs = g.mul(g.unsqueeze(posFloat, [-1]), g.weight(`${hint}.inv_freq`, rope.invFreq, [R / 2]));
    return { cos: g.unsqueeze(g.op('Cos', [freqs]), [-1]), sin: g.unsqueeze(g.op('Sin', [freqs]), [-1]) };
  };
  /** Interleaved RoPE on the last R channels of x [..., width] (rank = x's rank); cos/sin broadcast to [..., R/2, 1]. */
  const rope = (x: string, width: number, rank: number, t: { cos: string; sin: string }, inverse = false): string => {
    const parts = width > R ? g.split(x, [width - R, R], -1) : [null, x];
    const keepDims = Array.from({ length: rank - 1 }, () => 0);
    const pairs = g.reshape(parts[1]!, [...keepDims, R / 2, 2]);
    const [e, o] = g.split(pairs, [1, 1], -1);
    const sin = inverse ? g.op('Neg', [t.sin]) : t.sin;
    const re = g.sub(g.mul(e!, t.cos), g.mul(o!, sin));
    const ro = g.add(g.mul(o!, t.cos), g.mul(e!, sin));
    const rotated = g.reshape(g.concat([re, ro], -1), [...keepDims, R]);
    return parts[0] ? g.concat([parts[0], rotated], -1) : rotated;
  };
  const mainRope = ropeTable(posF, v.mainRope, 'rope_main');
  const compRope = ropeTable(posF, v.compressRope, 'rope_compress');
  const atHeads = (t: { cos: string; sin: string }) => ({ cos: g.unsqueeze(t.cos, [1]), sin: g.unsqueeze(t.sin, [1]) });

  /** mHC before a sub-layer: (post [T,hc], comb [T,hc,hc], collapsed input [T,H]). */
  const hyper = (S: string, prefix: string) => {
    const fn = W(`${prefix}_fn`, [(2 + hc) * hc, hc * H]);
    const base = W(`${prefix}_base`, [(2 + hc) * hc]);
    const scale = W(`${prefix}_scale`, [3]);
    const flat = unweightedNorm(g.reshape(S, [-1, hc * H]), hc * H);
    const mixes = g.matmul(flat, g.weight('hc_fn', transpose2d(fn, (2 + hc) * hc, hc * H), [hc * H, (2 + hc) * hc]));
    const [preW, postW, combW] = g.split(mixes, [hc, hc, hc * hc], -1);
    const pre = g.add(g.sigmoid(g.add(g.mul(preW!, g.f32(scale[0]!)), g.weight('hc_pre_base', base.slice(0, hc), [hc]))), g.f32(v.hcEps));
    const post = g.mul(g.sigmoid(g.add(g.mul(postW!, g.f32(scale[1]!)), g.weight('hc_post_base', base.slice(hc, 2 * hc), [hc]))), g.f32(2));
    let comb = g.add(
      g.softmax(g.add(g.mul(g.reshape(combW!, [-1, hc, hc]), g.f32(scale[2]!)), g.weight('hc_comb_base', base.slice(2 * hc), [hc, hc])), -1),
      g.f32(v.hcEps),
    );
    const normalise = (x: string, axis: number) => g.div(x, g.add(g.op('ReduceSum', [x, g.i64([axis])], { keepdims: 1 }), g.f32(v.hcEps)));
    comb = normalise(comb, -2);
    for (let it = 0; it < v.hcSinkhornIters - 1; it++) comb = normalise(normalise(comb, -1), -2);
    const collapsed = g.op('ReduceSum', [g.mul(g.unsqueeze(pre, [-1]), S), g.i64([1])], { keepdims: 0 });
    return { post, comb, collapsed };
  };
  const hyperPost = (S: string, post: string, comb: string, out: string) =>
    g.add(g.mul(g.unsqueeze(post, [-1]), g.unsqueeze(out, [1])), g.matmul(g.transpose(comb, [0, 2, 1]), S));

  /**
   * A compressor over x [T,H]: rows (kv | gate + ape) join the pending ones, every complete window
   * of m becomes an entry (softmax over the window per channel; CSA pools the previous window's
   * first half with this window's second half), then norm and RoPE at the window's first position.
   */
  const compressor = (x: string, prefix: string, dc: number, m: number, overlap: boolean, names: { pend: string; prev?: string; entries: string }) => {
    const c = overlap ? 2 : 1;
    const wkv = W(`${prefix}.wkv.weight`, [c * dc, H]);
    const wgate = W(`${prefix}.wgate.weight`, [c * dc, H]);
    const ape = W(`${prefix}.ape`, [m, c * dc]);
    const width = 2 * c * dc;
    // Column layout per row: [kv_a | gate_a | kv_b | gate_b] (HCA: [kv | gate]), so each half is contiguous.
    const rowsOf = (w: Float32Array, half: number) => w.subarray(half * dc * H, (half + 1) * dc * H);
    const proj = concatRows(overlap ? [rowsOf(wkv, 0), rowsOf(wgate, 0), rowsOf(wkv, 1), rowsOf(wgate, 1)] : [wkv, wgate]);
    const apeFull = new Float32Array(m * width);
    for (let j = 0; j < m; j++) {
      for (let half = 0; half < c; half++) {
        apeFull.set(ape.subarray(j * c * dc + half * dc, j * c * dc + (half + 1) * dc), j * width + half * 2 * dc + dc);
      }
    }
    const offset = g.op('Mod', [pos, g.i64(m)]);
    const newRows = g.add(linear(g, x, proj, width, H, { quant, hint: 'compressor.proj' }), g.gather(g.weight('compressor.ape', apeFull, [m, width]), offset));
    // One window of zero rows is appended so that no tensor is ever empty (WebGPU refuses zero-sized
    // dispatches): the graph computes nw + 1 windows, and the pad window's entry and the pad row of
    // the pending output are dropped by the engine (CacheInput.padRows) or masked in attention.
    const rows = g.concat([rows2d(names.pend, width), newRows, g.weight('compressor.pad', new Float32Array(m * width), [m, width])], 0); // [N + m, width]
    const N = g.sub(scalarOf(rows, 0), g.i64(m));
    const nw = g.div(N, g.i64(m)); // int64: floor
    const nwp = g.add(nw, g.i64(1));
    const used = g.mul(nw, g.i64(m));
    const full = g.op('Reshape', [sliceRows(rows, g.i64(0), g.mul(nwp, g.i64(m))), g.concat([vec(nwp), g.i64([m, width])], 0)]); // [nw+1, m, width]
    const pending = sliceRows(rows, used, g.add(N, g.i64(1))); // the pending rows + one pad row
    let kvSlots: string;
    let gateSlots: string;
    let prevOut: string | null = null;
    if (overlap) {
      const [a, b] = g.split(full, [2 * dc, 2 * dc], -1);
      // The previous window's first half: from the state, or (first call) zero kv with -inf gates.
      const initial = new Float32Array(m * 2 * dc);
      for (let j = 0; j < m; j++) initial.fill(-Infinity, j * 2 * dc + dc, (j + 1) * 2 * dc);
      const prev0 = g.reshape(sliceRows(g.concat([rows2d(names.prev!, 2 * dc), g.weight('compressor.prev0', initial, [m, 2 * dc])], 0), g.i64(0), g.i64(m)), [1, m, 2 * dc]);
      const prevA = g.concat([prev0, a!], 0); // [nw+2, m, 2dc]
      const prevW = sliceRows(prevA, g.i64(0), nwp);
      prevOut = g.reshape(sliceRows(prevA, nw, nwp), [1, 1, m, 2 * dc]); // the last real window's (or the old one)
      const slots = g.concat([prevW, b!], 1); // [nw+1, 2m, 2dc]
      [kvSlots, gateSlots] = g.split(slots, [dc, dc], -1) as [string, string];
    } else {
      [kvSlots, gateSlots] = g.split(full, [dc, dc], -1) as [string, string];
    }
    const pooled = g.op('ReduceSum', [g.mul(kvSlots, g.softmax(gateSlots, 1)), g.i64([1])], { keepdims: 0 }); // [nw, dc]
    const normed = g.rmsNorm(pooled, g.weight('compressor.norm', W(`${prefix}.norm.weight`, [dc]), [dc]), eps);
    const w0 = g.div(p0, g.i64(m));
    const entryPos = g.op('Cast', [g.mul(g.add(g.op('Range', [g.i64(0), nwp, g.i64(1)]), w0), g.i64(m))], { to: DataType.FLOAT });
    const fresh = rope(normed, dc, 2, ropeTable(entryPos, v.compressRope, 'rope_compress')); // nw entries + the pad one
    // [E + 1, dc]: the pad entry's index is the entry count after this step, which no query here may use.
    const all = g.concat([rows2d(names.entries, dc), fresh], 0);
    return { fresh: as4d(fresh, dc), all, pending: as4d(pending, width), prev: prevOut };
  };

  /** [T, E] bool: query t may use entry e once its window is complete ((e+1)*m <= t+1). */
  const eligible = (E: string, m: number) =>
    g.op('Less', [g.op('Range', [g.i64(0), E, g.i64(1)]), g.unsqueeze(g.div(g.add(pos, g.i64(1)), g.i64(m)), [-1])]);

  const presents = new Map<string, string>();
  const routingOutputs: DecoderIO['routingOutputs'] = [];
  const expertCuts: LayerCut[] = [];

  const embed = W('embed.weight', [spec.vocab, H]);
  const x0 = g.gather(g.weight('embed', embed, [spec.vocab, H]), ids); // [T,H]
  let S = g.op('Expand', [g.unsqueeze(x0, [1]), g.concat([vec(T), g.i64([hc, H])], 0)]); // [T,hc,H]

  for (let i = 0; i < spec.layers; i++) {
    const p = `layers.${i}`;
    const type = v.layerTypes[i]!;
    const m = v.compressRates[i]!;
    g.scope = p;

    // ---- attention ----
    const ha = hyper(S, `${p}.hc_attn`);
    const x = g.rmsNorm(ha.collapsed, g.weight('attn_norm', W(`${p}.attn_norm.weight`, [H]), [H]), eps);
    const ropeT = type === 'sliding' ? mainRope : compRope;
    const qa = linear(g, x, W(`${p}.attn.wq_a.weight`, [v.qLoraRank, H]), v.qLoraRank, H, { quant, hint: 'wq_a' });
    const qr = g.rmsNorm(qa, g.weight('q_norm', W(`${p}.attn.q_norm.weight`, [v.qLoraRank]), [v.qLoraRank]), eps);
    let q = g.reshape(linear(g, qr, W(`${p}.attn.wq_b.weight`, [Hh * D, v.qLoraRank]), Hh * D, v.qLoraRank, { quant, hint: 'wq_b' }), [-1, Hh, D]);
    q = rope(unweightedNorm(q, D), D, 3, atHeads(ropeT));
    let kv = linear(g, x, W(`${p}.attn.wkv.weight`, [D, H]), D, H, { quant, hint: 'wkv' });
    kv = rope(g.rmsNorm(kv, g.weight('kv_norm', W(`${p}.attn.kv_norm.weight`, [D]), [D]), eps), D, 2, ropeT);

    const winPast = rows2d(`past.win.${i}`, D);
    const winKeys = g.concat([winPast, kv], 0); // [P+T, D]
    presents.set(`present.win.${i}`, as4d(winKeys, D));
    // Sliding-window mask: key j sits at position p0 - P + j.
    const P = scalarOf(winPast, 0);
    const keyPos = g.op('Range', [g.sub(p0, P), g.add(p0, T), g.i64(1)]);
    const posCol = g.unsqueeze(pos, [-1]);
    const winBlocked = g.op('Or', [g.op('Greater', [keyPos, posCol]), g.op('LessOrEqual', [keyPos, g.sub(posCol, g.i64(v.slidingWindow))])]);
    let mask = g.op('Where', [winBlocked, g.f32(-Infinity), g.f32(0)]); // [T, P+T]
    let keys = winKeys;

    if (type !== 'sliding') {
      const comp = compressor(x, `${p}.attn.compressor`, D, m, type === 'csa', {
        pend: `past.cpend.${i}`,
        prev: type === 'csa' ? `past.cprev.${i}` : undefined,
        entries: `past.centry.${i}`,
      });
      presents.set(`present.cpend.${i}`, comp.pending);
      if (comp.prev) presents.set(`present.cprev.${i}`, comp.prev);
      presents.set(`entries.${i}`, comp.fresh);
      const E = scalarOf(comp.all, 0);
      let usable = eligible(E, m); // [T, E]
      if (type === 'csa') {
        // Lightning Indexer: its own compressor at index_head_dim, scores sum_h w_h relu(q_h . k).
        const Di = v.indexHeadDim;
        const Hi = v.indexHeads;
        const idx = compressor(x, `${p}.attn.indexer.compressor`, Di, m, true, { pend: `past.ipend.${i}`, prev: `past.iprev.${i}`, entries: `past.ientry.${i}` });
        presents.set(`present.ipend.${i}`, idx.pending);
        presents.set(`present.iprev.${i}`, idx.prev!);
        presents.set(`ientries.${i}`, idx.fresh);
        let qi = g.reshape(linear(g, qr, W(`${p}.attn.indexer.wq_b.weight`, [Hi * Di, v.qLoraRank]), Hi * Di, v.qLoraRank, { quant, hint: 'indexer.wq_b' }), [-1, Hi, Di]);
        qi = rope(qi, Di, 3, atHeads(compRope));
        const perHead = g.mul(g.op('Relu', [g.matmul(qi, g.transpose(idx.all, [1, 0]))]), g.f32(Math.pow(Di, -0.5))); // [T,Hi,E]
        const wts = g.mul(linear(g, x, W(`${p}.attn.indexer.weights_proj.weight`, [Hi, H]), Hi, H, { quant: 'none', hint: 'indexer.weights_proj' }), g.f32(Math.pow(Hi, -0.5)));
        const score = g.reshape(g.matmul(g.unsqueeze(wts, [1]), perHead), [0, -1]); // [T,E]
        const masked = g.op('Where', [usable, score, g.f32(-Infinity)]);
        const k = g.op('Min', [g.i64([v.indexTopk]), vec(E)]);
        const picked = g.node('TopK', [masked, k], { axis: -1, largest: 1, sorted: 1 }, { outputs: 2 })[1]!;
        const zeros = g.op('ConstantOfShape', [g.op('Shape', [masked])], { value: scalarTensor(DataType.FLOAT, 0) });
        const onesK = g.op('ConstantOfShape', [g.op('Shape', [picked])], { value: scalarTensor(DataType.FLOAT, 1) });
        const selected = g.op('Cast', [g.op('ScatterElements', [zeros, picked, onesK], { axis: 1 })], { to: DataType.BOOL });
        usable = g.op('And', [usable, selected]);
      }
      mask = g.concat([mask, g.op('Where', [usable, g.f32(0), g.f32(-Infinity)])], 1);
      keys = g.concat([winKeys, comp.all], 0);
    }

    // Attention over [window ; compressed] with a per-head sink logit that takes mass but no value.
    const scores = g.add(g.mul(g.matmul(q, g.transpose(keys, [1, 0])), g.f32(Math.pow(D, -0.5))), g.unsqueeze(mask, [1])); // [T,Hh,S]
    const sink = g.op('Expand', [g.weight('attn_sink', W(`${p}.attn.attn_sink`, [Hh]), [1, Hh, 1]), g.concat([vec(T), g.i64([Hh, 1])], 0)]);
    const probs = g.op('Slice', [g.softmax(g.concat([scores, sink], -1), -1), g.i64([0]), g.i64([-1]), g.i64([-1])]);
    let o = g.matmul(probs, keys); // [T,Hh,D]
    o = rope(o, D, 3, atHeads(ropeT), true);
    // Grouped output projection: heads in o_groups groups, each projected on its own, then wo_b.
    const G = v.oGroups;
    const inG = (Hh * D) / G;
    const woA = W(`${p}.attn.wo_a.weight`, [G * v.oLoraRank, inG]);
    const groups = G > 1 ? g.split(g.reshape(o, [-1, G, inG]), Array.from({ length: G }, () => 1), 1) : [g.reshape(o, [-1, 1, inG])];
    const projected = groups.map((grp, gi) =>
      linear(g, g.reshape(grp, [-1, inG]), woA.subarray(gi * v.oLoraRank * inG, (gi + 1) * v.oLoraRank * inG), v.oLoraRank, inG, { quant, hint: `wo_a.${gi}` }),
    );
    const attnOut = linear(g, G > 1 ? g.concat(projected, -1) : projected[0]!, W(`${p}.attn.wo_b.weight`, [H, G * v.oLoraRank]), H, G * v.oLoraRank, { quant, hint: 'wo_b' });
    S = hyperPost(S, ha.post, ha.comb, attnOut);

    // ---- MoE ----
    const hf = hyper(S, `${p}.hc_ffn`);
    const xf = g.rmsNorm(hf.collapsed, g.weight('ffn_norm', W(`${p}.ffn_norm.weight`, [H]), [H]), eps);
    const E = moe.experts;
    const K = moe.topK;
    const I = moe.intermediate;
    const logits = g.matmul(xf, g.weight('gate.weight', transpose2d(W(`${p}.ffn.gate.weight`, [E, H]), E, H), [H, E]));
    const scores2 = g.op('Sqrt', [g.op('Softplus', [logits])]);
    let indices: string;
    if (v.hashLayers[i]) {
      src.expectShape(`${p}.ffn.gate.tid2eid`, [spec.vocab, K]);
      indices = g.gather(g.weight('gate.tid2eid', src.readI64(`${p}.ffn.gate.tid2eid`), [spec.vocab, K]), ids);
    } else {
      const biased = g.add(scores2, g.weight('gate.bias', W(`${p}.ffn.gate.bias`, [E]), [E]));
      indices = g.node('TopK', [biased, g.i64([K])], { axis: -1, largest: 1, sorted: 1 }, { outputs: 2 })[1]!;
    }
    let weights = g.op('GatherElements', [scores2, indices], { axis: 1 });
    if (moe.router.normTopk) weights = g.div(weights, g.add(g.op('ReduceSum', [weights, g.i64([-1])], { keepdims: 1 }), g.f32(1e-20)));
    if (moe.router.scaling !== 1) weights = g.mul(weights, g.f32(moe.router.scaling));
    const routingName = `routing.${i}`;
    g.output(indices, routingName, DataType.INT64, ['seq', K]);
    routingOutputs.push({ layer: i, name: routingName, topK: K });
    const expertW = (e: number) => ({
      gate: W(`${p}.ffn.experts.${e}.w1.weight`, [I, H]),
      up: W(`${p}.ffn.experts.${e}.w3.weight`, [I, H]),
      down: W(`${p}.ffn.experts.${e}.w2.weight`, [H, I]),
    });
    const routed = routedExperts(g, xf, { indices, weights }, E, H, I, K, expertW, quant, (cut: ExpertsCut) => expertCuts.push({ ...cut, layer: i }), {
      swigluLimit: v.swigluLimit,
      // Released FP4 experts carry one power-of-two scale per 32 inputs: blocks of 32 keep int8 exact.
      block: v.expertDtype === 'fp4' ? 32 : undefined,
    });
    let ffnOut = routed;
    if (moe.shared) {
      const SI = moe.shared.intermediate;
      const L = v.swigluLimit;
      let gate = linear(g, xf, W(`${p}.ffn.shared_experts.w1.weight`, [SI, H]), SI, H, { quant, hint: 'shared.w1' });
      let up = linear(g, xf, W(`${p}.ffn.shared_experts.w3.weight`, [SI, H]), SI, H, { quant, hint: 'shared.w3' });
      if (L > 0) {
        gate = g.op('Min', [gate, g.f32(L)]);
        up = g.op('Clip', [up, g.f32(-L), g.f32(L)]);
      }
      const act = g.mul(g.silu(gate), up);
      ffnOut = g.add(routed, linear(g, act, W(`${p}.ffn.shared_experts.w2.weight`, [H, SI]), H, SI, { quant, hint: 'shared.w2' }));
    }
    S = hyperPost(S, hf.post, hf.comb, ffnOut);
    onLayer(i + 1, spec.layers);
  }

  g.scope = 'head';
  const fn = W('hc_head_fn', [hc, hc * H]);
  const flat = unweightedNorm(g.reshape(S, [-1, hc * H]), hc * H);
  const mixes = g.matmul(flat, g.weight('hc_head_fn', transpose2d(fn, hc, hc * H), [hc * H, hc]));
  const headScale = W('hc_head_scale', [1]);
  const pre = g.add(g.sigmoid(g.add(g.mul(mixes, g.f32(headScale[0]!)), g.weight('hc_head_base', W('hc_head_base', [hc]), [hc]))), g.f32(v.hcEps));
  let h = g.op('ReduceSum', [g.mul(g.unsqueeze(pre, [-1]), S), g.i64([1])], { keepdims: 0 }); // [T,H]
  h = g.rmsNorm(h, g.weight('norm', W('norm.weight', [H]), [H]), eps);
  h = g.op('Slice', [h, g.op('Neg', [logitsToKeep]), g.i64([Number.MAX_SAFE_INTEGER]), g.i64([0])]);
  const head = spec.tieEmbeddings ? embed : W('head.weight', [spec.vocab, H]);
  const logits = g.unsqueeze(linear(g, h, head, spec.vocab, H, { quant, hint: 'head' }), [0]);
  g.output(logits, 'logits', DataType.FLOAT, [1, 'keep', spec.vocab]);
  for (const c of caches) g.output(presents.get(c.present)!, c.present, DataType.FLOAT, c.shape.map((d, k) => (k === 2 ? `${c.present}_rows` : d)));
  g.scope = '';
  return { caches, routingOutputs, expertCuts };
}
