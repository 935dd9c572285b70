/**
 * RemoteBackend over real HTTP: first against the engine's own OpenAI-compatible server (in this
 * process, a tiny random-weight DeepSeek-V2 with the real DeepSeek-Coder tokenizer), compared with
 * the engine answering the same request directly; then against a node:http server written here
 * that misbehaves in the ways real endpoints do (slow, stalled, dropped, errors, non-JSON).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Engine } from '../../../engine/service/engine.ts';
import { startOpenAIServer } from '../../../engine/http/openai.ts';
import type { ChatDeltaParams, ChatParams } from '../../../engine/protocol/protocol.ts';
import { BackendError } from '../../../extension/backend/backend.ts';
import { PartialAnswerError, RemoteBackend } from '../../../extension/backend/remote.ts';
import { SseParser } from '../../../extension/backend/sse.ts';
import { tinyModel } from '../../helpers/tiny-model.ts';

const T = { timeout: 20_000 };

function collect(): { deltas: ChatDeltaParams[]; onDelta: (d: ChatDeltaParams) => void; content: () => string; reasoning: () => string } {
  const deltas: ChatDeltaParams[] = [];
  return {
    deltas,
    onDelta: (d) => deltas.push(d),
    content: () => deltas.map((d) => d.content ?? '').join(''),
    reasoning: () => deltas.map((d) => d.reasoning ?? '').join(''),
  };
}

async function rejection(p: Promise<unknown>): Promise<BackendError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof BackendError, `expected a BackendError, got ${String((e as Error)?.stack ?? e)}`);
    return e;
  }
  assert.fail('expected a rejection');
}

describe('RemoteBackend against `engine serve`', () => {
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-remote-'));
  const engine = new Engine();
  let server: http.Server;
  let endpoint = '';
  const backend = () => new RemoteBackend({ endpoint, timeoutMs: 30_000, contextLength: 2048 });

  before(async () => {
    await engine.loadModel({ model: tinyModel('deepseek-coder-v1'), providers: ['cpu'], contextLength: 2048, cacheDir });
    server = await startOpenAIServer({ engine, modelId: 'tiny-ds', port: 0 });
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/`; // a trailing slash is tolerated
  });

  after(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    await engine.shutdown();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });

  test('discovers the model from /v1/models and names it in the label', T, async () => {
    const b = backend();
    assert.equal(b.kind, 'remote');
    assert.match(b.label, /^remote: http:\/\/127\.0\.0\.1:\d+\/v1 \(/);
    assert.equal(await b.resolveModel(), 'tiny-ds');
    assert.match(b.label, /\(tiny-ds\)$/);
    assert.equal(b.contextLength, 2048);
  });

  test('chat streams deltas that add up to the text, with usage, equal to the engine greedy', T, async () => {
    const p: ChatParams = { messages: [{ role: 'user', content: 'Write a function that adds two numbers.' }], maxTokens: 24, temperature: 0, streamId: 's1' };
    const c = collect();
    const r = await backend().chat(p, c.onDelta);
    assert.ok(c.deltas.length > 3, `only ${c.deltas.length} deltas`);
    assert.ok(c.deltas.every((d) => d.streamId === 's1'));
    assert.equal(c.content(), r.text);
    assert.equal(r.reasoning, '');
    assert.ok(r.text.length > 0);
    assert.equal(r.finishReason, 'length');
    assert.ok(r.usage.promptTokens > 5, `promptTokens ${r.usage.promptTokens}`);
    assert.equal(r.usage.completionTokens, 24);
    assert.ok(r.usage.prefillMs > 0 && r.usage.decodeMs >= 0);
    // Tokens so far, one per streamed chunk: rising, never past what the server generated (issue 13, item 8).
    const counts = c.deltas.map((d) => d.tokens!);
    assert.ok(counts.every((n, i) => n >= 1 && (i === 0 || n >= counts[i - 1]!)), counts.join(','));
    assert.ok(counts.at(-1)! <= r.usage.completionTokens && counts.at(-1)! >= r.usage.completionTokens / 2, counts.join(','));

    const direct = await engine.chat({ messages: p.messages, maxTokens: 24, temperature: 0 }, new AbortController().signal);
    assert.equal(r.text, direct.text);
    assert.equal(r.usage.promptTokens, direct.usage.promptTokens);
  });

  test('complete: FIM through suffix and raw continuation, equal to the engine greedy', T, async () => {
    const b = backend();
    const prefix = 'def add(a, b):\n    ';
    const suffix = '\n\nprint(add(1, 2))\n';
    const fim = await b.complete({ prefix, suffix, maxTokens: 16, temperature: 0 });
    const fimDirect = await engine.complete({ prefix, suffix, maxTokens: 16, temperature: 0 }, new AbortController().signal);
    assert.ok(fim.text.length > 0);
    assert.equal(fim.text, fimDirect.text);
    assert.equal(fim.usage.promptTokens, fimDirect.usage.promptTokens);
    assert.equal(fim.usage.completionTokens, fimDirect.usage.completionTokens);

    const raw = await b.complete({ prefix, suffix, raw: true, maxTokens: 16, temperature: 0 });
    const rawDirect = await engine.complete({ prefix, suffix: '', raw: true, maxTokens: 16, temperature: 0 }, new AbortController().signal);
    assert.equal(raw.text, rawDirect.text);
    assert.ok(fim.usage.promptTokens > raw.usage.promptTokens, 'the FIM layout carries the suffix');
  });

  test('abort mid-stream resolves "cancelled" quickly with the partial text, and stops the server', T, async () => {
    const ac = new AbortController();
    const c = collect();
    let abortedAt = 0;
    const onDelta = (d: ChatDeltaParams) => {
      c.onDelta(d);
      if (c.deltas.length === 3) {
        abortedAt = performance.now();
        ac.abort();
      }
    };
    const r = await backend().chat({ messages: [{ role: 'user', content: 'Explain closures at length.' }], maxTokens: 1800, temperature: 0 }, onDelta, ac.signal);
    const took = performance.now() - abortedAt;
    assert.equal(r.finishReason, 'cancelled');
    assert.ok(took < 1000, `took ${took.toFixed(0)} ms after the abort`);
    assert.equal(r.text, c.content());
    assert.ok(r.text.length > 0);
    // The HTTP request really went away: the engine stops generating for it.
    const until = Date.now() + 3000;
    while (engine.status().queue.running > 0 && Date.now() < until) await new Promise((res) => setTimeout(res, 20));
    assert.equal(engine.status().queue.running, 0);
    assert.ok(engine.status().requests.cancelled >= 1);
  });

  test('countTokens estimates within a factor of two of the real tokenizer on code', T, async () => {
    const code = fs.readFileSync(new URL(import.meta.url), 'utf8').slice(0, 4000);
    const est = await backend().countTokens(code);
    const real = engine.countTokens(code);
    assert.ok(est >= real * 0.5 && est <= real * 2, `estimate ${est}, real ${real}`);
    assert.equal(await backend().countTokens(''), 0);
  });
});

// ---------------------------------------------------------------------------------------------
// A misbehaving server. The first path segment picks the behaviour: http://127.0.0.1:P/<mode>/v1.

interface Seen {
  method: string;
  url: string;
  auth: string | undefined;
  body: Record<string, unknown> | undefined;
}

const sse = (obj: unknown) => `data: ${typeof obj === 'string' ? obj : JSON.stringify(obj)}\n\n`;
const delta = (d: Record<string, unknown>, finish: string | null = null) => ({ id: 'c1', object: 'chat.completion.chunk', model: 'm1', choices: [{ index: 0, delta: d, finish_reason: finish }] });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('RemoteBackend against a misbehaving server', () => {
  let server: http.Server;
  let port = 0;
  const seen: Seen[] = [];
  let resets = 0;
  /** Requests whose connection closed before the handler finished (the client aborted). */
  const closedEarly: string[] = [];

  async function handle(mode: string, route: string, req: http.IncomingMessage, res: http.ServerResponse, body: Record<string, unknown> | undefined) {
    const streamHead = () => res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
    if (route === '/v1/models') {
      if (mode === 'nomodels') return json(res, 200, { object: 'list', data: [] });
      if (mode === 'nomodelroute') return json(res, 404, { error: { message: 'Not Found' } });
      return json(res, 200, { object: 'list', data: [{ id: 'm1', object: 'model' }, { id: 'm2', object: 'model' }] });
    }
    switch (mode) {
      case 'ok':
        if (route === '/v1/completions') {
          return json(res, 200, { id: 'x', object: 'text_completion', choices: [{ index: 0, text: 'return a + b', finish_reason: 'stop' }], usage: { prompt_tokens: 11, completion_tokens: 5, total_tokens: 16, prompt_tokens_details: { cached_tokens: 8 } } });
        }
        streamHead();
        res.write(': keep-alive comment\n\n');
        res.write(sse(delta({ role: 'assistant', content: '' })));
        // One event cut in the middle of a line and CRLF line ends: the parser must not care.
        res.write('data: {"id":"c1","choices":[{"index":0,"delta":{"content":"Hel');
        await sleep(5);
        res.write('lo"},"finish_reason":null}]}\r\n\r\n');
        res.write(sse(delta({ content: ', wörld' })));
        res.write(sse(delta({}, 'stop')));
        res.write(sse({ id: 'c1', choices: [], usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 } }));
        return res.end(sse('[DONE]'));
      case 'slow':
        await sleep(3000);
        if (!res.destroyed) json(res, 200, {});
        return;
      case 'stall':
        streamHead();
        res.write(sse(delta({ content: 'Hel' })));
        await sleep(3000);
        return res.end();
      case 'drop':
        streamHead();
        res.write(sse(delta({ content: 'Hel' })));
        res.write(sse(delta({ content: 'lo' })));
        await sleep(50);
        res.socket?.destroy();
        return;
      case 'resetonce':
      case 'reset':
        // The connection closed before any answer (once, as a stale kept-alive connection is; or always).
        if (mode === 'reset' || resets++ % 2 === 0) {
          res.socket?.destroy();
          return;
        }
        return json(res, 200, { id: 'x', object: 'text_completion', choices: [{ index: 0, text: 'ok', finish_reason: 'stop' }] });
      case 'long':
        // 40 chunks 20 ms apart: longer than the timeout in all, never silent for that long.
        streamHead();
        for (let i = 0; i < 40; i++) {
          res.write(sse(delta({ content: '.' })));
          await sleep(20);
        }
        res.write(sse(delta({}, 'stop')));
        return res.end(sse('[DONE]'));
      case 'nodone':
        // Ends cleanly after a finish_reason but without [DONE]: still a complete answer.
        streamHead();
        res.write(sse(delta({ content: 'ok' })));
        res.write(sse(delta({}, 'length')));
        return res.end();
      case 'truncated':
        // Ends cleanly, but before any finish_reason or [DONE].
        streamHead();
        res.write(sse(delta({ content: 'half an ans' })));
        return res.end();
      case 'inband':
        streamHead();
        res.write(sse(delta({ content: 'par' })));
        res.write(sse({ error: { message: 'CUDA out of memory', type: 'server_error' } }));
        return res.end();
      case 'unauthorized':
        return json(res, 401, { error: { message: 'Invalid API key provided.', type: 'invalid_request_error', code: 'invalid_api_key' } });
      case 'broken':
        return json(res, 500, { error: { message: 'engine crashed: out of memory', type: 'server_error' } });
      case 'missing':
        return json(res, 404, { error: { message: 'The model `m1` does not exist.', type: 'NotFoundError' } });
      case 'html':
        res.writeHead(502, { 'content-type': 'text/html' });
        return res.end('<html><body><h1>502 Bad Gateway</h1></body></html>');
      case 'notjson':
        res.writeHead(200, { 'content-type': 'text/plain' });
        return res.end('hello, I am not an API');
      case 'badsse':
        streamHead();
        res.write(sse(delta({ content: 'a' })));
        return res.end('data: {"choices": [oops\n\n');
      case 'reasoning':
        streamHead();
        res.write(sse(delta({ role: 'assistant', content: '' })));
        res.write(sse(delta({ reasoning_content: 'First, ' })));
        res.write(sse(delta({ reasoning_content: 'think.' })));
        res.write(sse(delta({ reasoning: ' (newer vLLM field)' })));
        res.write(sse(delta({ content: 'The answer ' })));
        // After the server split reasoning off, a literal <think> in content is content.
        res.write(sse(delta({ content: 'is <think>42</think>.' })));
        res.write(sse(delta({}, 'stop')));
        return res.end(sse('[DONE]'));
      case 'think':
        streamHead();
        for (const piece of ['<th', 'ink>Let me', ' see.</thi', 'nk>', '\n\nIt is', ' 42.<', '/think> ok']) res.write(sse(delta({ content: piece })));
        res.write(sse(delta({}, 'stop')));
        return res.end(sse('[DONE]'));
      case 'json':
        // A server that ignores stream: true.
        return json(res, 200, { id: 'x', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: '<think>hm</think>Plain.' }, finish_reason: 'stop' }], usage: { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 } });
      case 'forever':
        // Streams until the client goes away.
        streamHead();
        for (let i = 0; i < 2000 && !res.destroyed; i++) {
          res.write(sse(delta({ content: `${i} ` })));
          await sleep(5);
        }
        return res.end(sse('[DONE]'));
    }
    json(res, 404, { error: { message: `no mode ${mode}` } });
  }

  function json(res: http.ServerResponse, status: number, body: unknown) {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  before(async () => {
    server = http.createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const text = Buffer.concat(chunks).toString('utf8');
      const m = /^\/([^/]+)(\/.*)$/.exec(req.url ?? '/');
      const body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
      seen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, body });
      res.on('close', () => {
        if (!res.writableFinished) closedEarly.push(req.url!);
      });
      handle(m?.[1] ?? '', m?.[2] ?? '', req, res, body).catch((e) => res.destroy(e as Error));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const make = (mode: string, extra: Partial<ConstructorParameters<typeof RemoteBackend>[0]> = {}) =>
    new RemoteBackend({ endpoint: `http://127.0.0.1:${port}/${mode}/v1`, timeoutMs: 300, contextLength: 8192, ...extra });
  const ask: ChatParams = { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }], maxTokens: 50 };

  test('maps ChatParams onto the OpenAI request, sends the key as a Bearer token, parses framing', T, async () => {
    const c = collect();
    const r = await make('ok', { apiKey: ' sk-secret\n' }).chat(
      { ...ask, temperature: 0.7, topP: 0.9, topK: 40, minP: 0.05, repetitionPenalty: 1.1, presencePenalty: 0.5, frequencyPenalty: 0.25, seed: 7, stop: ['\n\n'], streamId: 'q' },
      c.onDelta,
    );
    assert.equal(r.text, 'Hello, wörld');
    assert.equal(c.content(), r.text);
    assert.equal(r.finishReason, 'stop');
    assert.deepEqual([r.usage.promptTokens, r.usage.completionTokens, r.usage.cachedTokens], [7, 3, 0]);
    const req = seen.find((s) => s.url === '/ok/v1/chat/completions')!;
    assert.equal(req.auth, 'Bearer sk-secret');
    assert.deepEqual(req.body, {
      model: 'm1', // the first model /v1/models lists
      messages: ask.messages,
      max_tokens: 50,
      temperature: 0.7,
      top_p: 0.9,
      top_k: 40,
      min_p: 0.05,
      repetition_penalty: 1.1,
      presence_penalty: 0.5,
      frequency_penalty: 0.25,
      seed: 7,
      stop: ['\n\n'],
      stream: true,
      stream_options: { include_usage: true },
    });
    // Unset options are left out; temperature defaults to the engine's greedy.
    await make('ok', { model: 'chosen' }).chat({ messages: [{ role: 'user', content: 'x' }] });
    const plain = seen.filter((s) => s.url === '/ok/v1/chat/completions').at(-1)!;
    assert.deepEqual(plain.body, { model: 'chosen', messages: [{ role: 'user', content: 'x' }], max_tokens: 1024, temperature: 0, stream: true, stream_options: { include_usage: true } });
    assert.equal(plain.auth, undefined);
    // Thinking (switchyard.chat.thinking) as vLLM and SGLang take it.
    await make('ok', { model: 'chosen' }).chat({ messages: [{ role: 'user', content: 'x' }], thinking: true });
    const thinking = seen.filter((s) => s.url === '/ok/v1/chat/completions').at(-1)!;
    assert.deepEqual((thinking.body as Record<string, unknown>).chat_template_kwargs, { thinking: true });
  });

  test('complete: prompt + suffix for FIM, no suffix when raw, usage and cached tokens', T, async () => {
    // fimFormat "suffix": the wire shape of that way (remote-fim.test.ts covers how one is chosen).
    const b = make('ok', { model: 'coder', fimFormat: 'suffix' });
    const r = await b.complete({ prefix: 'def add(a, b):\n    ', suffix: '\n', maxTokens: 20, stop: ['\n\n'] });
    assert.equal(r.text, 'return a + b');
    assert.equal(r.finishReason, 'stop');
    assert.deepEqual([r.usage.promptTokens, r.usage.completionTokens, r.usage.cachedTokens], [11, 5, 8]);
    const fim = seen.filter((s) => s.url === '/ok/v1/completions').at(-1)!;
    assert.deepEqual(fim.body, { model: 'coder', prompt: 'def add(a, b):\n    ', suffix: '\n', max_tokens: 20, temperature: 0, stop: ['\n\n'], stream: false });
    await b.complete({ prefix: 'x = ', suffix: 'ignored', raw: true });
    const raw = seen.filter((s) => s.url === '/ok/v1/completions').at(-1)!;
    assert.equal(raw.body!.suffix, undefined);
    assert.equal(raw.body!.max_tokens, 128);
  });

  test('headers later than the timeout: "timeout" in about timeoutMs, not a hang', T, async () => {
    const t0 = performance.now();
    const e = await rejection(make('slow', { model: 'm' }).chat(ask));
    const took = performance.now() - t0;
    assert.equal(e.code, 'timeout');
    assert.match(e.message, /http:\/\/127\.0\.0\.1:\d+\/slow\/v1 did not answer within 0\.3 s/);
    assert.ok(took >= 280 && took < 1500, `took ${took.toFixed(0)} ms`);
    const c = await rejection(make('slow', { model: 'm' }).complete({ prefix: 'a', suffix: '' }));
    assert.equal(c.code, 'timeout');
  });

  test('a stream that stalls: idle timeout, the partial text kept', T, async () => {
    const c = collect();
    const t0 = performance.now();
    const e = await rejection(make('stall', { model: 'm' }).chat(ask, c.onDelta));
    const took = performance.now() - t0;
    assert.equal(e.code, 'timeout');
    assert.match(e.message, /nothing for 0\.3 s/);
    assert.ok(took < 1500, `took ${took.toFixed(0)} ms`);
    assert.ok(e instanceof PartialAnswerError);
    assert.equal(e.partial, 'Hel');
    assert.equal(c.content(), 'Hel');
  });

  test('the timeout bounds silence, not length: a long steady stream completes', T, async () => {
    const t0 = performance.now();
    const r = await make('long', { model: 'm' }).chat(ask);
    assert.ok(performance.now() - t0 > 600);
    assert.deepEqual([r.text, r.finishReason], ['.'.repeat(40), 'stop']);
    assert.ok(r.usage.decodeMs > 500 && r.usage.prefillMs < 300, JSON.stringify(r.usage));
  });

  test('a connection closed before any answer is tried once more; closed again, it is "dropped"', T, async () => {
    const from = seen.length;
    const r = await make('resetonce', { model: 'm', fimFormat: 'suffix' }).complete({ prefix: 'a', suffix: '' });
    assert.equal(r.text, 'ok');
    assert.equal(seen.slice(from).filter((s) => s.url === '/resetonce/v1/completions').length, 2);
    const e = await rejection(make('reset', { model: 'm', fimFormat: 'suffix' }).complete({ prefix: 'a', suffix: '' }));
    assert.equal(e.code, 'dropped');
    assert.match(e.message, /\/reset\/v1 closed the connection before answering/);
  });

  test('the connection dropped mid-stream: "dropped" with the partial text', T, async () => {
    const c = collect();
    const e = await rejection(make('drop', { model: 'm' }).chat(ask, c.onDelta));
    assert.equal(e.code, 'dropped');
    assert.match(e.message, /\/drop\/v1 dropped the connection in the middle of the answer/);
    assert.ok(e instanceof PartialAnswerError);
    assert.equal(e.partial, 'Hello');
    assert.equal(c.content(), 'Hello');
  });

  test('a clean end without finish_reason or [DONE] is "dropped"; with finish_reason it is complete', T, async () => {
    const e = await rejection(make('truncated', { model: 'm' }).chat(ask));
    assert.equal(e.code, 'dropped');
    assert.equal((e as PartialAnswerError).partial, 'half an ans');
    const r = await make('nodone', { model: 'm' }).chat(ask);
    assert.deepEqual([r.text, r.finishReason], ['ok', 'length']);
  });

  test('HTTP errors carry the status and the server message; 401 names the key command', T, async () => {
    const e401 = await rejection(make('unauthorized', { model: 'm', apiKey: 'sk-very-secret' }).chat(ask));
    assert.equal(e401.code, 'http');
    assert.equal(e401.status, 401);
    assert.match(e401.message, /Invalid API key provided\./);
    assert.match(e401.message, /Switchyard: Set Remote API Key/);
    assert.doesNotMatch(e401.message, /sk-very-secret/);
    const badKey = await rejection(make('ok', { model: 'm', apiKey: 'sk-with space' }).chat(ask));
    assert.match(badKey.message, /Set Remote API Key/);
    assert.doesNotMatch(badKey.message, /sk-with/);

    const e500 = await rejection(make('broken', { model: 'm' }).complete({ prefix: 'a', suffix: '' }));
    assert.deepEqual([e500.code, e500.status], ['http', 500]);
    assert.match(e500.message, /\/broken\/v1 answered 500 Internal Server Error to POST \/completions: engine crashed: out of memory/);

    const e404 = await rejection(make('missing', { model: 'm1' }).chat(ask));
    assert.deepEqual([e404.code, e404.status], ['http', 404]);
    assert.match(e404.message, /The model `m1` does not exist\./);
    assert.match(e404.message, /switchyard\.remote\.endpoint/);

    const e502 = await rejection(make('html', { model: 'm' }).chat(ask));
    assert.deepEqual([e502.code, e502.status], ['http', 502]);
    assert.doesNotMatch(e502.message, /<html>/);

    const inband = await rejection(make('inband', { model: 'm' }).chat(ask));
    assert.equal(inband.code, 'http');
    assert.match(inband.message, /CUDA out of memory/);
    assert.equal((inband as PartialAnswerError).partial, 'par');
  });

  test('answers that are not JSON: "bad-response"', T, async () => {
    const a = await rejection(make('notjson', { model: 'm' }).complete({ prefix: 'a', suffix: '' }));
    assert.equal(a.code, 'bad-response');
    assert.match(a.message, /not JSON.*hello, I am not an API/);
    const b = await rejection(make('notjson', { model: 'm' }).chat(ask));
    assert.equal(b.code, 'bad-response');
    assert.match(b.message, /text\/plain/);
    const c = await rejection(make('badsse', { model: 'm' }).chat(ask));
    assert.equal(c.code, 'bad-response');
    assert.match(c.message, /stream event that is not JSON/);
  });

  test('no model listed, or no /models route: "no-model"', T, async () => {
    const a = await rejection(make('nomodels').chat(ask));
    assert.equal(a.code, 'no-model');
    assert.match(a.message, /lists no models.*switchyard\.remote\.model/);
    const b = await rejection(make('nomodelroute').complete({ prefix: 'a', suffix: '' }));
    assert.equal(b.code, 'no-model');
  });

  test('connection refused, and an invalid URL: "unreachable" naming the endpoint and the setting', T, async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const freePort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const e = await rejection(new RemoteBackend({ endpoint: `http://127.0.0.1:${freePort}/v1`, timeoutMs: 2000, contextLength: 1 }).chat(ask));
    assert.equal(e.code, 'unreachable');
    assert.equal(e.message, `Cannot reach the remote endpoint http://127.0.0.1:${freePort}/v1: connection refused. Check switchyard.remote.endpoint.`);
    const bad = await rejection(new RemoteBackend({ endpoint: 'localhost:8000/v1', model: 'm', timeoutMs: 2000, contextLength: 1 }).complete({ prefix: '', suffix: '' }));
    assert.equal(bad.code, 'unreachable');
    assert.match(bad.message, /not a valid http\(s\) URL/);
  });

  test('reasoning_content / reasoning deltas are reasoning; content after them is content as sent', T, async () => {
    const c = collect();
    const r = await make('reasoning', { model: 'm' }).chat(ask, c.onDelta);
    assert.equal(r.reasoning, 'First, think. (newer vLLM field)');
    assert.equal(r.text, 'The answer is <think>42</think>.');
    assert.equal(c.reasoning(), r.reasoning);
    assert.equal(c.content(), r.text);
    assert.ok(c.deltas.every((d) => (d.content === undefined) !== (d.reasoning === undefined)));
  });

  test('inline <think> in content, tags cut across chunks, is split with the engine ReasoningSplitter', T, async () => {
    const c = collect();
    const r = await make('think', { model: 'm' }).chat(ask, c.onDelta);
    assert.equal(r.reasoning, 'Let me see.');
    assert.equal(r.text, '\n\nIt is 42.</think> ok');
    assert.equal(c.reasoning(), r.reasoning);
    assert.equal(c.content(), r.text);
    assert.ok(!c.deltas.some((d) => /<\/?th/.test(d.reasoning ?? '')));
  });

  test('a server that ignores stream: true still works', T, async () => {
    const c = collect();
    const r = await make('json', { model: 'm' }).chat(ask, c.onDelta);
    assert.deepEqual([r.reasoning, r.text, r.finishReason, r.usage.promptTokens], ['hm', 'Plain.', 'stop', 4]);
    assert.equal(c.content(), 'Plain.');
  });

  test('abort: "cancelled" with the partial text, and the HTTP request is really closed', T, async () => {
    const ac = new AbortController();
    const c = collect();
    const onDelta = (d: ChatDeltaParams) => {
      c.onDelta(d);
      if (c.deltas.length === 5) ac.abort();
    };
    const before = closedEarly.length;
    const r = await make('forever', { model: 'm' }).chat(ask, onDelta, ac.signal);
    assert.equal(r.finishReason, 'cancelled');
    assert.equal(r.text, '0 1 2 3 4 ');
    assert.equal(c.content(), r.text);
    const until = Date.now() + 2000;
    while (closedEarly.length === before && Date.now() < until) await sleep(10);
    assert.ok(closedEarly.slice(before).includes('/forever/v1/chat/completions'), 'the server saw the connection close');

    // Aborted while waiting for the headers, and before starting: no rejection either.
    const ac2 = new AbortController();
    setTimeout(() => ac2.abort(), 50);
    const slow = await make('slow', { model: 'm', timeoutMs: 5000 }).chat(ask, undefined, ac2.signal);
    assert.equal(slow.finishReason, 'cancelled');
    const pre = await make('ok').complete({ prefix: 'a', suffix: '' }, AbortSignal.abort());
    assert.deepEqual([pre.text, pre.finishReason], ['', 'cancelled']);
  });

  test('an injected fetch is used (and cannot hang the backend by ignoring the signal)', T, async () => {
    let calls = 0;
    const never: typeof fetch = () => {
      calls++;
      return new Promise<Response>(() => {});
    };
    const e = await rejection(new RemoteBackend({ endpoint: 'http://example.invalid/v1', model: 'm', timeoutMs: 100, contextLength: 1, fetch: never }).chat(ask));
    assert.equal(calls, 1);
    assert.equal(e.code, 'timeout');
  });
});

describe('SseParser', () => {
  test('line ends, pieces cut anywhere, comments, multi-line data, BOM, an unterminated last event', () => {
    const stream = '\uFEFF: ping\r\nevent: delta\r\ndata: {"a":\r\ndata:1}\r\nid: 7\r\n\r\ndata:x\r\rdata: y\n\ndata: [DONE]';
    for (let cut = 1; cut <= 4; cut++) {
      const p = new SseParser();
      const evs = [];
      for (let i = 0; i < stream.length; i += cut) evs.push(...p.push(stream.slice(i, i + cut)));
      evs.push(...p.end());
      assert.deepEqual(evs, [
        { event: 'delta', data: '{"a":\n1}', id: '7' },
        { event: 'message', data: 'x' },
        { event: 'message', data: 'y' },
        { event: 'message', data: '[DONE]' },
      ], `pieces of ${cut}`);
    }
  });
});
