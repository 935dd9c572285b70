/**
 * OpenAI-compatible HTTP server over the Engine (`engine serve --model DIR --port P`): /v1/models,
 * /v1/completions (prompt + optional suffix for fill-in-the-middle) and /v1/chat/completions, with
 * SSE streaming, usage counts and OpenAI-style error objects, plus vLLM's /tokenize. Binds
 * 127.0.0.1 only: it is for this machine's tools, never the network. Uses node:http directly: the
 * surface is four routes.
 *
 * With `suffix: false` (`--no-suffix`) it reads completions as vLLM does: `suffix` is refused
 * with a 400 and special-token texts in `prompt` become their tokens, so clients that lay out
 * fill-in-the-middle themselves can be tested against it. /tokenize always tokenizes as
 * /v1/completions reads a prompt.
 */
import * as http from 'node:http';
import { randomUUID } from 'node:crypto';
import type { ChatMessage, FinishReason, Usage } from '../protocol/protocol.ts';
import type { Engine } from '../service/engine.ts';
import { NoModelError } from '../service/engine.ts';
import { PromptTooLongError } from '../service/generate.ts';
import { ParamError } from '../service/validate.ts';

const MAX_BODY = 32 * 1024 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

type Json = Record<string, unknown>;

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: http.ServerResponse, e: unknown): void {
  let err: HttpError;
  if (e instanceof HttpError) err = e;
  else if (e instanceof ParamError) err = new HttpError(400, e.message);
  else if (e instanceof PromptTooLongError) err = new HttpError(400, e.message, 'invalid_request_error', 'messages', 'context_length_exceeded');
  else if (e instanceof NoModelError) err = new HttpError(503, e.message, 'server_error', null, 'model_not_loaded');
  else err = new HttpError(500, String((e as Error)?.message ?? e).split('\n')[0]!, 'server_error');
  if (res.headersSent) {
    // Mid-stream: report in-band, as OpenAI's servers do, then end the stream.
    res.write(`data: ${JSON.stringify({ error: { message: err.message, type: err.type, param: err.param, code: err.code } })}\n\n`);
    res.end();
    return;
  }
  send(res, err.status, { error: { message: err.message, type: err.type, param: err.param, code: err.code } });
}

async function readJson(req: http.IncomingMessage): Promise<Json> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, `request body larger than ${MAX_BODY} bytes`);
    chunks.push(c as Buffer);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    throw new HttpError(400, `request body is not valid JSON: ${(e as Error).message}`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'request body must be a JSON object');
  return body as Json;
}

function opt<T>(body: Json, key: string, kind: 'number' | 'string' | 'boolean'): T | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== kind) throw new HttpError(400, `'${key}' must be a ${kind}`, 'invalid_request_error', key);
  return v as T;
}

function stopsOf(body: Json): string[] | undefined {
  const s = body.stop;
  if (s === undefined || s === null) return undefined;
  if (typeof s === 'string') return [s];
  if (Array.isArray(s) && s.every((x) => typeof x === 'string')) return s as string[];
  throw new HttpError(400, `'stop' must be a string or an array of strings`, 'invalid_request_error', 'stop');
}

/**
 * max_tokens (or max_completion_tokens) must ask for at least one token and fit the context: a
 * request for more than the context can ever hold is refused up front, as OpenAI-compatible servers
 * do, instead of running until the context is exhausted.
 */
function maxTokensOf(body: Json, contextLength: number | null): number | undefined {
  const key = body.max_completion_tokens !== undefined && body.max_completion_tokens !== null ? 'max_completion_tokens' : 'max_tokens';
  const v = opt<number>(body, key, 'number');
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < 1) throw new HttpError(400, `'${key}' must be a whole number of at least 1 (got ${v})`, 'invalid_request_error', key);
  if (contextLength !== null && v > contextLength) {
    throw new HttpError(400, `'${key}' is ${v}, more than this model's context of ${contextLength} tokens`, 'invalid_request_error', key);
  }
  return v;
}

function commonParams(body: Json, contextLength: number | null) {
  const n = opt<number>(body, 'n', 'number');
  if (n !== undefined && n !== 1) throw new HttpError(400, `only n = 1 is supported`, 'invalid_request_error', 'n');
  return {
    maxTokens: maxTokensOf(body, contextLength),
    temperature: opt<number>(body, 'temperature', 'number') ?? 1,
    topP: opt<number>(body, 'top_p', 'number'),
    topK: opt<number>(body, 'top_k', 'number'),
    minP: opt<number>(body, 'min_p', 'number'),
    seed: opt<number>(body, 'seed', 'number'),
    presencePenalty: opt<number>(body, 'presence_penalty', 'number'),
    frequencyPenalty: opt<number>(body, 'frequency_penalty', 'number'),
    repetitionPenalty: opt<number>(body, 'repetition_penalty', 'number'),
    stop: stopsOf(body),
  };
}

const finishOf = (f: FinishReason): 'stop' | 'length' => (f === 'length' || f === 'time' ? 'length' : 'stop');
const usageOf = (u: Usage) => ({
  prompt_tokens: u.promptTokens,
  completion_tokens: u.completionTokens,
  total_tokens: u.promptTokens + u.completionTokens,
  prompt_tokens_details: { cached_tokens: u.cachedTokens },
});

function contentOf(m: unknown, i: number): ChatMessage {
  const o = m as Json;
  if (!o || typeof o !== 'object') throw new HttpError(400, `messages[${i}] must be an object`, 'invalid_request_error', 'messages');
  const role = o.role === 'developer' ? 'system' : o.role;
  if (role !== 'system' && role !== 'user' && role !== 'assistant') {
    throw new HttpError(400, `messages[${i}].role must be system, developer, user or assistant`, 'invalid_request_error', 'messages');
  }
  let content = o.content;
  if (Array.isArray(content)) {
    if (!content.every((p) => p && (p as Json).type === 'text' && typeof (p as Json).text === 'string')) {
      throw new HttpError(400, `messages[${i}].content parts must be text parts`, 'invalid_request_error', 'messages');
    }
    content = content.map((p) => (p as Json).text).join('');
  }
  if (content === null || content === undefined) content = '';
  if (typeof content !== 'string') throw new HttpError(400, `messages[${i}].content must be a string`, 'invalid_request_error', 'messages');
  // An earlier answer's reasoning, as DeepSeek's API returns it; the V4 encoding drops it.
  const reasoning = o.reasoning_content;
  if (reasoning === undefined || reasoning === null) return { role, content };
  if (typeof reasoning !== 'string') throw new HttpError(400, `messages[${i}].reasoning_content must be a string`, 'invalid_request_error', 'messages');
  return { role, content, reasoning };
}

/** `chat_template_kwargs.thinking` (vLLM's switch for DeepSeek's thinking mode). */
function thinkingOf(body: Json): boolean | undefined {
  const kw = body.chat_template_kwargs;
  if (kw === undefined || kw === null) return undefined;
  if (typeof kw !== 'object' || Array.isArray(kw)) {
    throw new HttpError(400, `'chat_template_kwargs' must be an object`, 'invalid_request_error', 'chat_template_kwargs');
  }
  const t = (kw as Json).thinking;
  if (t === undefined || t === null) return undefined;
  if (typeof t !== 'boolean') {
    throw new HttpError(400, `'chat_template_kwargs.thinking' must be a boolean`, 'invalid_request_error', 'chat_template_kwargs.thinking');
  }
  return t;
}

export interface OpenAIServerOptions {
  engine: Engine;
  modelId: string;
  port: number;
  log?: (line: string) => void;
  /** Honour `suffix` with the model's own FIM layout (default); false: refuse it and parse special tokens in prompts. */
  suffix?: boolean;
}

export function startOpenAIServer(opts: OpenAIServerOptions): Promise<http.Server> {
  const { engine, modelId } = opts;
  const honourSuffix = opts.suffix !== false;
  const created = Math.floor(Date.now() / 1000);

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const route = url.pathname.replace(/\/+$/, '');
    if (req.method === 'GET' && route === '/v1/models') {
      send(res, 200, { object: 'list', data: [{ id: modelId, object: 'model', created, owned_by: 'switchyard' }] });
      return;
    }
    if (req.method === 'GET' && route === '/health') {
      const st = engine.status();
      send(res, 200, { status: engine.loaded ? 'ok' : 'loading', rss: st.memory.rssBytes, cache: st.cache, queue: st.queue });
      return;
    }
    if (req.method === 'POST' && route === '/tokenize') {
      // vLLM's shape: {prompt, add_special_tokens (default true)} -> {tokens, count, max_model_len}.
      const body = await readJson(req);
      const prompt = body.prompt;
      if (typeof prompt !== 'string') throw new HttpError(400, `'prompt' must be a string`, 'invalid_request_error', 'prompt');
      const tokens = engine.tokenize(prompt, { specialTokens: !honourSuffix, addBos: opt<boolean>(body, 'add_special_tokens', 'boolean') ?? true });
      send(res, 200, { tokens, count: tokens.length, max_model_len: engine.contextLength });
      return;
    }
    if (req.method !== 'POST' || (route !== '/v1/completions' && route !== '/v1/chat/completions')) {
      throw new HttpError(404, `no route ${req.method} ${url.pathname}`, 'invalid_request_error', null, 'not_found');
    }
    const body = await readJson(req);
    const stream = opt<boolean>(body, 'stream', 'boolean') ?? false;
    const includeUsage = !!(body.stream_options as Json | undefined)?.include_usage;
    const ac = new AbortController();
    // The client went away: stop generating for it.
    res.on('close', () => {
      if (!res.writableFinished) ac.abort();
    });
    const common = commonParams(body, engine.contextLength);
    const id = route === '/v1/completions' ? `cmpl-${randomUUID()}` : `chatcmpl-${randomUUID()}`;
    const sse = (obj: unknown) => res.write(`data: ${JSON.stringify(obj)}\n\n`);
    const startStream = () => {
      if (!res.headersSent) res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    };

    if (route === '/v1/completions') {
      let prompt = body.prompt;
      if (Array.isArray(prompt) && prompt.length === 1 && typeof prompt[0] === 'string') prompt = prompt[0];
      if (typeof prompt !== 'string') throw new HttpError(400, `'prompt' must be a string`, 'invalid_request_error', 'prompt');
      const suffix = opt<string>(body, 'suffix', 'string');
      if (suffix !== undefined && !honourSuffix) {
        throw new HttpError(400, `'suffix' is not supported by this server (engine serve --no-suffix): lay out fill-in-the-middle in the prompt`, 'invalid_request_error', 'suffix');
      }
      const chunk = (text: string, finish: string | null) => ({
        id,
        object: 'text_completion',
        created: Math.floor(Date.now() / 1000),
        model: modelId,
        choices: [{ text, index: 0, logprobs: null, finish_reason: finish }],
      });
      if (stream) startStream();
      const r = await engine.complete(
        { prefix: prompt, suffix: suffix ?? '', raw: suffix === undefined, specialTokens: !honourSuffix, ...common },
        ac.signal,
        stream ? (d) => sse(chunk(d, null)) : undefined,
      );
      if (!stream) {
        send(res, 200, { ...chunk(r.text, finishOf(r.finishReason)), usage: usageOf(r.usage) });
        return;
      }
      sse(chunk('', finishOf(r.finishReason)));
      if (includeUsage) sse({ ...chunk('', null), choices: [], usage: usageOf(r.usage) });
      res.end('data: [DONE]\n\n');
      return;
    }

    if (!Array.isArray(body.messages) || body.messages.length === 0) {
      throw new HttpError(400, `'messages' must be a non-empty array`, 'invalid_request_error', 'messages');
    }
    const messages = body.messages.map(contentOf);
    const thinking = thinkingOf(body);
    const chunk = (delta: Json, finish: string | null) => ({
      id,
      object: 'chat.completion.chunk',
      created: Math.floor(Date.now() / 1000),
      model: modelId,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    });
    if (stream) {
      startStream();
      sse(chunk({ role: 'assistant', content: '' }, null));
    }
    const r = await engine.chat(
      { messages, thinking, ...common },
      ac.signal,
      stream
        ? (d) => {
            if (d.reasoning) sse(chunk({ reasoning_content: d.reasoning }, null));
            if (d.content) sse(chunk({ content: d.content }, null));
          }
        : undefined,
    );
    if (!stream) {
      const message: Json = { role: 'assistant', content: r.text };
      if (r.reasoning) message.reasoning_content = r.reasoning;
      send(res, 200, {
        id,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: modelId,
        choices: [{ index: 0, message, logprobs: null, finish_reason: finishOf(r.finishReason) }],
        usage: usageOf(r.usage),
      });
      return;
    }
    sse(chunk({}, finishOf(r.finishReason)));
    if (includeUsage) sse({ ...chunk({}, null), choices: [], usage: usageOf(r.usage) });
    res.end('data: [DONE]\n\n');
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (!(e instanceof HttpError) && !(e instanceof ParamError)) opts.log?.(`http: ${String((e as Error)?.stack ?? e)}`);
      sendError(res, e);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
