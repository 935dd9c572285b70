/**
 * ModelBackend over an OpenAI-compatible HTTP endpoint (vLLM, SGLang, llama.cpp's server, our own
 * `engine serve`): chat through streamed /chat/completions, fill-in-the-middle through
 * /completions the way the server takes it (remote-fim.ts finds which: `suffix`, the model's FIM
 * layout sent as the prompt, or llama.cpp's /infill). No 'vscode' import, so it runs (and is
 * tested) in plain Node.
 *
 * Timeouts bound silence, not length: `timeoutMs` limits the wait for the response headers and
 * every gap between body chunks, so a long answer that keeps streaming never times out while a
 * stalled server is noticed within timeoutMs. Every failure is a BackendError whose message names
 * the endpoint and, where there is one, the setting or command that fixes it. The API key goes
 * only into the Authorization header: it is never logged or put in a message.
 *
 * Defaults follow the local engine's, not the HTTP servers' (which differ between servers):
 * temperature 0 (greedy) and max tokens 128 for completions / 1024 for chat when not given, so the
 * same params behave alike on both backends. Options with no OpenAI equivalent (promptBudgetMs,
 * predictBudgetMs, indentStop, promptLookup) are not sent; relatedFiles, repoName and filePath go
 * into a client-side FIM layout or /infill's input_extra.
 */
import type { ChatDeltaParams, ChatParams, ChatResult, CompleteParams, CompleteResult, FinishReason, SamplingParams, Usage } from '../../engine/protocol/protocol.ts';
import { buildFimText } from '../../engine/prompt/fim-text.ts';
import { ReasoningSplitter, type ReasoningDelta } from '../../engine/prompt/reasoning.ts';
import { BackendError, type ModelBackend } from './backend.ts';
import { detectRemoteFim, type FimProbe, type RemoteFim, type RemoteFimSetting } from './remote-fim.ts';
import { SseParser } from './sse.ts';

export interface RemoteBackendOptions {
  /** Base URL ending in /v1, e.g. http://10.0.0.5:8000/v1. */
  endpoint: string;
  /** Sent as `Authorization: Bearer <apiKey>` when set. */
  apiKey?: string;
  /** Model name for requests; '' or absent: the first id GET /models lists. */
  model?: string;
  /** Longest wait for response headers and between streamed chunks. */
  timeoutMs: number;
  contextLength: number;
  /** switchyard.remote.fimFormat (default auto: detected, see remote-fim.ts). */
  fimFormat?: RemoteFimSetting;
  /** Told how completions reach the server, once that is known (once per backend). */
  onFim?: (fim: RemoteFim) => void;
  /** For tests; default the global fetch. */
  fetch?: typeof fetch;
}

/**
 * A chat that failed after the answer had started: what had arrived (also already delivered
 * through onDelta) stays reachable here.
 */
export class PartialAnswerError extends BackendError {
  constructor(
    cause: BackendError,
    readonly partial: string,
    readonly partialReasoning: string,
  ) {
    super(cause.message, cause.code, cause.status);
    this.name = 'PartialAnswerError';
  }
}

const COMPLETE_MAX_TOKENS = 128;
const CHAT_MAX_TOKENS = 1024;
const MAX_JSON_BYTES = 32 * 1024 * 1024;
const MAX_ERROR_BYTES = 64 * 1024;

type Json = Record<string, unknown>;

/**
 * One HTTP exchange: an AbortController that the caller's signal and the idle timer both trip.
 * fetch and body reads are raced against it as well, so even a fetch implementation that ignores
 * its signal cannot make us hang.
 */
class Exchange {
  readonly ac = new AbortController();
  timedOut = false;
  /** 'headers' until the response arrived, then 'body'. */
  stage: 'headers' | 'body' = 'headers';
  readonly aborted: Promise<never>;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #onUser = () => this.ac.abort();

  constructor(
    readonly user: AbortSignal | undefined,
    readonly timeoutMs: number,
  ) {
    this.aborted = new Promise<never>((_, reject) => {
      this.ac.signal.addEventListener('abort', () => reject(this.ac.signal.reason), { once: true });
    });
    this.aborted.catch(() => {});
    if (user?.aborted) this.ac.abort();
    else user?.addEventListener('abort', this.#onUser, { once: true });
  }

  get cancelled(): boolean {
    return this.user?.aborted === true;
  }

  /** (Re)starts the idle timer: called before the request and before every read. */
  arm(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.timedOut = true;
      this.ac.abort();
    }, this.timeoutMs);
  }

  race<T>(p: Promise<T>): Promise<T> {
    p.catch(() => {}); // the loser of the race must not become an unhandled rejection
    return Promise.race([p, this.aborted]);
  }

  /** Done with it: stops the timer and releases the connection if its body was not read to the end. */
  close(): void {
    clearTimeout(this.#timer);
    this.user?.removeEventListener('abort', this.#onUser);
    this.ac.abort();
  }
}

const zeroUsage = (): Usage => ({ promptTokens: 0, cachedTokens: 0, completionTokens: 0, prefillMs: 0, decodeMs: 0 });

function mapFinish(f: unknown): FinishReason {
  return f === 'length' ? 'length' : 'stop';
}

function usageOf(u: unknown): Pick<Usage, 'promptTokens' | 'completionTokens' | 'cachedTokens'> {
  const o = (u ?? {}) as Json;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  return {
    promptTokens: num(o.prompt_tokens),
    completionTokens: num(o.completion_tokens),
    // vLLM (with prefix caching), SGLang and `engine serve` report this; others leave it out.
    cachedTokens: num((o.prompt_tokens_details as Json | undefined)?.cached_tokens),
  };
}

/** OpenAI names for the sampling params; top_k / min_p / repetition_penalty are vLLM / SGLang / llama.cpp extras. */
function samplingBody(p: SamplingParams & { stop?: string[] }): Json {
  const b: Json = { temperature: p.temperature ?? 0 };
  const put = (k: string, v: unknown) => {
    if (v !== undefined) b[k] = v;
  };
  put('top_p', p.topP);
  put('top_k', p.topK);
  put('min_p', p.minP);
  put('repetition_penalty', p.repetitionPenalty);
  put('presence_penalty', p.presencePenalty);
  put('frequency_penalty', p.frequencyPenalty);
  put('seed', p.seed);
  if (p.stop !== undefined && p.stop.length > 0) b.stop = p.stop;
  return b;
}

const snippet = (s: string, n = 120) => {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > n ? `${t.slice(0, n)}...` : t;
};

/** The human part of an error body: OpenAI's {error: {message}}, vLLM's older {message}, FastAPI's {detail}, or short plain text. */
function errorDetail(body: string): string {
  try {
    const o = JSON.parse(body) as Json;
    const e = o.error;
    if (e && typeof e === 'object' && typeof (e as Json).message === 'string') return (e as Json).message as string;
    if (typeof e === 'string') return e;
    if (typeof o.message === 'string') return o.message;
    if (typeof o.detail === 'string') return o.detail;
    if (Array.isArray(o.detail)) return o.detail.map((d) => (d as Json)?.msg ?? JSON.stringify(d)).join('; ');
  } catch {
    // not JSON: fall through to the text itself
  }
  if (/^\s*</.test(body)) return ''; // an HTML error page says nothing the status does not
  return snippet(body, 300);
}

/** The errno-style code of a network error, looking through fetch's wrapping (`cause`, AggregateError). */
function netCode(e: unknown): string | undefined {
  for (let x: unknown = e, depth = 0; x && typeof x === 'object' && depth < 5; depth++) {
    const o = x as { code?: unknown; cause?: unknown; errors?: unknown[] };
    if (typeof o.code === 'string') return o.code;
    x = o.cause ?? (Array.isArray(o.errors) ? o.errors[0] : undefined);
  }
  return undefined;
}

function netText(e: unknown): { unreachable: boolean; text: string } {
  const code = netCode(e);
  switch (code) {
    case 'ECONNREFUSED':
      return { unreachable: true, text: 'connection refused' };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return { unreachable: true, text: 'host name not found (DNS)' };
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
    case 'ENETDOWN':
      return { unreachable: true, text: 'no route to the host' };
    case 'ETIMEDOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return { unreachable: true, text: 'the connection timed out' };
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
      return { unreachable: false, text: 'the server closed the connection' };
  }
  const msg = (e as Error)?.message ?? String(e);
  const inner = ((e as { cause?: Error })?.cause?.message ?? '').trim();
  const text = inner && inner !== msg ? `${msg}: ${inner}` : msg;
  // TLS and other pre-response failures: the request never got an answer.
  return { unreachable: true, text: code ? `${text} (${code})` : text };
}

const seconds = (ms: number) => `${Number((ms / 1000).toFixed(2))} s`;

/** `p`, or `cancelled()` as soon as `signal` aborts (what `p` does goes on, for the next request). */
function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined, cancelled: () => Error): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(cancelled());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancelled());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export class RemoteBackend implements ModelBackend {
  readonly kind = 'remote' as const;
  readonly contextLength: number;
  readonly #endpoint: string;
  /** The endpoint as shown to the user (any user:password@ removed). */
  readonly #shown: string;
  readonly #apiKey: string | undefined;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;
  #model: string;
  /** The server's root (the endpoint without its /v1): /tokenize, /props and /infill live there. */
  readonly #root: string;
  readonly #fimSetting: RemoteFimSetting;
  readonly #onFim: ((fim: RemoteFim) => void) | undefined;
  /** How completions reach the server, found once (forgotten if finding it failed, e.g. unreachable). */
  #fim: Promise<RemoteFim> | undefined;
  /** Where /tokenize answered: the root (vLLM, llama.cpp) or under /v1; null: neither. */
  #tokenizeBase: string | null | undefined;

  constructor(opts: RemoteBackendOptions) {
    this.#endpoint = opts.endpoint.trim().replace(/\/+$/, '');
    this.#shown = this.#endpoint;
    try {
      const u = new URL(this.#endpoint);
      if (u.username || u.password) {
        u.username = '';
        u.password = '';
        this.#shown = u.toString().replace(/\/+$/, '');
      }
    } catch {
      // reported when a request is made
    }
    // Pasted keys often carry a trailing newline.
    this.#apiKey = opts.apiKey?.trim() || undefined;
    this.#model = opts.model ?? '';
    this.#timeoutMs = opts.timeoutMs;
    this.contextLength = opts.contextLength;
    this.#fetch = opts.fetch ?? globalThis.fetch;
    this.#root = this.#endpoint.replace(/\/v1$/, '');
    this.#fimSetting = opts.fimFormat ?? 'auto';
    this.#onFim = opts.onFim;
  }

  get label(): string {
    return `remote: ${this.#shown} (${this.#model || 'first listed model'})`;
  }

  /** The model requests name: the configured one, else the first GET /models lists (asked once). */
  async resolveModel(signal?: AbortSignal): Promise<string> {
    if (this.#model) return this.#model;
    const ex = new Exchange(signal, this.#timeoutMs);
    try {
      let json: Json;
      try {
        json = await this.#json(await this.#send('GET', '/models', undefined, ex), ex, '/models');
      } catch (e) {
        if (e instanceof BackendError && e.code === 'http' && e.status === 404) {
          throw new BackendError(`The remote endpoint ${this.#shown} does not list its models (GET /models answered 404). Set switchyard.remote.model to the model's name, and check switchyard.remote.endpoint.`, 'no-model', 404);
        }
        throw e;
      }
      const data = Array.isArray(json.data) ? json.data : [];
      const id = data.map((m) => (m as Json)?.id).find((x): x is string => typeof x === 'string' && x.length > 0);
      if (!id) throw new BackendError(`The remote endpoint ${this.#shown} lists no models (GET /models). Set switchyard.remote.model to the model's name.`, 'no-model');
      this.#model = id;
      return id;
    } finally {
      ex.close();
    }
  }

  /**
   * Whether the endpoint answers: GET /models (a server that does not list its models, when
   * switchyard.remote.model names one, counts as answering). Rejects with the BackendError a request
   * would get. For the status bar and the chat view's health line (remote-health.ts).
   */
  async probe(signal?: AbortSignal): Promise<void> {
    const ex = new Exchange(signal, this.#timeoutMs);
    try {
      await this.#json(await this.#send('GET', '/models', undefined, ex), ex, '/models');
    } catch (e) {
      if (this.#model && e instanceof BackendError && e.code === 'http' && e.status === 404) return;
      throw e;
    } finally {
      ex.close();
    }
  }

  async complete(p: CompleteParams, signal?: AbortSignal): Promise<CompleteResult> {
    const t0 = performance.now();
    try {
      const model = await this.resolveModel(signal);
      if (p.raw) return await this.#completion(model, p, { prompt: p.prefix }, t0, signal);
      const fim = await abortable(this.fimMode(), signal, () => new BackendError(`The request to the remote endpoint ${this.#shown} was cancelled.`, 'cancelled'));
      return await this.#fimRequest(model, p, fim, t0, signal);
    } catch (e) {
      // As the local engine does: a cancelled completion resolves, with whatever it had (nothing here).
      if (e instanceof BackendError && e.code === 'cancelled') return { text: '', finishReason: 'cancelled', usage: { ...zeroUsage(), prefillMs: performance.now() - t0 } };
      throw e;
    }
  }

  /** How completions reach this server (detected once; see remote-fim.ts). */
  fimMode(): Promise<RemoteFim> {
    if (!this.#fim) {
      const p = detectRemoteFim(this.#fimSetting, this.#probe(), this.#shown).then((f) => {
        this.#onFim?.(f);
        return f;
      });
      this.#fim = p;
      p.catch(() => {
        if (this.#fim === p) this.#fim = undefined;
      });
    }
    return this.#fim;
  }

  async #fimRequest(model: string, p: CompleteParams, fim: RemoteFim, t0: number, signal: AbortSignal | undefined): Promise<CompleteResult> {
    const req = { prefix: p.prefix, suffix: p.suffix, relatedFiles: p.relatedFiles, repoName: p.repoName, filePath: p.filePath };
    switch (fim.mode) {
      case 'suffix':
        return this.#completion(model, p, { prompt: p.prefix, suffix: p.suffix }, t0, signal);
      case 'plain':
        return this.#completion(model, p, { prompt: p.prefix }, t0, signal);
      case 'layout': {
        const extra: Json = { prompt: buildFimText(fim.layout, req), stop: [...new Set([...(p.stop ?? []), ...fim.layout.stop])] };
        // vLLM and SGLang leave special tokens out of the text, where stop strings cannot see them.
        if (fim.stopIds) extra.stop_token_ids = fim.stopIds;
        return this.#completion(model, p, extra, t0, signal);
      }
      case 'infill':
        return this.#infill(p, t0, signal);
    }
  }

  /** One non-streamed POST /completions with `extra` (prompt, suffix, stops) over the common body. */
  async #completion(model: string, p: CompleteParams, extra: Json, t0: number, signal: AbortSignal | undefined): Promise<CompleteResult> {
    const body: Json = { model, max_tokens: p.maxTokens ?? COMPLETE_MAX_TOKENS, ...samplingBody(p), ...extra, stream: false };
    const ex = new Exchange(signal, this.#timeoutMs);
    try {
      const json = await this.#json(await this.#send('POST', '/completions', body, ex), ex, '/completions');
      const choice = (Array.isArray(json.choices) ? json.choices[0] : undefined) as Json | undefined;
      if (!choice || typeof choice.text !== 'string') throw this.#badResponse('/completions', 'an answer without choices[0].text', JSON.stringify(json));
      // Not streamed, so the time to the first token is unknown: the whole wait counts as prefill.
      return { text: choice.text, finishReason: mapFinish(choice.finish_reason), usage: { ...usageOf(json.usage), prefillMs: performance.now() - t0, decodeMs: 0 } };
    } finally {
      ex.close();
    }
  }

  /** llama.cpp's POST /infill: it lays out FIM (and the related files, repo-level where the model can) itself. */
  async #infill(p: CompleteParams, t0: number, signal: AbortSignal | undefined): Promise<CompleteResult> {
    const sampling = samplingBody(p);
    const body: Json = {
      input_prefix: p.prefix,
      input_suffix: p.suffix,
      input_extra: (p.relatedFiles ?? []).map((f) => ({ filename: f.path, text: f.text })),
      n_predict: p.maxTokens ?? COMPLETE_MAX_TOKENS,
      ...sampling,
      stream: false,
      cache_prompt: true,
    };
    // llama.cpp's name for it.
    if (p.repetitionPenalty !== undefined) body.repeat_penalty = p.repetitionPenalty;
    const ex = new Exchange(signal, this.#timeoutMs);
    try {
      let res: Response;
      try {
        res = await this.#send('POST', '/infill', body, ex, this.#root);
      } catch (e) {
        if (e instanceof BackendError && e.status === 404) {
          throw new BackendError(`The remote endpoint ${this.#shown} has no /infill (${this.#root}/infill answered 404); only llama.cpp's server has it. Set switchyard.remote.fimFormat to "auto" or the model's FIM layout.`, 'http', 404);
        }
        throw e;
      }
      const json = await this.#json(res, ex, '/infill');
      if (typeof json.content !== 'string') throw this.#badResponse('/infill', 'an answer without content', JSON.stringify(json));
      const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
      const timings = (json.timings ?? {}) as Json;
      const length = json.stop_type === 'limit' || json.stopped_limit === true;
      return {
        text: json.content,
        finishReason: length ? 'length' : 'stop',
        usage: {
          promptTokens: num(json.tokens_evaluated),
          completionTokens: num(json.tokens_predicted),
          cachedTokens: num(json.tokens_cached ?? timings.cache_n),
          prefillMs: performance.now() - t0,
          decodeMs: 0,
        },
      };
    } finally {
      ex.close();
    }
  }

  /**
   * Detection's questions over HTTP. A route the server lacks (an HTTP error, an answer that is
   * not the expected JSON) is "no"; an unreachable server or a timeout fails detection, which is
   * then tried again on the next completion.
   */
  #probe(): FimProbe {
    const soft = async <T>(f: (ex: Exchange) => Promise<T>): Promise<T | undefined> => {
      const ex = new Exchange(undefined, this.#timeoutMs);
      try {
        return await f(ex);
      } catch (e) {
        if (e instanceof BackendError && (e.code === 'http' || e.code === 'bad-response')) return undefined;
        throw e;
      } finally {
        ex.close();
      }
    };
    const tokensOf = (json: Json): number[] | undefined => {
      const t = json.tokens;
      if (!Array.isArray(t)) return undefined;
      // llama.cpp with with_pieces answers [{id, piece}].
      const ids = t.map((x) => (typeof x === 'number' ? x : (x as Json)?.id));
      return ids.every((x): x is number => typeof x === 'number' && Number.isInteger(x)) ? ids : undefined;
    };
    const tokenizeAt = (base: string, text: string) =>
      soft(async (ex) => {
        const model = this.#model || undefined;
        // vLLM reads prompt / add_special_tokens, llama.cpp content / add_special / parse_special.
        const body = { model, prompt: text, add_special_tokens: false, content: text, add_special: false, parse_special: true };
        return tokensOf(await this.#json(await this.#send('POST', '/tokenize', body, ex, base), ex, '/tokenize'));
      });
    return {
      tokenize: async (text) => {
        if (this.#tokenizeBase === null) return undefined;
        if (this.#tokenizeBase !== undefined) return tokenizeAt(this.#tokenizeBase, text);
        for (const base of [this.#root, this.#endpoint]) {
          const ids = await tokenizeAt(base, text);
          if (ids) {
            this.#tokenizeBase = base;
            return ids;
          }
        }
        this.#tokenizeBase = null;
        return undefined;
      },
      props: () =>
        soft(async (ex) => {
          const json = await this.#json(await this.#send('GET', '/props', undefined, ex, this.#root), ex, '/props');
          // llama.cpp's answer; anything else at /props is some other server's route.
          return 'default_generation_settings' in json || 'build_info' in json ? json : undefined;
        }),
      ownedBy: () =>
        soft(async (ex) => {
          const json = await this.#json(await this.#send('GET', '/models', undefined, ex), ex, '/models');
          const data = (Array.isArray(json.data) ? json.data : []) as Json[];
          const m = data.find((x) => x?.id === this.#model) ?? data[0];
          return typeof m?.owned_by === 'string' ? m.owned_by : undefined;
        }),
      promptTokens: async (prompt, suffix) => {
        const ex = new Exchange(undefined, this.#timeoutMs);
        try {
          const body: Json = { model: this.#model, prompt, max_tokens: 1, temperature: 0, stream: false };
          if (suffix !== undefined) body.suffix = suffix;
          const json = await this.#json(await this.#send('POST', '/completions', body, ex), ex, '/completions');
          const n = (json.usage as Json | undefined)?.prompt_tokens;
          return typeof n === 'number' && n > 0 ? n : undefined;
        } catch (e) {
          // The message without "The remote endpoint <url>", which the caller's message names already.
          if (e instanceof BackendError && e.code === 'http' && e.status !== undefined && e.status >= 400 && e.status < 500) return { refused: e.message.replace(`The remote endpoint ${this.#shown} `, '') };
          if (e instanceof BackendError && (e.code === 'http' || e.code === 'bad-response')) return undefined;
          throw e;
        } finally {
          ex.close();
        }
      },
    };
  }

  async chat(p: ChatParams, onDelta?: (d: ChatDeltaParams) => void, signal?: AbortSignal): Promise<ChatResult> {
    const t0 = performance.now();
    const streamId = p.streamId ?? '';
    let text = '';
    let reasoning = '';
    let firstAt: number | undefined;
    let finish: unknown;
    let usage: ReturnType<typeof usageOf> = usageOf(undefined);
    // Servers with a reasoning parser send `reasoning_content` (vLLM's newer ones `reasoning`);
    // without one the model's <think> block arrives inline in `content` and is split here.
    const splitter = new ReasoningSplitter();
    let serverSplits = false;
    // OpenAI-compatible servers (vLLM, SGLang, llama.cpp) stream one chunk per generated token, so
    // chunks with text count the tokens so far (a server that batches tokens gives a lower count).
    let tokens = 0;
    const emit = (ds: ReasoningDelta[]) => {
      for (const d of ds) {
        if (!d.content && !d.reasoning) continue;
        firstAt ??= performance.now();
        text += d.content ?? '';
        reasoning += d.reasoning ?? '';
        onDelta?.({ streamId, ...d, tokens });
      }
    };
    const onChoice = (choice: Json) => {
      const d = (choice.delta ?? choice.message ?? {}) as Json;
      const r = typeof d.reasoning_content === 'string' ? d.reasoning_content : typeof d.reasoning === 'string' ? d.reasoning : '';
      if (r || (typeof d.content === 'string' && d.content)) tokens++;
      if (r) {
        if (!serverSplits) emit(splitter.flush());
        serverSplits = true;
        emit([{ reasoning: r }]);
      }
      if (typeof d.content === 'string' && d.content) emit(serverSplits ? [{ content: d.content }] : splitter.push(d.content));
      if (choice.finish_reason) finish = choice.finish_reason;
    };
    const result = (finishReason: FinishReason): ChatResult => {
      const end = performance.now();
      const first = firstAt ?? end;
      return { text, reasoning, finishReason, usage: { ...usage, prefillMs: first - t0, decodeMs: end - first } };
    };

    const ex = new Exchange(signal, this.#timeoutMs);
    try {
      const model = await this.resolveModel(signal);
      const body: Json = {
        model,
        messages: p.messages.map((m) => ({ role: m.role, content: m.content })),
        max_tokens: p.maxTokens ?? CHAT_MAX_TOKENS,
        ...samplingBody(p),
        // vLLM's and SGLang's switch for models with a thinking mode; sent only when asked for.
        ...(p.thinking ? { chat_template_kwargs: { thinking: true } } : {}),
        stream: true,
        stream_options: { include_usage: true },
      };
      const res = await this.#send('POST', '/chat/completions', body, ex);
      const type = (res.headers.get('content-type') ?? '').toLowerCase();
      if (type.includes('application/json')) {
        // A server that ignores stream: true answers with one chat.completion object.
        const json = await this.#json(res, ex, '/chat/completions');
        const choice = (Array.isArray(json.choices) ? json.choices[0] : undefined) as Json | undefined;
        if (!choice) throw this.#badResponse('/chat/completions', 'an answer without choices', JSON.stringify(json));
        onChoice(choice);
        emit(splitter.flush());
        usage = usageOf(json.usage);
        return result(mapFinish(finish));
      }
      if (type && !type.includes('text/event-stream')) {
        throw this.#badResponse('/chat/completions', `'${type}' instead of an event stream`, await this.#text(res, ex, MAX_ERROR_BYTES).catch(() => ''));
      }
      if (!res.body) throw this.#badResponse('/chat/completions', 'an empty body', '');
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      const sse = new SseParser();
      let done = false;
      let ended = false;
      while (!done && !ended) {
        const chunk = await this.#read(reader, ex);
        const events = chunk ? sse.push(decoder.decode(chunk, { stream: true })) : [...sse.push(decoder.decode()), ...sse.end()];
        ended = !chunk;
        for (const ev of events) {
          const data = ev.data.trim();
          if (data === '[DONE]') {
            done = true;
            break;
          }
          if (data === '') continue;
          let obj: Json;
          try {
            obj = JSON.parse(data) as Json;
          } catch {
            throw this.#badResponse('/chat/completions', 'a stream event that is not JSON', data);
          }
          if (!obj || typeof obj !== 'object') throw this.#badResponse('/chat/completions', 'a stream event that is not a JSON object', data);
          if (obj.error !== undefined && obj.error !== null) {
            const detail = errorDetail(data) || 'no details';
            throw new BackendError(`The remote endpoint ${this.#shown} reported an error in the middle of the answer: ${detail}`, 'http');
          }
          if (obj.usage) usage = usageOf(obj.usage);
          const choice = Array.isArray(obj.choices) ? (obj.choices[0] as Json | undefined) : undefined;
          if (choice) onChoice(choice);
        }
      }
      emit(splitter.flush());
      // A stream that ends without [DONE] is complete only if it said how it finished.
      if (!done && finish === undefined) {
        throw new BackendError(`The remote endpoint ${this.#shown} closed the stream before the answer was finished (no finish_reason or [DONE]).`, 'dropped');
      }
      return result(mapFinish(finish));
    } catch (e) {
      if (e instanceof BackendError && e.code === 'cancelled') {
        emit(splitter.flush());
        return result('cancelled');
      }
      if (e instanceof BackendError && ex.stage === 'body') {
        emit(splitter.flush());
        throw new PartialAnswerError(e, text, reasoning);
      }
      throw e;
    } finally {
      ex.close();
    }
  }

  /**
   * An estimate: the OpenAI API has no tokenizer endpoint, and probing server-specific ones
   * (vLLM's /tokenize, llama.cpp's) would add a round trip to every context-budget check. Rule:
   * ASCII characters / 3.5 (BPE vocabularies of code models average 3.5-4 characters per token on
   * code and English) plus one token per other character (CJK and symbols are about one token
   * each), rounded up. It leans towards over-counting, which keeps prompts inside the context.
   */
  async countTokens(text: string): Promise<number> {
    let ascii = 0;
    let other = 0;
    for (const ch of text) {
      if (ch.charCodeAt(0) < 128) ascii++;
      else other++;
    }
    return Math.ceil(ascii / 3.5 + other);
  }

  #badResponse(route: string, what: string, body: string): BackendError {
    const s = snippet(body);
    return new BackendError(`The remote endpoint ${this.#shown} sent ${what} for ${route}${s ? `: ${s}` : ''}. Is it an OpenAI-compatible server?`, 'bad-response');
  }

  /** Sends the request and waits (timed) for the headers; non-2xx answers become 'http' errors. */
  async #send(method: 'GET' | 'POST', route: string, body: Json | undefined, ex: Exchange, base = this.#endpoint): Promise<Response> {
    let url: URL;
    try {
      url = new URL(base + route);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
    } catch {
      throw new BackendError(`The remote endpoint '${this.#shown}' is not a valid http(s) URL. Check switchyard.remote.endpoint.`, 'unreachable');
    }
    const headers: Record<string, string> = { accept: body?.stream ? 'text/event-stream' : 'application/json' };
    if (body) headers['content-type'] = 'application/json';
    if (this.#apiKey) {
      // Checked here because fetch's own complaint about a bad header value quotes the value.
      if (!/^[\x21-\x7e]+$/.test(this.#apiKey)) {
        throw new BackendError(`The API key for ${this.#shown} has characters an HTTP header cannot carry (spaces, line breaks or non-ASCII). Set it again with "Switchyard: Set Remote API Key".`, 'http');
      }
      headers.authorization = `Bearer ${this.#apiKey}`;
    }
    ex.arm();
    let res: Response;
    for (let attempt = 1; ; attempt++) {
      try {
        res = await ex.race(this.#fetch(url, { method, headers, body: body ? JSON.stringify(body) : undefined, signal: ex.ac.signal }));
        break;
      } catch (e) {
        // A kept-alive connection the server closed while idle fails like this before any answer
        // (a race that a loaded machine makes likely): the request never ran, so it is sent once more.
        const reset = ['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'].includes(netCode(e) ?? '');
        if (attempt === 1 && reset && !ex.cancelled && !ex.timedOut) continue;
        throw this.#failure(e, ex);
      }
    }
    ex.stage = 'body';
    if (!res.ok) throw await this.#httpError(res, ex, `${method} ${route}`);
    return res;
  }

  /** One timed read: the idle timer restarts for every chunk. */
  async #read(reader: ReadableStreamDefaultReader<Uint8Array>, ex: Exchange): Promise<Uint8Array | undefined> {
    // Aborted (say, from inside onDelta): stop here rather than process data already buffered.
    if (ex.ac.signal.aborted) {
      reader.cancel().catch(() => {});
      throw this.#failure(ex.ac.signal.reason, ex);
    }
    ex.arm();
    try {
      const r = await ex.race(reader.read());
      return r.done ? undefined : r.value;
    } catch (e) {
      reader.cancel().catch(() => {});
      throw this.#failure(e, ex);
    }
  }

  async #text(res: Response, ex: Exchange, maxBytes: number): Promise<string> {
    if (!res.body) return '';
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let out = '';
    let size = 0;
    for (;;) {
      const chunk = await this.#read(reader, ex);
      if (!chunk) return out + decoder.decode();
      size += chunk.length;
      if (size > maxBytes) {
        reader.cancel().catch(() => {});
        return out;
      }
      out += decoder.decode(chunk, { stream: true });
    }
  }

  async #json(res: Response, ex: Exchange, route: string): Promise<Json> {
    const body = await this.#text(res, ex, MAX_JSON_BYTES);
    let v: unknown;
    try {
      v = JSON.parse(body);
    } catch {
      throw this.#badResponse(route, 'an answer that is not JSON', body);
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw this.#badResponse(route, 'an answer that is not a JSON object', body);
    return v as Json;
  }

  async #httpError(res: Response, ex: Exchange, what: string): Promise<BackendError> {
    let detail = '';
    try {
      detail = errorDetail(await this.#text(res, ex, MAX_ERROR_BYTES));
    } catch (e) {
      if (e instanceof BackendError && e.code === 'cancelled') return e;
      // the status alone still says what happened
    }
    const status = `${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
    const said = detail ? `: ${detail}` : '';
    if (res.status === 401 || res.status === 403) {
      const fix = this.#apiKey ? 'Check the API key' : 'It may need an API key';
      return new BackendError(`The remote endpoint ${this.#shown} refused the request (${status}${said}). ${fix}: run "Switchyard: Set Remote API Key".`, 'http', res.status);
    }
    if (res.status === 404) {
      return new BackendError(`The remote endpoint ${this.#shown} answered ${status} to ${what}${said}. Check switchyard.remote.endpoint (the base URL, usually ending in /v1) and switchyard.remote.model.`, 'http', 404);
    }
    return new BackendError(`The remote endpoint ${this.#shown} answered ${status} to ${what}${said}`, 'http', res.status);
  }

  /** What a fetch or read failure means, in the user's terms. */
  #failure(e: unknown, ex: Exchange): BackendError {
    if (e instanceof BackendError) return e;
    if (ex.cancelled) return new BackendError(`The request to the remote endpoint ${this.#shown} was cancelled.`, 'cancelled');
    const limit = seconds(ex.timeoutMs);
    if (ex.timedOut) {
      return ex.stage === 'headers'
        ? new BackendError(`The remote endpoint ${this.#shown} did not answer within ${limit}. Check that the server is running and not overloaded, or raise switchyard.remote.timeoutSeconds.`, 'timeout')
        : new BackendError(`The remote endpoint ${this.#shown} stopped sending in the middle of the answer: nothing for ${limit} (switchyard.remote.timeoutSeconds).`, 'timeout');
    }
    const code = netCode(e);
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
      return new BackendError(`The remote endpoint ${this.#shown} did not answer in time (Node's HTTP client gave up: ${code}).`, 'timeout');
    }
    const net = netText(e);
    if (ex.stage === 'headers') {
      return net.unreachable
        ? new BackendError(`Cannot reach the remote endpoint ${this.#shown}: ${net.text}. Check switchyard.remote.endpoint.`, 'unreachable')
        : new BackendError(`The remote endpoint ${this.#shown} closed the connection before answering (${net.text}).`, 'dropped');
    }
    return new BackendError(`The remote endpoint ${this.#shown} dropped the connection in the middle of the answer (${net.text}).`, 'dropped');
  }
}
