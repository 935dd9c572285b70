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
import { CompressedKvState } from './compressed-state.ts';
import { disposeTensor, KvState, type KvLocation } from './kv-state.ts';

export { KvState, type KvLocation } from './kv-state.ts';
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
    // DeepSeek-V4's state is rebuilt from snapshots on the host (compressed-state.ts).
    const onDevice = (opts.kvOnDevice ?? true) && !model.spec.v4;
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
    if (this.model.spec.v4) {
      return new CompressedKvState(tensors, this.model.io.caches, async (st, ids) => void (await this.forward(st, ids)), snapshotEvery(), promptTail());
    }
    return new KvState(tensors, this.device);
  }

  /**
   * Runs `ids` at positions state.length.. and appends them to the cache. logitsToKeep: how many
   * trailing positions get logits (1 for generation, ids.length for scoring a whole prompt).
   */
  async forward(state: KvState, ids: number[], opts: { logitsToKeep?: number; routing?: boolean } = {}): Promise<ForwardResult> {
    if (ids.length === 0) throw new Error('forward needs at least one token');
    if (state instanceof CompressedKvState) {
      // Cut the step at snapshot positions so a later trim/copy can restore any prefix cheaply: every
      // `snapshotEvery` positions, and the prompt's tail snapshot (planPrompt) when this step reaches it.
      const every = state.snapshotEvery;
      const end = state.length + ids.length;
      const tail = state.tailAt;
      const sizes: number[] = [];
      let at = state.length;
      while (at < end) {
        let next = Math.min(end, at + every - (at % every));
        if (tail > at && tail < next) next = tail;
        if (this.tokenByToken) next = at + 1;
        sizes.push(next - at);
        at = next;
      }
      return this.#forwardSplit(state, ids, sizes, opts, (piece) => {
        state.tokens.push(...piece);
        if (state.length === state.tailAt) state.tailAt = -1;
        else if (state.length % every !== 0) return;
        state.snapshot();
      });
    }
    if (ids.length > 1 && this.tokenByToken) return this.#forwardSplit(state, ids, ids.map(() => 1), opts);
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

  /** Runs ids as consecutive steps of the given sizes and joins their logits and routing. */
  async #forwardSplit(
    state: KvState,
    ids: number[],
    sizes: number[],
    opts: { logitsToKeep?: number; routing?: boolean },
    after: (piece: number[]) => void = () => {},
  ): Promise<ForwardResult> {
    const keep = Math.min(ids.length, Math.max(1, opts.logitsToKeep ?? 1));
    const rows: Float32Array[] = [];
    const routing = new Map<number, { topK: number; parts: BigInt64Array[] }>();
    let vocab = 0;
    let start = 0;
    for (const n of sizes) {
      const piece = ids.slice(start, start + n);
      // Logits of this piece's positions that fall among the last `keep` of the whole step.
      const want = Math.max(0, Math.min(n, start + n - (ids.length - keep)));
      const r = await this.#forward(state, piece, { routing: opts.routing, logitsToKeep: Math.max(1, want) });
      after(piece);
      vocab = r.vocab;
      if (want > 0) rows.push(r.logits.subarray((r.keep - want) * r.vocab));
      start += n;
      for (const [layer, v] of r.routing ?? []) {
        const e = routing.get(layer) ?? { topK: v.topK, parts: [] };
        e.parts.push(v.indices);
        routing.set(layer, e);
      }
    }
    const logits = new Float32Array(keep * vocab);
    let offset = 0;
    for (const r of rows) {
      logits.set(r, offset);
      offset += r.length;
    }
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
      if (c.padRows) out[c.present] = dropLastRows(out[c.present]!, c.padRows);
      if (c.append) {
        await state.append(c.past, out[c.present]!);
        continue;
      }
      if (c.window !== undefined) {
        state.tensors.set(c.past, lastRows(out[c.present]!, c.window));
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

/** The last n rows (axis 2) of a host tensor [1, 1, R, D], as a tensor of its own. */
function lastRows(t: ort.Tensor, n: number): ort.Tensor {
  const [b, h, R, d] = t.dims as number[];
  if (R! <= n) return t;
  const data = (t.data as Float32Array).slice((R! - n) * d!);
  return new ort.Tensor('float32', data, [b!, h!, n, d!]);
}

/** A host tensor [1, 1, R, D] without its last n rows. */
function dropLastRows(t: ort.Tensor, n: number): ort.Tensor {
  const [b, h, R, d] = t.dims as number[];
  const keep = Math.max(0, R! - n);
  return new ort.Tensor('float32', (t.data as Float32Array).subarray(0, keep * d!), [b!, h!, keep, d!]);
}

/**
 * A prompt's snapshot this many positions before its end (compressed caches), so a keystroke there
 * replays at most this many: SWITCHYARD_V4_PROMPT_TAIL, default 16 (0: only the regular snapshots).
 */
function promptTail(): number {
  const v = Number(process.env.SWITCHYARD_V4_PROMPT_TAIL ?? 16);
  return Number.isInteger(v) && v >= 0 ? v : 16;
}

/** Positions between snapshots of a compressed (DeepSeek-V4) cache: SWITCHYARD_V4_SNAPSHOT_EVERY, default 256. */
export function snapshotEvery(): number {
  const v = Number(process.env.SWITCHYARD_V4_SNAPSHOT_EVERY ?? 256);
  return Number.isInteger(v) && v > 0 ? v : 256;
}

/** The decoder's outputs: logits, present caches, routing indices. */
function outputNamesOf(model: BuiltModel): string[] {
  return ['logits', ...model.io.caches.map((c) => c.present), ...model.io.routingOutputs.map((r) => r.name)];
}
