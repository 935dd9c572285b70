/**
 * `engine serve` as a user runs it (a child process on 127.0.0.1, real HTTP), driven by the
 * official `openai` npm client plus raw fetch for error shapes and SSE framing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import OpenAI from 'openai';
import { startServe, type Served } from '../../helpers/serve.ts';
import { tinyModel } from '../../helpers/tiny-model.ts';

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-http-'));
const model = tinyModel('qwen2.5-coder');
let server: Served | undefined;
let base = '';
let client: OpenAI;

before(async () => {
  server = await startServe(model, ['--context', '4096', '--cache-dir', cacheDir, '--model-id', 'tiny']);
  base = server.base;
  client = new OpenAI({ baseURL: base, apiKey: 'not-needed', maxRetries: 0 });
});

after(() => {
  server?.stop();
  fs.rmSync(cacheDir, { recursive: true, force: true });
});

const CODE = 'def add(a, b):\n    return a + b\n\n';

describe('OpenAI-compatible server', () => {
  test('binds 127.0.0.1 and lists the model', async () => {
    assert.match(base, /^http:\/\/127\.0\.0\.1:/);
    const models = await client.models.list();
    assert.deepEqual(models.data.map((m) => m.id), ['tiny']);
  });

  test('chat completion with usage, and streaming that adds up to the same text', async () => {
    const req = { model: 'tiny', messages: [{ role: 'user' as const, content: 'Write hello world in Python.' }], max_tokens: 20, temperature: 0 };
    const r = await client.chat.completions.create(req);
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices[0]!.message.role, 'assistant');
    assert.ok(r.usage!.prompt_tokens > 5);
    assert.equal(r.usage!.total_tokens, r.usage!.prompt_tokens + r.usage!.completion_tokens);
    assert.ok(['stop', 'length'].includes(r.choices[0]!.finish_reason));

    const stream = await client.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let chunks = 0;
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const c of stream) {
      chunks++;
      if (c.usage) usage = c.usage;
      const ch = c.choices[0];
      if (!ch) continue;
      text += ch.delta.content ?? '';
      if (ch.finish_reason) finish = ch.finish_reason;
    }
    assert.ok(chunks > 3);
    assert.equal(text, r.choices[0]!.message.content);
    assert.equal(finish, r.choices[0]!.finish_reason);
    assert.equal(usage?.completion_tokens, r.usage!.completion_tokens);
  });

  test('completions: plain prompt and prompt + suffix (fill-in-the-middle), streamed too', async () => {
    const plain = await client.completions.create({ model: 'tiny', prompt: CODE, max_tokens: 12, temperature: 0 });
    assert.equal(plain.object, 'text_completion');
    const fim = await client.completions.create({ model: 'tiny', prompt: CODE, suffix: '\nprint(add(1, 2))\n', max_tokens: 12, temperature: 0 });
    assert.ok(fim.usage!.prompt_tokens > plain.usage!.prompt_tokens, 'the FIM layout adds the suffix and FIM tokens');
    const stream = await client.completions.create({ model: 'tiny', prompt: CODE, suffix: '\nprint(add(1, 2))\n', max_tokens: 12, temperature: 0, stream: true });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.text ?? '';
    assert.equal(text, fim.choices[0]!.text);
  });

  test('errors are OpenAI error objects', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'tiny', messages: [], max_tokens: 4 }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && /messages/.test(e.message),
    );
    await assert.rejects(
      client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x' }], temperature: -1 }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && /temperature/.test(e.message),
    );
    await assert.rejects(
      client.completions.create({ model: 'tiny', prompt: CODE.repeat(400), max_tokens: 4 }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && (e as { code?: string }).code === 'context_length_exceeded',
    );
    // max_tokens beyond the context (4096 here) or below 1 is refused at once, naming the parameter.
    for (const max_tokens of [100000, 0, 2.5]) {
      const t0 = Date.now();
      const r = await fetch(`${base}/completions`, { method: 'POST', body: JSON.stringify({ model: 'tiny', prompt: 'x', max_tokens }), headers: { 'content-type': 'application/json' } });
      assert.equal(r.status, 400, `max_tokens ${max_tokens}`);
      const e = (await r.json()) as { error: { message: string; type: string; param: string } };
      assert.equal(e.error.type, 'invalid_request_error');
      assert.equal(e.error.param, 'max_tokens');
      assert.match(e.error.message, max_tokens === 100000 ? /context of 4096 tokens/ : /at least 1/);
      assert.ok(Date.now() - t0 < 5000, 'refused without generating');
    }
    await assert.rejects(
      client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x' }], max_completion_tokens: 5000 }),
      (e: unknown) => e instanceof OpenAI.BadRequestError && /max_completion_tokens/.test(e.message),
    );
    const bad = await fetch(`${base}/chat/completions`, { method: 'POST', body: '{not json', headers: { 'content-type': 'application/json' } });
    assert.equal(bad.status, 400);
    const body = (await bad.json()) as { error: { message: string; type: string } };
    assert.equal(body.error.type, 'invalid_request_error');
    assert.match(body.error.message, /not valid JSON/);
    const missing = await fetch(`${base}/embeddings`, { method: 'POST', body: '{}' });
    assert.equal(missing.status, 404);
  });

  test('50 concurrent completions and a streaming chat all finish correctly, within the cache budget', async () => {
    const prompts = Array.from({ length: 50 }, (_, i) => `${CODE}# case ${i % 10}\nx${i % 10} = `);
    // Expected outputs, one at a time (greedy: concurrency must not change a single token).
    const expected = new Map<string, string>();
    for (const p of new Set(prompts)) {
      expected.set(p, (await client.completions.create({ model: 'tiny', prompt: p, max_tokens: 8, temperature: 0 })).choices[0]!.text);
    }
    const chatReq = { model: 'tiny', messages: [{ role: 'user' as const, content: 'Explain closures.' }], max_tokens: 40, temperature: 0 };
    const chatExpected = (await client.chat.completions.create(chatReq)).choices[0]!.message.content;
    const rssBefore = Number((await (await fetch(`${base.replace(/\/v1$/, '')}/health`)).json() as { rss?: number }).rss ?? 0);

    const chat = (async () => {
      let text = '';
      for await (const c of await client.chat.completions.create({ ...chatReq, stream: true })) text += c.choices[0]?.delta.content ?? '';
      return text;
    })();
    const results = await Promise.all(prompts.map((p) => client.completions.create({ model: 'tiny', prompt: p, max_tokens: 8, temperature: 0 })));
    results.forEach((r, i) => assert.equal(r.choices[0]!.text, expected.get(prompts[i]!), `request ${i}`));
    assert.equal(await chat, chatExpected);

    const health = (await (await fetch(`${base.replace(/\/v1$/, '')}/health`)).json()) as { cache: { bytes: number; budgetBytes: number }; rss: number };
    assert.ok(health.cache.bytes <= health.cache.budgetBytes);
    assert.ok(rssBefore === 0 || health.rss - rssBefore < 512 * 1024 ** 2, `RSS grew by ${((health.rss - rssBefore) / 1024 ** 2).toFixed(0)} MiB`);
  });
});
