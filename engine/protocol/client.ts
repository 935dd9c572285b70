/**
 * Client for the engine child process: spawns it, speaks protocol.ts over its stdio, routes
 * streamed notifications (chat deltas, load progress) to the request that asked for them, and turns
 * an AbortSignal into JSON-RPC `$/cancelRequest`. Never imports vscode: the extension wraps it with
 * its lifecycle (restart, output channel) and tests use it as is.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  CancellationTokenSource,
  createMessageConnection,
  StreamMessageReader,
  StreamMessageWriter,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import {
  Chat,
  ChatDelta,
  Complete,
  CountTokens,
  Initialize,
  InspectModel,
  LoadModel,
  Log,
  Progress,
  Shutdown,
  Status,
  type ChatDeltaParams,
  type ChatParams,
  type ChatResult,
  type CompleteParams,
  type CompleteResult,
  type InitializeResult,
  type InspectModelParams,
  type InspectModelResult,
  type LoadModelParams,
  type LoadModelResult,
  type ProgressParams,
  type StatusResult,
} from './protocol.ts';

export interface SpawnOptions {
  /** The program (default: this Node.js). */
  command?: string;
  /** Its arguments: e.g. ['dist/engine.js'] or ['--import', 'tsx', 'engine/service/main.ts']. */
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  onLog?: (level: string, message: string) => void;
  /** The engine's own stderr (native library warnings and crashes land here). */
  onStderr?: (text: string) => void;
  onExit?: (code: number | null, signal: NodeJS.Signals | null) => void;
}

export class EngineClient {
  #streams = new Map<string, (d: ChatDeltaParams) => void>();
  #progress = new Map<string, (p: ProgressParams) => void>();
  #exited = false;

  private constructor(
    readonly conn: MessageConnection,
    readonly child: ChildProcess | null,
  ) {
    conn.onNotification(ChatDelta, (d) => this.#streams.get(d.streamId)?.(d));
    conn.onNotification(Progress, (p) => this.#progress.get(p.progressId)?.(p));
  }

  static spawn(opts: SpawnOptions): EngineClient {
    const child = spawn(opts.command ?? process.execPath, opts.args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const conn = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
    const client = new EngineClient(conn, child);
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (t: string) => opts.onStderr?.(t));
    child.on('exit', (code, signal) => {
      client.#exited = true;
      // vscode-jsonrpc leaves requests pending when the peer vanishes; disposing rejects them
      // ("connection got disposed"), so no caller waits forever on a dead engine.
      conn.dispose();
      opts.onExit?.(code, signal);
    });
    // Writing to a dead engine must not crash the host: the pending request fails instead.
    child.stdin!.on('error', () => {});
    conn.onNotification(Log, (l) => opts.onLog?.(l.level, l.message));
    conn.listen();
    return client;
  }

  get exited(): boolean {
    return this.#exited;
  }

  initialize(clientName = 'switchyard'): Promise<InitializeResult> {
    return this.conn.sendRequest(Initialize, { clientName });
  }

  async loadModel(p: LoadModelParams, onProgress?: (p: ProgressParams) => void): Promise<LoadModelResult> {
    const progressId = p.progressId ?? randomUUID();
    if (onProgress) this.#progress.set(progressId, onProgress);
    try {
      return await this.conn.sendRequest(LoadModel, { ...p, progressId });
    } finally {
      this.#progress.delete(progressId);
    }
  }

  /** What loading `p.model` would need and whether it fits; reads no weights. */
  inspectModel(p: InspectModelParams): Promise<InspectModelResult> {
    return this.conn.sendRequest(InspectModel, p);
  }

  complete(p: CompleteParams, signal?: AbortSignal): Promise<CompleteResult> {
    return this.#withCancel(signal, (token) => this.conn.sendRequest(Complete, p, token));
  }

  async chat(p: ChatParams, onDelta?: (d: ChatDeltaParams) => void, signal?: AbortSignal): Promise<ChatResult> {
    const streamId = p.streamId ?? randomUUID();
    if (onDelta) this.#streams.set(streamId, onDelta);
    try {
      return await this.#withCancel(signal, (token) => this.conn.sendRequest(Chat, { ...p, streamId }, token));
    } finally {
      this.#streams.delete(streamId);
    }
  }

  countTokens(text: string): Promise<number> {
    return this.conn.sendRequest(CountTokens, { text }).then((r) => r.count);
  }

  status(): Promise<StatusResult> {
    return this.conn.sendRequest(Status);
  }

  /** Ask the engine to release the model and exit; kill it if it has not exited after `graceMs`. */
  async shutdown(graceMs = 5000): Promise<void> {
    if (this.#exited) return;
    const exited = this.child ? new Promise<void>((r) => this.child!.once('exit', () => r())) : Promise.resolve();
    try {
      await Promise.race([this.conn.sendRequest(Shutdown), new Promise((r) => setTimeout(r, graceMs))]);
    } catch {
      // the engine may already be gone
    }
    const timer = setTimeout(() => this.kill(), graceMs);
    await exited;
    clearTimeout(timer);
    this.conn.dispose();
  }

  kill(): void {
    this.child?.kill('SIGKILL');
  }

  async #withCancel<T>(signal: AbortSignal | undefined, run: (token: CancellationTokenSource['token']) => Promise<T>): Promise<T> {
    const source = new CancellationTokenSource();
    const onAbort = () => source.cancel();
    if (signal?.aborted) source.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await run(source.token);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      source.dispose();
    }
  }
}
