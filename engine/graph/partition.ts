/**
 * Splits one built graph into pieces at "cuts": values the engine computes itself between two
 * session runs (the routed experts of a MoE layer, dispatched from the router's top-k). A cut names
 * the values it needs (x2d, indices, weights) and the value it stands for (its output); the nodes
 * that produced that output inside the graph (the fused MoE/QMoE node and its glue) are dropped.
 *
 * Every kept node goes to the earliest piece in which all its inputs exist: piece 0 holds what
 * depends on no cut, piece k what depends on cut k-1. Values that cross pieces (the residual stream,
 * the shared RoPE tables and masks, routing outputs) become outputs of one piece and inputs of later
 * ones; the engine holds them between runs, so nothing is recomputed. Written by hand: no JS library
 * edits ONNX graphs, and this is a plain topological walk over the builder's node list.
 */
import { DataType, type GraphParts } from './builder.ts';
import type { NodeProto, TensorProto, ValueInfo } from './onnx-proto.ts';

export interface Cut {
  /** Values the engine reads to compute the cut (must be produced before it). */
  needs: string[];
  /** The value the engine feeds back in place of the dropped nodes' result. */
  output: string;
}

/** Pieces in order: piece k runs before cut k, the last one after the last cut. */
export function partitionGraph(graph: GraphParts, cuts: Cut[]): GraphParts[] {
  const inits = new Map(graph.initializers.map((t) => [t.name, t]));
  const producer = new Map<string, NodeProto>();
  for (const n of graph.nodes) for (const o of n.outputs) producer.set(o, n);
  const cutOfOutput = new Map(cuts.map((c, i) => [c.output, i]));

  // Values some piece must output whatever consumes them: the graph's outputs and the cuts' inputs.
  const required = new Set([...graph.outputs.map((o) => o.name), ...cuts.flatMap((c) => c.needs)]);
  // Nodes needed for those, not looking behind a cut's output.
  const live = new Set<NodeProto>();
  const stack = [...required];
  while (stack.length) {
    const v = stack.pop()!;
    if (!v || cutOfOutput.has(v)) continue;
    const n = producer.get(v);
    if (!n || live.has(n)) continue;
    live.add(n);
    stack.push(...n.inputs);
  }

  // The piece each value becomes available in (-1: graph inputs and initializers, everywhere).
  const stage = new Map<string, number>();
  for (const i of graph.inputs) stage.set(i.name, -1);
  const stageOf = (v: string): number => {
    if (!v || inits.has(v)) return -1;
    const s = stage.get(v);
    if (s !== undefined) return s;
    const c = cutOfOutput.get(v);
    if (c === undefined) throw new Error(`internal: value ${v} is used before it is produced`);
    const cs = 1 + Math.max(0, ...cuts[c]!.needs.map(stageOf));
    stage.set(v, cs);
    return cs;
  };
  const nodeStage = new Map<NodeProto, number>();
  for (const n of graph.nodes) {
    if (!live.has(n)) continue;
    const s = Math.max(0, ...n.inputs.map(stageOf));
    nodeStage.set(n, s);
    for (const o of n.outputs) stage.set(o, s);
  }
  // Then as late as possible: a node whose inputs exist early (e.g. a transpose of layer 9's past)
  // moves to the piece of its first consumer, so it is not computed early and passed along.
  const firstUse = new Map<string, number>();
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const n = graph.nodes[i]!;
    const asap = nodeStage.get(n);
    if (asap === undefined) continue;
    let late = Infinity;
    for (const o of n.outputs) {
      if (required.has(o)) late = Math.min(late, asap);
      const u = firstUse.get(o);
      if (u !== undefined) late = Math.min(late, u);
    }
    const s = late === Infinity ? asap : Math.max(asap, late);
    nodeStage.set(n, s);
    for (const o of n.outputs) stage.set(o, s);
    for (const v of n.inputs) if (v && !cutOfOutput.has(v)) firstUse.set(v, Math.min(firstUse.get(v) ?? Infinity, s));
  }
  const pieces = Math.max(0, ...nodeStage.values()) + 1;
  if (pieces !== cuts.length + 1) throw new Error(`internal: ${cuts.length} cuts gave ${pieces} pieces`);
  for (const [i, c] of cuts.entries()) {
    // A need may come from an earlier piece (DeepSeek-V4's hash routing depends on the token ids only):
    // the runner keeps every piece's outputs until the step ends.
    for (const v of c.needs) if (stageOf(v) > i) throw new Error(`internal: cut ${i} needs ${v} from piece ${stageOf(v)}`);
  }

  const types = inferTypes(graph, live);
  const consumers = new Map<string, Set<number>>();
  for (const [n, s] of nodeStage) {
    for (const v of n.inputs) {
      if (!v) continue;
      let set = consumers.get(v);
      if (!set) consumers.set(v, (set = new Set()));
      set.add(s);
    }
  }
  const graphOutputs = new Map(graph.outputs.map((o) => [o.name, o]));
  const info = (v: string): ValueInfo => graphOutputs.get(v) ?? { name: v, dataType: types.get(v) ?? DataType.FLOAT, shape: null };

  const out: GraphParts[] = [];
  for (let s = 0; s < pieces; s++) {
    const nodes = graph.nodes.filter((n) => nodeStage.get(n) === s);
    const inputs: ValueInfo[] = [];
    const usedInits: TensorProto[] = [];
    const producedHere = new Set(nodes.flatMap((n) => n.outputs));
    const seen = new Set<string>();
    for (const n of nodes) {
      for (const v of n.inputs) {
        if (!v || seen.has(v)) continue;
        seen.add(v);
        const t = inits.get(v);
        if (t) usedInits.push(t);
        else if (!producedHere.has(v)) inputs.push(graph.inputs.find((i) => i.name === v) ?? info(v));
      }
    }
    const outputs: ValueInfo[] = [];
    for (const n of nodes) {
      for (const v of n.outputs) {
        const later = [...(consumers.get(v) ?? [])].some((c) => c !== s);
        if (later || required.has(v)) outputs.push(info(v));
      }
    }
    out.push({ nodes, initializers: usedInits, inputs, outputs });
  }
  return out;
}

/** Element types of the values that may cross pieces, from the few rules the builder's ops need. */
function inferTypes(graph: GraphParts, live: Set<NodeProto>): Map<string, DataType> {
  const t = new Map<string, DataType>();
  for (const i of graph.initializers) t.set(i.name, i.dataType);
  for (const i of graph.inputs) t.set(i.name, i.dataType);
  const attr = (n: NodeProto, name: string) => n.attributes.find((a) => a.name === name);
  for (const n of graph.nodes) {
    if (!live.has(n)) continue;
    const first = t.get(n.inputs[0] ?? '') ?? DataType.FLOAT;
    let dt: DataType;
    switch (n.opType) {
      case 'Shape':
      case 'Size':
      case 'NonZero':
      case 'ArgMax':
      case 'ArgMin':
        dt = DataType.INT64;
        break;
      case 'Cast':
        dt = attr(n, 'to')!.i as DataType;
        break;
      case 'Equal':
      case 'Greater':
      case 'Less':
      case 'GreaterOrEqual':
      case 'LessOrEqual':
      case 'Or':
      case 'And':
      case 'Not':
      case 'Xor':
        dt = DataType.BOOL;
        break;
      case 'ConstantOfShape':
        dt = attr(n, 'value')?.t?.dataType ?? DataType.FLOAT;
        break;
      case 'Where':
        dt = t.get(n.inputs[1]!) ?? DataType.FLOAT;
        break;
      default:
        dt = first;
    }
    n.outputs.forEach((o, i) => t.set(o, n.opType === 'TopK' && i === 1 ? DataType.INT64 : dt));
  }
  return t;
}

