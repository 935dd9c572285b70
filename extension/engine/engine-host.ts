/**
 * The engine child process's lifecycle on the extension side: lazy start, initialize + loadModel
 * with progress, state for the status bar, restart with back-off after a crash, and problems the
 * user must act on (reported through `onProblem`; extension/engine/notify.ts shows them).
 *
 * Lazy: nothing is spawned at activation. The first completion request or command calls
 * `ensureReady()`, so opening VS Code costs nothing until Switchyard is actually used.
 *
 * One engine per window. Each VS Code window has its own extension host and so its own engine:
 * windows are isolated (a crash, a hung request or a model switch in one never stalls another, and
 * no cross-window locking or discovery is needed), and the cost is small because the weights are
 * memory-mapped from the build cache: the OS page cache holds one copy of the file-backed pages for
 * every process that maps them. What is per process is the KV cache, the prefix cache and
 * activations, which scale with that window's own use.
 *
 * No 'vscode' import: the spawner, clock and timers are injected, so tests drive it with a real
 * engine or a fake one.
 */
import type { ChildProcess } from 'node:child_process';
import type { InspectModelParams, InspectModelResult, LoadModelResult, ProgressParams, StatusResult } from '../../engine/protocol/protocol.ts';
import { PROTOCOL_VERSION } from '../../engine/protocol/protocol.ts';
import { engineContextLength, type Settings } from '../config.ts';
import type { TraceEvent } from '../trace.ts';
import { CrashPolicy, type CrashPolicyOptions } from './crash-policy.ts';
import { classifyLoadError, type Problem } from './errors.ts';
import { monotonic, progressPercent } from './progress.ts';

export type EngineState =
  | { kind: 'idle' }
  | { kind: 'no-model' }
  | { kind: 'starting' }
  | { kind: 'loading'; percent: number; message: string }
  | { kind: 'ready'; info: LoadModelResult; pid: number }
  | { kind: 'restarting'; crashes: number; delayMs: number }
  | { kind: 'error'; problem: Problem };

/** What the host needs from a client (engine/protocol/client.ts's EngineClient fits). */
export interface EngineClientLike {
  readonly child: ChildProcess | null;
  readonly exited: boolean;
  initialize(clientName?: string): Promise<{ protocolVersion: number; pid: number }>;
  loadModel(p: import('../../engine/protocol/protocol.ts').LoadModelParams, onProgress?: (p: ProgressParams) => void): Promise<LoadModelResult>;
  complete: import('../../engine/protocol/client.ts').EngineClient['complete'];
  chat: import('../../engine/protocol/client.ts').EngineClient['chat'];
  inspectModel: import('../../engine/protocol/client.ts').EngineClient['inspectModel'];
  countTokens(text: string): Promise<number>;
  status(): Promise<StatusResult>;
  shutdown(graceMs?: number): Promise<void>;
  kill(): void;
  readonly conn: { dispose(): void };
}

export interface SpawnRequest {
  command: string;
  args: string[];
  cwd?: string;
  env: NodeJS.ProcessEnv;
  onLog: (level: string, message: string) => void;
  onStderr: (text: string) => void;
  onExit: (code: number | null, signal: NodeJS.Signals | null) => void;
}

export interface EngineHostDeps {
  settings: () => Settings;
  /** Absolute path of dist/engine.cjs (context.asAbsolutePath). */
  engineScript: string;
  /** Extra arguments before the script (tests: ['--import', 'tsx']). */
  nodeArgs?: string[];
  cwd?: string;
  spawn: (req: SpawnRequest) => EngineClientLike;
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
  trace: (e: TraceEvent) => void;
  onState?: (s: EngineState) => void;
  onProblem?: (p: Problem) => void;
  crashPolicy?: CrashPolicyOptions;
  now?: () => number;
  /** The editor's own binary (process.execPath) and environment. */
  execPath?: string;
  env?: NodeJS.ProcessEnv;
}

type Waiter = (c: EngineClientLike | undefined) => void;

export class EngineHost {
  #state: EngineState = { kind: 'idle' };
  #client: EngineClientLike | undefined;
  #generation = 0;
  #expectedExit = new WeakSet<EngineClientLike>();
  #restartTimer: NodeJS.Timeout | undefined;
  #waiters: Waiter[] = [];
  #stderrTail: string[] = [];
  readonly #policy: CrashPolicy;
  readonly #now: () => number;
  #disposed = false;

  constructor(private readonly deps: EngineHostDeps) {
    this.#policy = new CrashPolicy(deps.crashPolicy);
    this.#now = deps.now ?? Date.now;
  }

  get state(): EngineState {
    return this.#state;
  }

  /** The client while the model is loaded, else undefined. */
  get client(): EngineClientLike | undefined {
    return this.#state.kind === 'ready' ? this.#client : undefined;
  }

  /**
   * The ready client: starts the engine if it has not been started, waits while it starts, loads
   * or restarts. Resolves undefined (never rejects) when there is no model, loading failed, the
   * engine gave up after crashes, or `signal` aborted first.
   */
  ensureReady(signal?: AbortSignal): Promise<EngineClientLike | undefined> {
    if (this.#disposed || signal?.aborted) return Promise.resolve(undefined);
    const s = this.#state;
    if (s.kind === 'ready') return Promise.resolve(this.#client);
    if (s.kind === 'error' || s.kind === 'no-model') return Promise.resolve(undefined);
    const waiting = new Promise<EngineClientLike | undefined>((resolve) => {
      const waiter: Waiter = (c) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(c);
      };
      const onAbort = () => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve(undefined);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
    // After the waiter is registered: #start may settle synchronously (no model configured).
    if (s.kind === 'idle') void this.#start();
    return waiting;
  }

  /** Start now if not started (commands); a no-op in any other state. */
  startIfIdle(): void {
    if (this.#state.kind === 'idle' && !this.#disposed) void this.#start();
  }

  /**
   * Stop the current engine (if any) and start a fresh one: the Restart command, a changed model
   * or provider setting. Forgets the crash history, since the user has acted.
   */
  async restart(): Promise<void> {
    this.#policy.reset();
    await this.#stopCurrent();
    if (!this.#disposed) await this.#start();
  }

  /**
   * Stop a start or load in progress (the user cancelled the loading notification). The engine
   * stays stopped, as state 'error' with kind 'cancelled', until a restart: starting again on the
   * next keystroke would undo what the user just asked for.
   */
  async cancelLoad(): Promise<void> {
    const k = this.#state.kind;
    if (k !== 'starting' && k !== 'loading' && k !== 'restarting') return;
    await this.#stopCurrent();
    if (!this.#disposed) this.#problem({ kind: 'cancelled', message: 'loading the model was cancelled' });
  }

  /** Setting changes that need a new engine take effect now if the engine was in use, else on first use. */
  async settingsChanged(): Promise<void> {
    if (this.#state.kind === 'idle') return;
    await this.restart();
  }

  /**
   * The engine's fit check for a checkpoint (memory estimate, the provider it would use) without
   * loading it: asked of the running engine, or of a short-lived one when none runs (choosing a
   * model must not wait for, or disturb, the current model's load).
   */
  async inspectModel(p: InspectModelParams): Promise<InspectModelResult | undefined> {
    const running = this.client;
    if (running) return running.inspectModel(p);
    let tmp: EngineClientLike | undefined;
    try {
      tmp = this.deps.spawn({
        ...this.#command(this.deps.settings()),
        onLog: () => {},
        onStderr: (t) => this.deps.log('warn', `engine (fit check) stderr: ${t.trim()}`),
        onExit: () => {},
      });
      tmp.child?.on('error', () => tmp?.conn.dispose());
      await tmp.initialize();
      return await tmp.inspectModel(p);
    } catch (e) {
      this.deps.log('warn', `fit check of ${p.model} failed: ${(e as Error).message}`);
      throw e;
    } finally {
      if (tmp && !tmp.exited) await tmp.shutdown(2000).catch(() => tmp?.kill());
    }
  }

  async status(): Promise<StatusResult | undefined> {
    try {
      return await this.client?.status();
    } catch {
      return undefined;
    }
  }

  async dispose(): Promise<void> {
    this.#disposed = true;
    await this.#stopCurrent();
    this.#resolveWaiters(undefined);
  }

  // ---- internals ----------------------------------------------------------------------------

  #setState(s: EngineState): void {
    this.#state = s;
    this.deps.onState?.(s);
    if (s.kind === 'ready') this.#resolveWaiters(this.#client);
    else if (s.kind === 'error' || s.kind === 'no-model' || s.kind === 'idle') this.#resolveWaiters(undefined);
  }

  #resolveWaiters(c: EngineClientLike | undefined): void {
    const ws = this.#waiters;
    this.#waiters = [];
    for (const w of ws) w(c);
  }

  #problem(p: Problem): void {
    this.deps.log(p.kind === 'no-model' ? 'warn' : 'error', `${p.kind}: ${p.message}`);
    this.#setState({ kind: 'error', problem: p });
    this.deps.onProblem?.(p);
  }

  async #stopCurrent(): Promise<void> {
    this.#generation++;
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    const old = this.#client;
    this.#client = undefined;
    if (old && !old.exited) {
      this.#expectedExit.add(old);
      await old.shutdown(2000).catch(() => old.kill());
    }
  }

  /** How to start an engine. VS Code's own binary runs as plain Node with ELECTRON_RUN_AS_NODE=1: no separate Node install needed. */
  #command(s: Settings): Pick<SpawnRequest, 'command' | 'args' | 'cwd' | 'env'> {
    const useOwn = !s.nodePath;
    return {
      command: useOwn ? (this.deps.execPath ?? process.execPath) : s.nodePath,
      args: [...(this.deps.nodeArgs ?? []), this.deps.engineScript],
      cwd: this.deps.cwd,
      env: { ...(this.deps.env ?? process.env), ...(useOwn ? { ELECTRON_RUN_AS_NODE: '1' } : {}) },
    };
  }

  async #start(): Promise<EngineClientLike | undefined> {
    const gen = ++this.#generation;
    const s = this.deps.settings();
    if (!s.modelPath) {
      this.#setState({ kind: 'no-model' });
      this.deps.onProblem?.({ kind: 'no-model', message: 'no model folder is configured (switchyard.model.path)' });
      return undefined;
    }
    this.#setState({ kind: 'starting' });
    const spawnArgs = this.#command(s);
    const { command } = spawnArgs;
    let client: EngineClientLike;
    let spawnError: Error | undefined;
    this.#stderrTail = [];
    try {
      client = this.deps.spawn({
        ...spawnArgs,
        onLog: (level, message) => this.deps.log(level === 'error' ? 'error' : level === 'warn' ? 'warn' : 'info', `engine: ${message}`),
        onStderr: (text) => this.#onStderr(text),
        onExit: (code, signal) => this.#onExit(gen, client, code, signal),
      });
    } catch (e) {
      this.#problem({ kind: 'spawn-failed', message: `cannot start the engine with ${command}: ${(e as Error).message}` });
      return undefined;
    }
    this.#client = client;
    // A missing binary shows up as 'error' (no 'exit'); without a listener it would crash the host,
    // and the pending initialize would wait forever.
    client.child?.on('error', (e) => {
      spawnError = e;
      client.conn.dispose();
    });
    const pid = client.child?.pid ?? -1;
    if (pid > 0) this.deps.trace({ event: 'engine-start', pid });
    this.deps.log('info', `engine starting: ${command} ${this.deps.engineScript} (pid ${pid})`);
    try {
      const init = await client.initialize();
      if (init.protocolVersion !== PROTOCOL_VERSION) {
        throw Object.assign(new Error(`engine speaks protocol ${init.protocolVersion}, the extension ${PROTOCOL_VERSION}: rebuild (npm run build)`), { incompatible: true });
      }
      if (gen !== this.#generation) return undefined;
      let percent = 0;
      this.#setState({ kind: 'loading', percent, message: 'loading the model' });
      const contextLength = engineContextLength(s);
      const gpuMemoryBudgetBytes = s.gpuMemoryBudgetGiB > 0 ? Math.round(s.gpuMemoryBudgetGiB * 1024 ** 3) : undefined;
      const info = await client.loadModel({ model: s.modelPath, quant: s.quantization, providers: s.executionProviders, contextLength, gpuMemoryBudgetBytes }, (p) => {
        if (gen !== this.#generation) return;
        percent = monotonic(percent, progressPercent(p));
        this.#setState({ kind: 'loading', percent, message: p.message });
      });
      if (gen !== this.#generation) return undefined;
      this.deps.log('info', `model ready: ${info.architecture} (${info.modelType}) on ${info.provider}${info.kvCache === 'gpu-buffer' ? ' (KV cache on the GPU)' : ''}${info.experts ? `, ${info.experts.summary}` : ''}, ${info.quant}, context ${info.contextLength}, FIM ${info.fimFormat ?? 'none'}${info.fromCache ? ', from the build cache' : ''}`);
      for (const a of info.providerAttempts) if (!a.ok) this.deps.log('info', `execution provider ${a.provider} skipped: ${a.reason}`);
      this.#setState({ kind: 'ready', info, pid });
      this.deps.trace({ event: 'engine-ready', pid, provider: info.provider, model: info.model });
      return client;
    } catch (e) {
      if (gen !== this.#generation) return undefined;
      if (spawnError) {
        this.#client = undefined;
        this.#problem({ kind: 'spawn-failed', message: `cannot start the engine with ${command}: ${spawnError.message}` });
        return undefined;
      }
      // An exit during start-up is handled (as a crash) by #onExit.
      if (client.exited) return undefined;
      const p = (e as { incompatible?: boolean }).incompatible ? { kind: 'incompatible' as const, message: (e as Error).message } : classifyLoadError(e);
      // The engine is healthy but has no model: stop it rather than keep an idle process around.
      this.#expectedExit.add(client);
      this.#client = undefined;
      void client.shutdown(2000).catch(() => client.kill());
      this.#problem(p);
      return undefined;
    }
  }

  #onStderr(text: string): void {
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      this.deps.log('warn', `engine stderr: ${line}`);
      this.#stderrTail.push(line);
      if (this.#stderrTail.length > 20) this.#stderrTail.shift();
    }
  }

  #onExit(gen: number, client: EngineClientLike, code: number | null, signal: NodeJS.Signals | null): void {
    const pid = client.child?.pid ?? -1;
    this.deps.trace({ event: 'engine-exit', pid, code, signal });
    if (this.#expectedExit.has(client) || gen !== this.#generation || this.#disposed) {
      this.deps.log('info', `engine exited (pid ${pid}, code ${code}${signal ? `, signal ${signal}` : ''})`);
      return;
    }
    this.#client = undefined;
    const how = signal ? `signal ${signal}` : `exit code ${code}`;
    const last = this.#stderrTail[this.#stderrTail.length - 1];
    this.deps.log('error', `engine crashed (pid ${pid}, ${how})${last ? `; last stderr line: ${last}` : ''}`);
    const d = this.#policy.onCrash(this.#now());
    if (d.giveUp) {
      this.#problem({
        kind: 'crashed',
        message: `the engine crashed ${d.recent} times in ${Math.round(this.#policy.windowMs / 60_000)} minutes (last: ${how}${last ? `: ${last}` : ''})`,
      });
      return;
    }
    this.deps.log('info', `restarting the engine in ${d.delayMs} ms (crash ${d.recent})`);
    this.#setState({ kind: 'restarting', crashes: d.recent, delayMs: d.delayMs });
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (gen === this.#generation && !this.#disposed) void this.#start();
    }, d.delayMs);
  }
}
