/**
 * Which backend serves a request: the OpenAI-compatible endpoint when `switchyard.remote.endpoint`
 * is set (it replaces the local engine for chat, refactors and completions), else the local engine,
 * started on first use. The remote client is rebuilt only when its settings or API key change.
 */
import type { Settings } from '../config.ts';
import type { EngineClientLike, EngineState } from '../engine/engine-host.ts';
import type { ModelBackend } from './backend.ts';
import { localBackend } from './local.ts';
import { RemoteBackend } from './remote.ts';
import type { RemoteFim } from './remote-fim.ts';

export interface BackendsDeps {
  settings: () => Settings;
  /** The engine host's ensureReady and state (extension/engine/engine-host.ts). */
  engine: { ensureReady(signal?: AbortSignal): Promise<EngineClientLike | undefined>; readonly state: EngineState };
  /** The remote endpoint's API key from SecretStorage (undefined: none). */
  apiKey: () => Promise<string | undefined>;
  /** Wraps the remote backend (remote-health.ts watches every request's outcome). */
  watchRemote?: (b: ModelBackend) => ModelBackend;
  /**
   * How the remote endpoint takes completions, once known (remote-fim.ts); undefined when a new
   * remote client replaces the old one and it is not known yet.
   */
  onRemoteFim?: (fim: RemoteFim | undefined) => void;
}

export class Backends {
  #remote: { key: string; backend: RemoteBackend; watched: ModelBackend } | undefined;
  #local: { client: EngineClientLike; backend: ModelBackend } | undefined;

  constructor(private readonly deps: BackendsDeps) {}

  /** Whether requests go to the remote endpoint (the local engine is then never started). */
  get remote(): boolean {
    return !!this.deps.settings().remoteEndpoint;
  }

  /** The backend that serves now, or undefined (no model, engine failed, aborted while starting). */
  async get(signal?: AbortSignal): Promise<ModelBackend | undefined> {
    const s = this.deps.settings();
    if (s.remoteEndpoint) return (await this.#remoteBackend()).watched;
    const client = await this.deps.engine.ensureReady(signal);
    const state = this.deps.engine.state;
    if (!client || state.kind !== 'ready') return undefined;
    if (this.#local?.client !== client) this.#local = { client, backend: localBackend(client, state) };
    return this.#local.backend;
  }

  /** Asks the remote endpoint whether it answers (RemoteBackend.probe); rejects when none is set. */
  async probeRemote(signal?: AbortSignal): Promise<void> {
    await (await this.#remoteBackend()).backend.probe(signal);
  }

  async #remoteBackend(): Promise<{ backend: RemoteBackend; watched: ModelBackend }> {
    const s = this.deps.settings();
    const apiKey = await this.deps.apiKey();
    const key = JSON.stringify([s.remoteEndpoint, s.remoteModel, s.remoteTimeoutSeconds, s.remoteContextLength, s.remoteFimFormat, apiKey ?? '']);
    if (this.#remote?.key !== key) {
      const onFim = this.deps.onRemoteFim;
      const backend = new RemoteBackend({
        endpoint: s.remoteEndpoint,
        apiKey,
        model: s.remoteModel,
        timeoutMs: s.remoteTimeoutSeconds * 1000,
        contextLength: s.remoteContextLength,
        fimFormat: s.remoteFimFormat,
        onFim,
      });
      this.#remote = { key, backend, watched: this.deps.watchRemote ? this.deps.watchRemote(backend) : backend };
      onFim?.(undefined);
    }
    return this.#remote;
  }
}
