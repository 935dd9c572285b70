/**
 * Cache tensors that live on the GPU (WebGPU, preferredOutputLocation 'gpu-buffer') cannot be sliced
 * or read from JavaScript: onnxruntime-node hands back an opaque buffer, and in 1.30 its getData()
 * aborts the process. So the few things the engine does to a cache outside the model (keep the first
 * n positions, copy it for the prefix cache, read it back in a test) run as a one-node Slice graph on
 * the same device. Written by hand: a two-line graph, nothing a library offers.
 */
import * as ort from 'onnxruntime-node';
import { encodeModel, DataType } from '../graph/onnx-proto.ts';

function sliceModel(): Uint8Array {
  return encodeModel({
    irVersion: 8,
    opsets: [{ domain: '', version: 17 }],
    producer: 'switchyard-kv-slice',
    graph: {
      name: 'kv_slice',
      nodes: [{ opType: 'Slice', name: 'slice', inputs: ['x', 'starts', 'ends', 'axes'], outputs: ['y'], attributes: [] }],
      initializers: [],
      inputs: [
        { name: 'x', dataType: DataType.FLOAT, shape: ['b', 'h', 't', 'd'] },
        { name: 'starts', dataType: DataType.INT64, shape: [1] },
        { name: 'ends', dataType: DataType.INT64, shape: [1] },
        { name: 'axes', dataType: DataType.INT64, shape: [1] },
      ],
      outputs: [{ name: 'y', dataType: DataType.FLOAT, shape: ['b', 'h', 'n', 'd'] }],
    },
  });
}

const i64 = (n: number) => new ort.Tensor('int64', BigInt64Array.of(BigInt(n)), [1]);

export class DeviceKvOps {
  private constructor(
    private readonly onDevice: ort.InferenceSession,
    private readonly toHost: ort.InferenceSession,
  ) {}

  static async create(): Promise<DeviceKvOps> {
    const model = sliceModel();
    const base = { executionProviders: ['webgpu'], graphOptimizationLevel: 'all', logSeverityLevel: 3 } as const;
    const onDevice = await ort.InferenceSession.create(model, { ...base, preferredOutputLocation: 'gpu-buffer' });
    const toHost = await ort.InferenceSession.create(model, base);
    return new DeviceKvOps(onDevice, toHost);
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
  }
}
