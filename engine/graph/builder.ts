/**
 * ONNX graph builder: named values, nodes, and initializers streamed to an external .data file.
 *
 * Hand-written (as onnxruntime-genai's model builder is, in Python) because no JS library emits
 * ONNX graphs; weights go straight to disk as they are produced so a multi-GB checkpoint never sits
 * in the JS heap, and ONNX Runtime memory-maps them when the session is created from the file path.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  DataType,
  encodeModel,
  type AttributeValue,
  type Dim,
  type NodeProto,
  type TensorProto,
  type ValueInfo,
} from './onnx-proto.ts';

export { DataType } from './onnx-proto.ts';

/** Initializers at most this many bytes stay inline: shape inference must see Reshape/Split constants. */
const INLINE_LIMIT = 1024;
/** External tensors start on this alignment so ORT can map them directly. */
const DATA_ALIGN = 4096;

type Attrs = Record<string, number | string | number[] | { floats: number[] } | TensorProto>;

export interface NodeOptions {
  domain?: string;
  /** Number of outputs (default 1) or explicit names. */
  outputs?: number | string[];
  name?: string;
}

export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly inits: TensorProto[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly constCache = new Map<string, string>();
  private readonly used = new Set<string>();
  private counter = 0;
  private fd: number;
  private dataOffset = 0;
  /** Name prefix for nodes and values, e.g. `layers.3/attn`. */
  scope = '';

  constructor(
    private readonly modelPath: string,
    private readonly dataFileName = path.basename(modelPath) + '.data',
  ) {
    this.fd = fs.openSync(path.join(path.dirname(modelPath), dataFileName), 'w');
  }

  get dataBytes(): number {
    return this.dataOffset;
  }

  private fresh(hint: string): string {
    let name = this.scope ? `${this.scope}/${hint}` : hint;
    if (this.used.has(name)) name = `${name}_${++this.counter}`;
    this.used.add(name);
    return name;
  }

  input(name: string, dataType: DataType, shape: Dim[]): string {
    this.inputs.push({ name, dataType, shape });
    this.used.add(name);
    return name;
  }

  output(value: string, name: string, dataType: DataType, shape: Dim[]): void {
    const out = value === name ? value : this.node('Identity', [value], {}, { outputs: [name] })[0]!;
    this.outputs.push({ name: out, dataType, shape });
  }

  node(op: string, inputs: string[], attrs: Attrs = {}, opts: NodeOptions = {}): string[] {
    const outNames =
      typeof opts.outputs === 'object'
        ? opts.outputs.map((n) => {
            this.used.add(n);
            return n;
          })
        : Array.from({ length: opts.outputs ?? 1 }, (_, i) => this.fresh(`${opts.name ?? op}${i ? `_out${i}` : ''}`));
    const attributes: AttributeValue[] = Object.entries(attrs).map(([name, v]) => {
      if (typeof v === 'number') return Number.isInteger(v) && !isFloatAttr(op, name) ? { name, i: v } : { name, f: v };
      if (typeof v === 'string') return { name, s: v };
      if (Array.isArray(v)) return { name, ints: v };
      if ('floats' in v) return { name, floats: v.floats };
      return { name, t: v };
    });
    this.nodes.push({
      opType: op,
      domain: opts.domain,
      name: this.fresh(`${opts.name ?? op}_node`),
      inputs,
      outputs: outNames,
      attributes,
    });
    return outNames;
  }

  /** Single-output node. */
  op(op: string, inputs: string[], attrs: Attrs = {}, opts: NodeOptions = {}): string {
    return this.node(op, inputs, attrs, opts)[0]!;
  }

  // ---- constants and weights -------------------------------------------------------------

  private initializer(hint: string, dataType: DataType, dims: number[], bytes: Uint8Array): string {
    const name = this.fresh(hint);
    if (bytes.byteLength <= INLINE_LIMIT) {
      this.inits.push({ name, dataType, dims, raw: bytes.slice() });
    } else {
      const pad = (DATA_ALIGN - (this.dataOffset % DATA_ALIGN)) % DATA_ALIGN;
      if (pad) {
        fs.writeSync(this.fd, new Uint8Array(pad), 0, pad, this.dataOffset);
        this.dataOffset += pad;
      }
      let written = 0;
      while (written < bytes.byteLength) {
        written += fs.writeSync(this.fd, bytes, written, bytes.byteLength - written, this.dataOffset + written);
      }
      this.inits.push({
        name,
        dataType,
        dims,
        external: { location: this.dataFileName, offset: this.dataOffset, length: bytes.byteLength },
      });
      this.dataOffset += bytes.byteLength;
    }
    return name;
  }

  weight(hint: string, data: Float32Array | Uint8Array | Int32Array | BigInt64Array, dims: number[], dataType?: DataType): string {
    const dt =
      dataType ??
      (data instanceof Float32Array ? DataType.FLOAT : data instanceof Int32Array ? DataType.INT32 : data instanceof BigInt64Array ? DataType.INT64 : DataType.UINT8);
    const count = dims.reduce((a, b) => a * b, 1);
    if (dt !== DataType.FLOAT16 && count !== data.length) {
      throw new Error(`internal: weight ${hint} has ${data.length} values but dims ${dims.join('x')}`);
    }
    return this.initializer(hint, dt, dims, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  /**
   * A large initializer produced in pieces (e.g. one expert at a time) so that a whole layer's
   * experts never need one contiguous JS buffer.
   */
  weightStream(hint: string, dataType: DataType, dims: number[], totalBytes: number, produce: (write: (bytes: Uint8Array) => void) => void): string {
    if (totalBytes <= INLINE_LIMIT) {
      const parts: Uint8Array[] = [];
      produce((b) => parts.push(b.slice()));
      const all = new Uint8Array(totalBytes);
      let o = 0;
      for (const p of parts) {
        all.set(p, o);
        o += p.byteLength;
      }
      return this.initializer(hint, dataType, dims, all);
    }
    const name = this.fresh(hint);
    const pad = (DATA_ALIGN - (this.dataOffset % DATA_ALIGN)) % DATA_ALIGN;
    if (pad) {
      fs.writeSync(this.fd, new Uint8Array(pad), 0, pad, this.dataOffset);
      this.dataOffset += pad;
    }
    const start = this.dataOffset;
    produce((bytes) => {
      let written = 0;
      while (written < bytes.byteLength) {
        written += fs.writeSync(this.fd, bytes, written, bytes.byteLength - written, this.dataOffset + written);
      }
      this.dataOffset += bytes.byteLength;
    });
    if (this.dataOffset - start !== totalBytes) {
      throw new Error(`internal: ${hint} streamed ${this.dataOffset - start} bytes, expected ${totalBytes}`);
    }
    this.inits.push({ name, dataType, dims, external: { location: this.dataFileName, offset: start, length: totalBytes } });
    return name;
  }

  /** Deduplicated small constants. */
  i64(values: number[] | number, dims?: number[]): string {
    const arr = Array.isArray(values) ? values : [values];
    const d = dims ?? (Array.isArray(values) ? [arr.length] : []);
    const key = `i64:${d.join(',')}:${arr.join(',')}`;
    let name = this.constCache.get(key);
    if (!name) {
      const saved = this.scope;
      this.scope = '';
      name = this.initializer('const_i64', DataType.INT64, d, new Uint8Array(BigInt64Array.from(arr.map(BigInt)).buffer));
      this.scope = saved;
      this.constCache.set(key, name);
    }
    return name;
  }

  f32(values: number[] | number, dims?: number[]): string {
    const arr = Array.isArray(values) ? values : [values];
    const d = dims ?? (Array.isArray(values) ? [arr.length] : []);
    const key = `f32:${d.join(',')}:${arr.map((v) => Object.is(v, -0) ? '-0' : String(v)).join(',')}`;
    let name = this.constCache.get(key);
    if (!name) {
      const saved = this.scope;
      this.scope = '';
      name = this.initializer('const_f32', DataType.FLOAT, d, new Uint8Array(Float32Array.from(arr).buffer));
      this.scope = saved;
      this.constCache.set(key, name);
    }
    return name;
  }

  // ---- op helpers (default domain, opset 17) ----------------------------------------------

  matmul(a: string, b: string): string {
    return this.op('MatMul', [a, b]);
  }
  add(a: string, b: string): string {
    return this.op('Add', [a, b]);
  }
  sub(a: string, b: string): string {
    return this.op('Sub', [a, b]);
  }
  mul(a: string, b: string): string {
    return this.op('Mul', [a, b]);
  }
  div(a: string, b: string): string {
    return this.op('Div', [a, b]);
  }
  reshape(x: string, shape: number[]): string {
    return this.op('Reshape', [x, this.i64(shape)]);
  }
  transpose(x: string, perm: number[]): string {
    return this.op('Transpose', [x], { perm });
  }
  concat(xs: string[], axis: number): string {
    return this.op('Concat', xs, { axis });
  }
  split(x: string, sizes: number[], axis: number): string[] {
    return this.node('Split', [x, this.i64(sizes)], { axis }, { outputs: sizes.length });
  }
  unsqueeze(x: string, axes: number[]): string {
    return this.op('Unsqueeze', [x, this.i64(axes)]);
  }
  sigmoid(x: string): string {
    return this.op('Sigmoid', [x]);
  }
  silu(x: string): string {
    return this.mul(x, this.sigmoid(x));
  }
  softmax(x: string, axis = -1): string {
    return this.op('Softmax', [x], { axis });
  }
  rmsNorm(x: string, weight: string, eps: number): string {
    return this.op('SimplifiedLayerNormalization', [x, weight], { axis: -1, epsilon: eps, stash_type: 1 });
  }
  gather(data: string, indices: string, axis = 0): string {
    return this.op('Gather', [data, indices], { axis });
  }

  // ---- the graph so far (for splitting it into pieces, see partition.ts) ----------------

  get graph(): GraphParts {
    return { nodes: this.nodes, initializers: this.inits, inputs: this.inputs, outputs: this.outputs };
  }

  /** The initializer called `name` (its external location, when its bytes are in the .data file). */
  initializerOf(name: string): TensorProto {
    const t = this.inits.find((i) => i.name === name);
    if (!t) throw new Error(`internal: no initializer named ${name}`);
    return t;
  }

  // ---- serialisation -----------------------------------------------------------------------

  finish(metadata: Record<string, string> = {}): { modelBytes: number; dataBytes: number } {
    fs.closeSync(this.fd);
    const modelBytes = writeModelFile(this.modelPath, 'decoder', this.graph, metadata);
    return { modelBytes, dataBytes: this.dataOffset };
  }

  abort(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }
}

export interface GraphParts {
  nodes: NodeProto[];
  initializers: TensorProto[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
}

/** Writes one graph as a model file (opset 17 + com.microsoft); returns its size in bytes. */
export function writeModelFile(file: string, name: string, g: GraphParts, metadata: Record<string, string> = {}): number {
  const bytes = encodeModel({
    irVersion: 8,
    opsets: [
      { domain: '', version: 17 },
      { domain: 'com.microsoft', version: 1 },
    ],
    producer: 'switchyard',
    graph: { name, nodes: g.nodes, initializers: g.initializers, inputs: g.inputs, outputs: g.outputs },
    metadata,
  });
  fs.writeFileSync(file, bytes);
  return bytes.byteLength;
}

/** Attributes that ONNX declares as float even when the value is integral (e.g. epsilon 1). */
function isFloatAttr(op: string, name: string): boolean {
  return (
    name === 'epsilon' ||
    name === 'scale' ||
    name === 'alpha' ||
    name === 'beta' ||
    name === 'activation_alpha' ||
    name === 'activation_beta' ||
    name === 'swiglu_limit' ||
    (op === 'Constant' && name === 'value_float')
  );
}
