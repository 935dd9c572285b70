/**
 * Minimal protobuf encoder for ONNX ModelProto.
 *
 * Written by hand because we only ever *write* models, the subset of onnx.proto we need is small
 * (field numbers below are from onnx/onnx.proto, IR v10), and a generated protobufjs module would
 * pull in a runtime and an old schema. Weights never pass through here: large tensors are written
 * to an external .data file by the graph builder and referenced by offset.
 */

export const enum DataType {
  FLOAT = 1,
  UINT8 = 2,
  INT8 = 3,
  INT32 = 6,
  INT64 = 7,
  BOOL = 9,
  FLOAT16 = 10,
}

export type Dim = number | string;

export interface TensorProto {
  name: string;
  dataType: DataType;
  dims: number[];
  /** Inline little-endian bytes. */
  raw?: Uint8Array;
  /** External data: file name relative to the model, byte offset and length. */
  external?: { location: string; offset: number; length: number };
}

export interface AttributeValue {
  name: string;
  f?: number;
  i?: number;
  s?: string;
  t?: TensorProto;
  floats?: number[];
  ints?: number[];
}

export interface NodeProto {
  opType: string;
  domain?: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attributes: AttributeValue[];
}

export interface ValueInfo {
  name: string;
  dataType: DataType;
  /** null: rank and dims unknown (values passed between the pieces of a split graph). */
  shape: Dim[] | null;
}

export interface ModelProto {
  irVersion: number;
  opsets: { domain: string; version: number }[];
  producer: string;
  graph: {
    name: string;
    nodes: NodeProto[];
    initializers: TensorProto[];
    inputs: ValueInfo[];
    outputs: ValueInfo[];
  };
  metadata?: Record<string, string>;
}

/** Growable byte buffer with protobuf primitives. */
class Writer {
  private buf = new Uint8Array(1024);
  private len = 0;

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  varint(v: number | bigint): void {
    // int64 fields: negative numbers are encoded as 10-byte two's complement.
    let x = BigInt.asUintN(64, BigInt(v));
    this.ensure(10);
    while (x >= 0x80n) {
      this.buf[this.len++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.len++] = Number(x);
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, 2);
    this.varint(data.length);
    this.ensure(data.length);
    this.buf.set(data, this.len);
    this.len += data.length;
  }

  string(field: number, s: string): void {
    this.bytes(field, new TextEncoder().encode(s));
  }

  int(field: number, v: number): void {
    this.tag(field, 0);
    this.varint(v);
  }

  float(field: number, v: number): void {
    this.tag(field, 5);
    this.ensure(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 4).setFloat32(0, v, true);
    this.len += 4;
  }

  message(field: number, fill: (w: Writer) => void): void {
    const inner = new Writer();
    fill(inner);
    this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.len);
  }
}

function writeTensor(w: Writer, t: TensorProto): void {
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.dataType);
  w.string(8, t.name);
  if (t.raw) w.bytes(9, t.raw);
  if (t.external) {
    const entries: [string, string][] = [
      ['location', t.external.location],
      ['offset', String(t.external.offset)],
      ['length', String(t.external.length)],
    ];
    for (const [k, v] of entries) {
      w.message(13, (e) => {
        e.string(1, k);
        e.string(2, v);
      });
    }
    w.int(14, 1); // data_location = EXTERNAL
  }
}

function writeAttribute(w: Writer, a: AttributeValue): void {
  w.string(1, a.name);
  if (a.f !== undefined) {
    w.float(2, a.f);
    w.int(20, 1);
  } else if (a.i !== undefined) {
    w.int(3, a.i);
    w.int(20, 2);
  } else if (a.s !== undefined) {
    w.string(4, a.s);
    w.int(20, 3);
  } else if (a.t !== undefined) {
    const t = a.t;
    w.message(5, (m) => writeTensor(m, t));
    w.int(20, 4);
  } else if (a.floats !== undefined) {
    for (const f of a.floats) w.float(7, f);
    w.int(20, 6);
  } else if (a.ints !== undefined) {
    for (const i of a.ints) w.int(8, i);
    w.int(20, 7);
  } else {
    throw new Error(`attribute ${a.name} has no value`);
  }
}

function writeValueInfo(w: Writer, v: ValueInfo): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, v.dataType);
      if (v.shape === null) return;
      const dims = v.shape;
      tensor.message(2, (shape) => {
        for (const d of dims) {
          shape.message(1, (dim) => {
            if (typeof d === 'number') dim.int(1, d);
            else dim.string(2, d);
          });
        }
      });
    }),
  );
}

export function encodeModel(m: ModelProto): Uint8Array {
  const w = new Writer();
  w.int(1, m.irVersion);
  w.string(2, m.producer);
  w.message(7, (g) => {
    for (const n of m.graph.nodes) {
      g.message(1, (nw) => {
        for (const i of n.inputs) nw.string(1, i);
        for (const o of n.outputs) nw.string(2, o);
        nw.string(3, n.name);
        nw.string(4, n.opType);
        for (const a of n.attributes) nw.message(5, (aw) => writeAttribute(aw, a));
        if (n.domain) nw.string(7, n.domain);
      });
    }
    g.string(2, m.graph.name);
    for (const t of m.graph.initializers) g.message(5, (tw) => writeTensor(tw, t));
    for (const v of m.graph.inputs) g.message(11, (vw) => writeValueInfo(vw, v));
    for (const v of m.graph.outputs) g.message(12, (vw) => writeValueInfo(vw, v));
  });
  for (const o of m.opsets) {
    w.message(8, (ow) => {
      if (o.domain) ow.string(1, o.domain);
      ow.int(2, o.version);
    });
  }
  for (const [k, v] of Object.entries(m.metadata ?? {})) {
    w.message(14, (e) => {
      e.string(1, k);
      e.string(2, v);
    });
  }
  return w.finish();
}
