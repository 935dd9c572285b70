/**
 * Cache tensors that live on the GPU (WebGPU, preferredOutputLocation 'gpu-buffer') cannot be sliced
 * or read from JavaScript: onnxruntime-node hands back an opaque buffer, and in 1.30 its getData()
 * aborts the process. So the few things the engine does to a cache outside the model (keep the first
 * n positions, copy it for the prefix cache, append a step's rows, read it back in a test) run as
 * one-node Slice and Concat graphs on the same device. Written by hand: two-line graphs, nothing a
 * library offers.
 */
import * as ort from 'onnxruntime-node';
import { encodeModel, DataType, type AttributeValue, type ValueInfo } from '../graph/onnx-proto.ts';

/** A model of one node whose output y is a [B, H, *, D] cache tensor. */
function oneNodeModel(opType: string, inputs: ValueInfo[], attributes: AttributeValue[] = []): Uint8Array {
  return encodeModel({
    irVersion: 8,
    opsets: [{ domain: '', version: 17 }],
    producer: `switchyard-kv-${opType.toLowerCase()}`,
    graph: {
      name: `kv_${opType.toLowerCase()}`,
      nodes: [{ opType, name: 'op', inputs: inputs.map((i) => i.name), outputs: ['y'], attributes }],
      initializers: [],
      inputs,
      outputs: [{ name: 'y', dataType: DataType.FLOAT, shape: ['b', 'h', 'n', 'd'] }],
    },
  });
}

const cacheInput = (name: string): ValueInfo => ({ name, dataType: DataType.FLOAT, shape: ['b', 'h', `${name}_len`, 'd'] });
const scalarInput = (name: string): ValueInfo => ({ name, dataType: DataType.INT64, shape: [1] });
const sliceModel = () => oneNodeModel('Slice', [cacheInput('x'), scalarInput('starts'), scalarInput('ends'), scalarInput('axes')]);
const concatModel = () => oneNodeModel('Concat', [cacheInput('past'), cacheInput('rows')], [{ name: 'axis', i: 2 }]);

const i64 = (n: number) => new ort.Tensor('int64', BigInt64Array.of(BigInt(n)), [1]);

export class DeviceKvOps {
  private constructor(
    private readonly onDevice: ort.InferenceSession,
    private readonly toHost: ort.InferenceSession,
    private readonly appender: ort.InferenceSession,
  ) {}

  static async create(): Promise<DeviceKvOps> {
    const model = sliceModel();
    const base = { executionProviders: ['webgpu'], graphOptimizationLevel: 'all', logSeverityLevel: 3 } as const;
    const onDevice = await ort.InferenceSession.create(model, { ...base, preferredOutputLocation: 'gpu-buffer' });
    const toHost = await ort.InferenceSession.create(model, base);
    const appender = await ort.InferenceSession.create(concatModel(), { ...base, preferredOutputLocation: 'gpu-buffer' });
    return new DeviceKvOps(onDevice, toHost, appender);
  }

  /** A new device tensor: `past` ([B, H, P, D]) followed by `rows` ([B, H, S, D]); both are left as they were. */
  async concat(past: ort.Tensor, rows: ort.Tensor): Promise<ort.Tensor> {
    const out = await this.appender.run({ past, rows });
    return out.y!;
  }

  /** A new device tensor holding positions [0, n) of `t` ([B, H, T, D]); `t` is left as it was. */
  async prefix(t: ort.Tensor, n: number): Promise<ort.Tensor> {
    const out = await this.onDevice.run({ x: t, starts: i64(0), ends: i64(n), axes: i64(2) });
    return out.y!;
  }

  /** The values of a device tensor, copied to the host. */
  async read(t: ort.Tensor): Promise<Float32Array> {
    const dims = t.dims as number[];
    const out = await this.toHost.run({ x: t, starts: i64(0), ends: i64(dims[2]!), axes: i64(2) });
    return out.y!.data as Float32Array;
  }

  async release(): Promise<void> {
    await this.onDevice.release();
    await this.toHost.release();
    await this.appender.release();
  }
}
