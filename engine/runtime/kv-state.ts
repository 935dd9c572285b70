/**
 * One sequence's cache tensors (KvState): appends, trims and copies on the host or, on WebGPU, on
 * the device (device-kv.ts). The session is stateless between calls, so a prefix cache can hold
 * many KvStates (or slices of them) and hand one to the next request.
 */
import * as ort from 'onnxruntime-node';
import type { DeviceKvOps } from './device-kv.ts';

export type KvLocation = 'cpu' | 'gpu-buffer';

export class KvState {
  length = 0;
  /** Host buffers with spare capacity behind the append caches' tensors (views of their first rows). */
  private readonly spare = new Map<string, Float32Array>();
  /**
   * `device` is set when the tensors live on the GPU (WebGPU): trims and copies then run there. This
   * state owns its tensors: forward() and trim() dispose the ones they replace, dispose() the rest.
   */
  constructor(
    readonly tensors: Map<string, ort.Tensor>,
    private readonly device: DeviceKvOps | null = null,
  ) {}

  get location(): KvLocation {
    return this.device ? 'gpu-buffer' : 'cpu';
  }

  /**
   * Appends rows [B, H, S, D] (B*H == 1: MLA's latent) to cache `name`. On the host the cache is a view
   * of a buffer grown by doubling, so a step writes only its new rows; on the device it is a Concat
   * there. Takes ownership of `rows`.
   */
  async append(name: string, rows: ort.Tensor): Promise<void> {
    const cur = this.tensors.get(name);
    if (!cur) throw new Error(`no cache tensor named ${name}`);
    if (this.device) {
      // An empty cache is a host tensor; WebGPU has no zero-sized buffers, so the rows become the cache.
      if (cur.dims[2] === 0) {
        this.tensors.set(name, rows);
        return;
      }
      this.tensors.set(name, await this.device.concat(cur, rows));
      disposeTensor(cur);
      disposeTensor(rows);
      return;
    }
    const [b, h, T, d] = cur.dims as number[];
    if (b! * h! !== 1) throw new Error(`internal: append cache ${name} has ${b! * h!} heads`);
    const S = rows.dims[2]!;
    const used = T! * d!;
    const need = used + S * d!;
    const data = cur.data as Float32Array;
    let buf = this.spare.get(name);
    // The spare buffer is ours only while the current tensor is a view of its start.
    if (!buf || data.buffer !== buf.buffer || data.byteOffset !== 0 || buf.length < need) {
      const grown = new Float32Array(Math.max(need, 2 * (buf?.length ?? 0), 256 * d!));
      grown.set(data.subarray(0, used));
      buf = grown;
      this.spare.set(name, buf);
    }
    buf.set(rows.data as Float32Array, used);
    this.tensors.set(name, new ort.Tensor('float32', buf.subarray(0, need), [b!, h!, T! + S, d!]));
  }

  /**
   * A hint before a prompt is prefilled (possibly in several steps): it ends at position `end`.
   * Caches that rebuild prefixes from snapshots use it (compressed-state.ts); this one needs nothing.
   */
  planPrompt(_end: number): void {}

  /** Keep only the first n positions (n <= length). */
  async trim(n: number): Promise<void> {
    if (n > this.length || n < 0) throw new Error(`cannot trim a cache of ${this.length} positions to ${n}`);
    if (n === this.length) return;
    for (const [name, t] of this.tensors) this.tensors.set(name, await this.#prefix(t, n, true));
    this.length = n;
  }

  /** An independent state holding the first n positions (default all), for a prefix cache to keep. */
  async copy(n = this.length): Promise<KvState> {
    if (n > this.length || n < 0) throw new Error(`cannot copy ${n} positions of a cache of ${this.length}`);
    const copy = new Map<string, ort.Tensor>();
    for (const [name, t] of this.tensors) copy.set(name, await this.#prefix(t, n, false));
    const s = new KvState(copy, this.device);
    s.length = n;
    return s;
  }

  clone(): Promise<KvState> {
    return this.copy(this.length);
  }

  /** Positions [0, n) of t as a tensor of its own (`replace`: t is this state's and goes). */
  async #prefix(t: ort.Tensor, n: number, replace: boolean): Promise<ort.Tensor> {
    const [b, h, T, d] = t.dims as number[];
    if (n === 0 || T === 0) {
      if (replace) disposeTensor(t);
      return emptyLike(t);
    }
    if (this.device) {
      const out = await this.device.prefix(t, n);
      if (replace) disposeTensor(t);
      return out;
    }
    const src = t.data as Float32Array;
    if (b! * h! === 1) {
      // One sequence, one cache head (the MLA latent): the first n positions are a prefix of the
      // buffer, so a trim is a view; a copy must not share it.
      const view = src.subarray(0, n * d!);
      return new ort.Tensor('float32', replace ? view : view.slice(), [b!, h!, n, d!]);
    }
    const out = new Float32Array(b! * h! * n * d!);
    for (let bh = 0; bh < b! * h!; bh++) out.set(src.subarray(bh * T! * d!, bh * T! * d! + n * d!), bh * n * d!);
    return new ort.Tensor('float32', out, [b!, h!, n, d!]);
  }

  /** The values of one cache tensor on the host (tests, debugging). */
  async read(name: string): Promise<Float32Array> {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`no cache tensor named ${name}`);
    if (t.location === 'gpu-buffer') return this.device!.read(t);
    return t.data as Float32Array;
  }

  /** Frees device memory now rather than when the garbage collector gets to it. */
  dispose(): void {
    for (const [name, t] of this.tensors) {
      disposeTensor(t);
      this.tensors.set(name, emptyLike(t));
    }
    this.length = 0;
  }

  /** Bytes held by this cache (on the device when location is 'gpu-buffer'). */
  get bytes(): number {
    let n = 0;
    for (const t of this.tensors.values()) n += 4 * (t.dims as number[]).reduce((a, x) => a * x, 1);
    return n;
  }

  /**
   * Gives back the spare capacity of host append caches (a copy of the rows in use), so a state kept
   * in the prefix cache holds what `bytes` says. Appending again grows the buffer anew.
   */
  fit(): void {
    for (const [name, buf] of this.spare) {
      const t = this.tensors.get(name)!;
      const data = t.data as Float32Array;
      if (data.buffer === buf.buffer && buf.length > data.length) this.tensors.set(name, new ort.Tensor('float32', data.slice(), t.dims as number[]));
    }
    this.spare.clear();
  }
}

/** A host tensor of t's [B, H, 0, D] shape: no positions yet. */
function emptyLike(t: ort.Tensor): ort.Tensor {
  const [b, h, , d] = t.dims as number[];
  return new ort.Tensor('float32', new Float32Array(0), [b!, h!, 0, d!]);
}

export function disposeTensor(t: ort.Tensor): void {
  if (t.location === 'gpu-buffer') t.dispose();
}

