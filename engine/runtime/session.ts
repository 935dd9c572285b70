/**
 * Incremental inference over a built model: prefill a chunk, decode a token, keep and trim the
 * KV cache. A KvState owns one sequence's cache tensors; the session is stateless between calls,
 * so a prefix cache can hold many KvStates (or slices of them) and hand one to the next request.
 * On WebGPU the cache tensors stay on the device between steps (preferredOutputLocation 'gpu-buffer');
 * trims, copies and appends of them then run on the device too (device-kv.ts). The model runs as one
 * graph or as pieces with the routed experts dispatched by the engine (runners.ts); callers see the
 * same forward() either way.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { BuiltModel } from '../model/build.ts';
import { createSessionWithFallback, DEFAULT_PREFERENCE, probeProvider, type ProviderAttempt, type ProviderName } from './providers.ts';
import { DeviceKvOps } from './device-kv.ts';
import { defaultExpertMode, expertModeFromEnv, expertSessionOptions, type ExpertMode } from './experts.ts';
import { DispatchRunner, FusedRunner, type Runner } from './runners.ts';
import { cpuPlacement, gpuBudget, gpuPlacement, type ExpertPlacement } from './placement.ts';

export interface SessionOptions {
  providers?: ProviderName[];
  threads?: number;
  log?: (line: string) => void;
  /** On WebGPU, keep the KV cache on the device between steps (default true). */
  kvOnDevice?: boolean;
  /**
   * How routed experts run (runtime/experts.ts): dispatched by the engine from the router's top-k, or
   * inside the fused MoE/QMoE kernel. Default: SWITCHYARD_EXPERTS, else defaultExpertMode(quant) on
   * the CPU provider; a GPU provider always runs the fused graph.
   */
  experts?: ExpertMode;
  /** Progress of session creation (a dispatched model creates one session per expert). */
  onProgress?: (done: number, total: number) => void;
  /** Profile every ONNX Runtime session into this folder (bench --profile); see endProfiling(). */
  profileDir?: string;
  /**
   * GPU memory the weights may take (bytes); routed experts beyond it stay on the CPU. Default:
   * SWITCHYARD_GPU_MEMORY_BUDGET, else the adapter's memory where it can be read, else unlimited.
   */
  gpuMemoryBudgetBytes?: number;
}

export interface ForwardResult {
  /** [keep, vocab] row-major. */
  logits: Float32Array;
  keep: number;
  vocab: number;
  /** Per MoE layer: chosen experts [S, K] when requested. */
  routing?: Map<number, { topK: number; indices: BigInt64Array }>;
}

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

function disposeTensor(t: ort.Tensor): void {
  if (t.location === 'gpu-buffer') t.dispose();
}

export class ModelSession {
  private constructor(
    readonly model: BuiltModel,
    readonly runner: Runner,
    readonly provider: ProviderName,
    readonly attempts: ProviderAttempt[],
    readonly createMs: number,
    private readonly device: DeviceKvOps | null,
    /** Where the routed experts run (reported by info, loadModel and the status bar). */
    readonly placement: ExpertPlacement,
  ) {}

  /** Where cache tensors live between steps. */
  get kvLocation(): KvLocation {
    return this.device ? 'gpu-buffer' : 'cpu';
  }

  /** How the routed experts run in this session. */
  get expertMode(): ExpertMode | 'none' {
    if (this.runner instanceof DispatchRunner) return 'dispatch';
    return this.model.io.routingOutputs.length ? 'fused' : 'none';
  }

  static async create(model: BuiltModel, opts: SessionOptions = {}): Promise<ModelSession> {
    const t0 = performance.now();
    const preference = opts.providers ?? DEFAULT_PREFERENCE;
    const cpuOptions: ort.InferenceSession.SessionOptions = {
      graphOptimizationLevel: 'all',
      intraOpNumThreads: opts.threads ?? Math.max(1, os.availableParallelism()),
      interOpNumThreads: 1,
      executionMode: 'sequential',
      logSeverityLevel: 3,
    };
    if (opts.profileDir) {
      cpuOptions.enableProfiling = true;
      cpuOptions.profileFilePrefix = path.join(opts.profileDir, 'session');
    }
    const asked = opts.experts ?? expertModeFromEnv();
    const mode = asked ?? defaultExpertMode(model.quant);
    // The provider this machine would give (the isolated probe's verdicts, cached per process).
    const probe = await probeProvider(preference);
    if (model.dispatch && mode === 'dispatch') {
      // Dispatch runs on the CPU: take it when the CPU is the provider this machine would give, or
      // when asked for explicitly; a GPU provider otherwise runs the fused graph.
      if (probe.provider === 'cpu' || asked === 'dispatch') {
        const expertOptions = { ...expertSessionOptions(), ...(opts.profileDir ? { enableProfiling: true, profileFilePrefix: path.join(opts.profileDir, 'expert') } : {}) };
        // No spinning: with a thread pool per piece, workers left spinning after one piece's run
        // took the cores from the next piece and the experts (int8 decode 5.9 -> 31 tok/s here).
        // No memory arena: each piece kept its own arena as large as its biggest activations (a
        // 512-token chunk's attention scores at depth 4096), 7.2 GiB peak for the bench model against
        // 1.8 GiB without (and decode at depth was faster without).
        const pieceOptions: ort.InferenceSession.SessionOptions = {
          ...cpuOptions,
          executionProviders: ['cpu'],
          extra: { session: { intra_op: { allow_spinning: '0' } } },
          enableCpuMemArena: false,
        };
        const runner = await DispatchRunner.create(model.dir, model.dispatch, pieceOptions, outputNamesOf(model), opts.onProgress, expertOptions);
        const attempts = probe.provider === 'cpu' ? probe.attempts : [...probe.attempts.filter((a) => !a.ok), { provider: 'cpu' as const, ok: true }];
        return new ModelSession(model, runner, 'cpu', attempts, performance.now() - t0, null, cpuPlacement(model, 'dispatch'));
      }
    }
    // Cache outputs stay on the device and go back in as past.* next step: no round trip through host
    // memory per token. Logits and routing come to the host (the sampler runs in JavaScript).
    const onDevice = opts.kvOnDevice ?? true;
    // Routed experts (symmetric int8/int4 QMoE: WebGPU's kernel refuses zero points) go to the GPU
    // layer by layer within the budget, the rest to the CPU (placement.ts). Attention, norms, dense
    // layers, shared experts and the cache are on the GPU.
    // The budget (and the nvidia-smi call behind it) only when WebGPU is the provider this would get.
    const onGpu = gpuPlacement(model, 'webgpu', probe.provider === 'webgpu' ? gpuBudget(opts.gpuMemoryBudgetBytes) : null);
    const webgpu: ort.InferenceSession.SessionOptions = {
      // (an empty list is refused: "Provider options key/value cannot be empty")
      executionProviders: [onGpu.forceCpuNodeNames.length ? { name: 'webgpu', forceCpuNodeNames: onGpu.forceCpuNodeNames } : { name: 'webgpu' }],
    };
    if (onDevice) webgpu.preferredOutputLocation = Object.fromEntries(model.io.caches.map((c) => [c.present, 'gpu-buffer' as const]));
    const gpuKv: Partial<Record<ProviderName, ort.InferenceSession.SessionOptions>> = { webgpu };
    const { session, provider, attempts } = await createSessionWithFallback(model.modelPath, preference, cpuOptions, opts.log, gpuKv);
    const device = provider === 'webgpu' && onDevice ? await DeviceKvOps.create() : null;
    const placement = provider === 'webgpu' ? onGpu.placement : cpuPlacement(model, 'fused');
    return new ModelSession(model, new FusedRunner(session), provider, attempts, performance.now() - t0, device, placement);
  }

  newState(): KvState {
    const tensors = new Map<string, ort.Tensor>();
    for (const c of this.model.io.caches) {
      const d = c.shape.map((x) => (typeof x === 'number' ? x : 0));
      tensors.set(c.past, new ort.Tensor('float32', new Float32Array(0), d));
    }
    return new KvState(tensors, this.device);
  }

  /**
   * Runs `ids` at positions state.length.. and appends them to the cache. logitsToKeep: how many
   * trailing positions get logits (1 for generation, ids.length for scoring a whole prompt).
   */
  async forward(state: KvState, ids: number[], opts: { logitsToKeep?: number; routing?: boolean } = {}): Promise<ForwardResult> {
    if (ids.length === 0) throw new Error('forward needs at least one token');
    if (ids.length > 1 && this.tokenByToken) return this.#forwardEach(state, ids, opts);
    return this.#forward(state, ids, opts);
  }

  /**
   * ORT 1.30's WebGPU QMoE gives wrong rows now and then for batches of more than one token (its
   * gate kernel resets the per-expert counters while other workgroups add to them; seen on lavapipe
   * in 1-10% of runs), so with experts on the GPU a multi-token step runs one token at a time.
   * SWITCHYARD_WEBGPU_QMOE_BATCH=1 turns this off (for a release that fixes the kernel).
   */
  get tokenByToken(): boolean {
    return this.provider === 'webgpu' && this.placement.gpuLayers.length > 0 && process.env.SWITCHYARD_WEBGPU_QMOE_BATCH !== '1';
  }

  async #forwardEach(state: KvState, ids: number[], opts: { logitsToKeep?: number; routing?: boolean }): Promise<ForwardResult> {
    const keep = Math.min(ids.length, Math.max(1, opts.logitsToKeep ?? 1));
    const rows: Float32Array[] = [];
    const routing = new Map<number, { topK: number; parts: BigInt64Array[] }>();
    let vocab = 0;
    for (let i = 0; i < ids.length; i++) {
      const r = await this.#forward(state, [ids[i]!], { routing: opts.routing });
      vocab = r.vocab;
      if (i >= ids.length - keep) rows.push(r.logits);
      for (const [layer, v] of r.routing ?? []) {
        const e = routing.get(layer) ?? { topK: v.topK, parts: [] };
        e.parts.push(v.indices);
        routing.set(layer, e);
      }
    }
    const logits = new Float32Array(keep * vocab);
    rows.forEach((r, i) => logits.set(r, i * vocab));
    const result: ForwardResult = { logits, keep, vocab };
    if (opts.routing) {
      result.routing = new Map();
      for (const [layer, e] of routing) {
        const all = new BigInt64Array(e.parts.reduce((a, p) => a + p.length, 0));
        let o = 0;
        for (const p of e.parts) {
          all.set(p, o);
          o += p.length;
        }
        result.routing.set(layer, { topK: e.topK, indices: all });
      }
    }
    return result;
  }

  async #forward(state: KvState, ids: number[], opts: { logitsToKeep?: number; routing?: boolean }): Promise<ForwardResult> {
    const S = ids.length;
    const keep = Math.min(S, Math.max(1, opts.logitsToKeep ?? 1));
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, S]),
      position_ids: new ort.Tensor('int64', BigInt64Array.from({ length: S }, (_, i) => BigInt(state.length + i)), [1, S]),
      logits_to_keep: new ort.Tensor('int64', BigInt64Array.of(BigInt(keep)), [1]),
    };
    for (const [name, t] of state.tensors) feeds[name] = t;
    const out = await this.runner.run(feeds);
    for (const c of this.model.io.caches) {
      if (c.append) {
        await state.append(c.past, out[c.present]!);
        continue;
      }
      const old = state.tensors.get(c.past)!;
      state.tensors.set(c.past, out[c.present]!);
      disposeTensor(old);
    }
    state.length += S;
    const logits = out.logits!;
    const vocab = logits.dims[2]!;
    const result: ForwardResult = { logits: logits.data as Float32Array, keep, vocab };
    if (opts.routing) {
      result.routing = new Map();
      for (const r of this.model.io.routingOutputs) {
        result.routing.set(r.layer, { topK: r.topK, indices: out[r.name]!.data as BigInt64Array });
      }
    }
    return result;
  }

  /** Writes the profiles of a session created with profileDir. */
  endProfiling(): void {
    this.runner.endProfiling();
  }

  async release(): Promise<void> {
    await this.runner.release();
    await this.device?.release();
  }
}

/** The decoder's outputs: logits, present caches, routing indices. */
function outputNamesOf(model: BuiltModel): string[] {
  return ['logits', ...model.io.caches.map((c) => c.present), ...model.io.routingOutputs.map((r) => r.name)];
}
