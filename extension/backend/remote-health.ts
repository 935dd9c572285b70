/**
 * Whether the remote endpoint works, for the status bar and the chat view's engine line: a probe
 * (GET /models) when the endpoint is set or changed, and the outcome of every real request
 * (completions, chat, refactors). Completions fail quietly by design (a failed suggestion is just
 * no ghost text), so without this a down endpoint showed "✓ remote" while nothing worked.
 *
 * While failing, the probe is repeated every `retryMs`, so a server that comes back clears the state
 * without the user doing anything; any request that succeeds clears it at once. No 'vscode' import.
 */
import { BackendError, type ModelBackend } from './backend.ts';

/** What fixes a failing endpoint: its settings, or the API key (401/403). */
export type RemoteFix = 'settings' | 'apiKey';

export type RemoteHealthState = { kind: 'unchecked' } | { kind: 'ok' } | { kind: 'failing'; message: string; fix: RemoteFix };

export interface RemoteHealthDeps {
  /** Rejects with a BackendError when the endpoint does not answer properly. */
  probe: (signal: AbortSignal) => Promise<void>;
  onChange: (s: RemoteHealthState) => void;
  /** How often a failing endpoint is probed again (default 15 s). */
  retryMs?: number;
  /** The probe's own limit (default 10 s). */
  probeTimeoutMs?: number;
}

/**
 * Whether an error says the endpoint is broken (unreachable, timing out, refusing the key, 5xx,
 * not an OpenAI server), rather than this one request being refused (a 400 for a prompt too long).
 */
export function endpointFailure(e: unknown): { message: string; fix: RemoteFix } | undefined {
  if (!(e instanceof BackendError)) return undefined;
  if (e.code === 'cancelled') return undefined;
  if (e.code === 'http' && e.status !== undefined && e.status >= 400 && e.status < 500 && ![401, 403, 404].includes(e.status)) return undefined;
  return { message: e.message, fix: e.status === 401 || e.status === 403 ? 'apiKey' : 'settings' };
}

export class RemoteHealth {
  #state: RemoteHealthState = { kind: 'unchecked' };
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Bumped by reset: an answer about an older endpoint is ignored. */
  #generation = 0;

  constructor(private readonly deps: RemoteHealthDeps) {}

  get state(): RemoteHealthState {
    return this.#state;
  }

  /** The endpoint, model or key changed: forget what was known and, if `active`, probe now. */
  reset(active: boolean): void {
    this.#generation++;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#set({ kind: 'unchecked' });
    if (active) void this.check();
  }

  /** Probes the endpoint now (the chat view's Retry). */
  async check(): Promise<void> {
    const g = this.#generation;
    try {
      await this.deps.probe(AbortSignal.timeout(this.deps.probeTimeoutMs ?? 10_000));
      if (g === this.#generation) this.succeeded();
    } catch (e) {
      if (g !== this.#generation) return;
      // A probe that fails for a reason other than a BackendError (a bug) still says the endpoint is not usable.
      this.failed(e instanceof BackendError ? e : new BackendError(`Cannot check the remote endpoint: ${(e as Error)?.message ?? e}`, 'unreachable'));
    }
  }

  succeeded(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#state.kind !== 'ok') this.#set({ kind: 'ok' });
  }

  failed(e: unknown): void {
    const f = endpointFailure(e);
    if (!f) return;
    const s = this.#state;
    if (s.kind !== 'failing' || s.message !== f.message || s.fix !== f.fix) this.#set({ kind: 'failing', ...f });
    clearTimeout(this.#timer);
    const g = this.#generation;
    this.#timer = setTimeout(() => g === this.#generation && void this.check(), this.deps.retryMs ?? 15_000);
    this.#timer.unref?.();
  }

  /** `b` with every request's outcome reported here. */
  watch(b: ModelBackend): ModelBackend {
    const report = async <T>(p: Promise<T>): Promise<T> => {
      try {
        const r = await p;
        // A request cancelled before the server answered says nothing about the server.
        if ((r as { finishReason?: string }).finishReason !== 'cancelled') this.succeeded();
        return r;
      } catch (e) {
        this.failed(e);
        throw e;
      }
    };
    return {
      kind: b.kind,
      get label() {
        return b.label; // names the model once GET /models has told it
      },
      contextLength: b.contextLength,
      complete: (p, signal) => report(b.complete(p, signal)),
      chat: (p, onDelta, signal) => report(b.chat(p, onDelta, signal)),
      countTokens: (t, signal) => b.countTokens(t, signal),
    };
  }

  dispose(): void {
    this.#generation++;
    clearTimeout(this.#timer);
  }

  #set(s: RemoteHealthState): void {
    this.#state = s;
    this.deps.onChange(s);
  }
}
