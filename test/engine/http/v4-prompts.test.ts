/**
 * DeepSeek-V4 prompts through `engine serve` (a child process on 127.0.0.1, real HTTP, the
 * official `openai` client): a V4 chat with vLLM's `chat_template_kwargs.thinking` switch and
 * `reasoning_content` apart from `content`, earlier reasoning dropped, and a V4 fill-in-the-middle
 * completion. Model: a tiny random-weight DeepSeek-V4 checkpoint (the real V4 graph,
 * test/helpers/tiny-v4-model.ts) with a V4-shaped tokenizer (test/helpers/v4-tokenizer.ts); the
 * checks are on prompts and where the output goes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import OpenAI from 'openai';
import { loadTokenizer, type EngineTokenizer } from '../../../engine/tokenizer/tokenizer.ts';
import { renderDeepSeekV4 } from '../../../engine/prompt/deepseek-v4.ts';
import { buildFimPrompt, detectFimFormat } from '../../../engine/prompt/fim.ts';
import { startServe, type Served } from '../../helpers/serve.ts';
import { tinyV4Model } from '../../helpers/tiny-v4-model.ts';

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-http-v4-'));
const model = tinyV4Model();
let server: Served | undefined;
let base = '';
let client: OpenAI;
let tok: EngineTokenizer;

before(async () => {
  tok = await loadTokenizer(model);
  server = await startServe(model, ['--context', '2048', '--cache-dir', cacheDir, '--model-id', 'v4']);
  base = server.base;
  client = new OpenAI({ baseURL: base, apiKey: 'not-needed', maxRetries: 0 });
});

after(() => {
  server?.stop();
  fs.rmSync(cacheDir, { recursive: true, force: true });
});

const QUESTION = [{ role: 'user' as const, content: 'Write a function that reverses a string.' }];
/** The OpenAI types lack vLLM's extension and DeepSeek's reasoning_content. */
type Loose = OpenAI.Chat.ChatCompletionCreateParamsNonStreaming & Record<string, unknown>;
type Message = OpenAI.Chat.ChatCompletionMessage & { reasoning_content?: string };

describe('DeepSeek-V4 prompts through engine serve', () => {
  test('non-thinking by default: the V4 prompt, content only', async () => {
    const r = await client.chat.completions.create({ model: 'v4', messages: QUESTION, max_tokens: 10, temperature: 0 });
    assert.equal(r.usage!.prompt_tokens, renderDeepSeekV4(tok, QUESTION).ids.length);
    const m = r.choices[0]!.message as Message;
    assert.ok((m.content ?? '').length > 0);
    assert.equal(m.reasoning_content, undefined);
  });

  test('chat_template_kwargs.thinking: reasoning_content streamed apart from content, the same as unstreamed', async () => {
    const req: Loose = { model: 'v4', messages: QUESTION, max_tokens: 10, temperature: 0, chat_template_kwargs: { thinking: true } };
    const r = await client.chat.completions.create(req);
    const m = r.choices[0]!.message as Message;
    assert.equal(r.usage!.prompt_tokens, renderDeepSeekV4(tok, QUESTION, { thinking: true }).ids.length);
    assert.ok((m.reasoning_content ?? '').length > 0);

    const stream = await client.chat.completions.create({ ...req, stream: true } as never as OpenAI.Chat.ChatCompletionCreateParamsStreaming);
    let reasoning = '';
    let content = '';
    for await (const c of stream) {
      const d = c.choices[0]?.delta as { content?: string | null; reasoning_content?: string } | undefined;
      reasoning += d?.reasoning_content ?? '';
      content += d?.content ?? '';
    }
    assert.equal(reasoning, m.reasoning_content);
    assert.equal(content, m.content ?? '');
  });

  test("an earlier answer's reasoning_content is dropped from the prompt, a continued answer's kept", async () => {
    const history = [
      ...QUESTION,
      { role: 'assistant' as const, content: 'def rev(s): return s[::-1]', reasoning_content: 'Slicing with step -1 reverses.' },
      { role: 'user' as const, content: 'Now in Rust.' },
    ];
    const plain = history.map(({ role, content }) => ({ role, content }));
    const req: Loose = { model: 'v4', messages: history as never, max_tokens: 2, temperature: 0, chat_template_kwargs: { thinking: true } };
    const r = await client.chat.completions.create(req);
    assert.equal(r.usage!.prompt_tokens, renderDeepSeekV4(tok, plain, { thinking: true }).ids.length);
    // After the last user message (an answer being continued) it is kept: the field was read.
    const open = history.slice(0, 2);
    const kept = await client.chat.completions.create({ ...req, messages: open as never });
    const asRendered = [QUESTION[0]!, { role: 'assistant' as const, content: history[1]!.content, reasoning: 'Slicing with step -1 reverses.' }];
    const withReasoning = renderDeepSeekV4(tok, asRendered, { thinking: true }).ids.length;
    assert.equal(kept.usage!.prompt_tokens, withReasoning);
    assert.ok(withReasoning > renderDeepSeekV4(tok, plain.slice(0, 2), { thinking: true }).ids.length);
  });

  test("completions with a suffix: fill-in-the-middle in V4's layout", async () => {
    const prefix = 'def reverse(s):\n    return ';
    const suffix = '\n\nprint(reverse("abc"))\n';
    const r = await client.completions.create({ model: 'v4', prompt: prefix, suffix, max_tokens: 8, temperature: 0 });
    assert.equal(r.usage!.prompt_tokens, buildFimPrompt(detectFimFormat(tok)!, { prefix, suffix }).ids.length);
  });

  test('a bad thinking switch is a 400 naming the parameter', async () => {
    const res = await fetch(`${base}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'v4', messages: QUESTION, chat_template_kwargs: { thinking: 'on' } }),
    });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { message: string; param: string } };
    assert.equal(body.error.param, 'chat_template_kwargs.thinking');
    assert.match(body.error.message, /must be a boolean/);
  });
});
