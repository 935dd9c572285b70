/**
 * DeepSeek-V4 prompts through the engine service's real protocol (a child process, JSON-RPC over
 * stdio): a V4 chat (thinking and non-thinking) and a V4 fill-in-the-middle request. The model is
 * a tiny random-weight DeepSeek-V4 checkpoint (the real V4 graph, test/helpers/tiny-v4-model.ts)
 * with a tokenizer that has V4's special tokens and no chat_template (test/helpers/v4-tokenizer.ts);
 * the service picks V4's encoding from the tokens. Random weights give nonsense text, so the tests
 * check the prompts (token counts against the renderer) and where the output goes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineClient } from '../../../engine/protocol/client.ts';
import type { ChatDeltaParams } from '../../../engine/protocol/protocol.ts';
import { loadTokenizer, type EngineTokenizer } from '../../../engine/tokenizer/tokenizer.ts';
import { renderDeepSeekV4 } from '../../../engine/prompt/deepseek-v4.ts';
import { buildFimPrompt, detectFimFormat } from '../../../engine/prompt/fim.ts';
import { repoDir } from '../../helpers/paths.ts';
import { tinyV4Model } from '../../helpers/tiny-v4-model.ts';

const MAIN = path.join(repoDir(), 'engine', 'service', 'main.ts');
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-v4-prompts-'));
const model = tinyV4Model();
let engine: EngineClient;
let tok: EngineTokenizer;

before(async () => {
  tok = await loadTokenizer(model);
  engine = EngineClient.spawn({ args: ['--import', 'tsx', MAIN], cwd: repoDir() });
  await engine.initialize('test');
  const info = await engine.loadModel({ model, cacheDir, providers: ['cpu'], contextLength: 2048 });
  assert.equal(info.fimFormat, 'deepseek-coder');
  assert.equal(info.hasChatTemplate, false);
});

after(() => {
  engine?.kill();
  fs.rmSync(cacheDir, { recursive: true, force: true });
});

const QUESTION = [{ role: 'user' as const, content: 'Write a function that reverses a string.' }];

describe('DeepSeek-V4 prompts over JSON-RPC', () => {
  test('a non-thinking chat: the V4 prompt, every delta content', async () => {
    const deltas: ChatDeltaParams[] = [];
    const r = await engine.chat({ messages: QUESTION, maxTokens: 12 }, (d) => deltas.push(d));
    assert.equal(r.usage.promptTokens, renderDeepSeekV4(tok, QUESTION, { thinking: false }).ids.length);
    assert.ok(r.usage.completionTokens > 0);
    assert.ok(r.text.length > 0);
    assert.equal(r.reasoning, '');
    assert.ok(deltas.every((d) => d.reasoning === undefined));
    assert.equal(deltas.map((d) => d.content ?? '').join(''), r.text);
  });

  test('a thinking chat: the prompt opens <think>, so the output streams as reasoning, apart from the answer', async () => {
    const deltas: ChatDeltaParams[] = [];
    const r = await engine.chat({ messages: QUESTION, maxTokens: 12, thinking: true }, (d) => deltas.push(d));
    const prompt = renderDeepSeekV4(tok, QUESTION, { thinking: true });
    assert.equal(r.usage.promptTokens, prompt.ids.length);
    assert.ok(r.reasoning.length > 0, 'reasoning streamed');
    assert.equal(deltas.map((d) => d.reasoning ?? '').join(''), r.reasoning);
    assert.equal(deltas.map((d) => d.content ?? '').join(''), r.text);
    assert.ok(deltas.some((d) => d.reasoning !== undefined));
  });

  test("a follow-up turn drops the earlier answer's reasoning and reuses the cached conversation", async () => {
    const first = await engine.chat({ messages: QUESTION, maxTokens: 8 });
    const history = [
      ...QUESTION,
      { role: 'assistant' as const, content: first.text, reasoning: 'some earlier reasoning' },
      { role: 'user' as const, content: 'Now in Rust.' },
    ];
    const withoutReasoning = history.map(({ role, content }) => ({ role, content }));
    const r = await engine.chat({ messages: history, maxTokens: 4, thinking: true });
    assert.equal(r.usage.promptTokens, renderDeepSeekV4(tok, withoutReasoning, { thinking: true }).ids.length);
    assert.equal(r.usage.promptTokens, renderDeepSeekV4(tok, history, { thinking: true }).ids.length);
    assert.notEqual(
      renderDeepSeekV4(tok, history, { thinking: true, dropThinking: false }).ids.length,
      r.usage.promptTokens,
      'keeping the reasoning would have made a longer prompt',
    );
    // The first turn's prompt is a prefix of the follow-up's (non-thinking turns open with </think>
    // either way), so the prefix cache serves at least all of it.
    const second = await engine.chat({ messages: withoutReasoning, maxTokens: 4 });
    assert.ok(second.usage.cachedTokens >= first.usage.promptTokens - 1, `cached ${second.usage.cachedTokens} of ${first.usage.promptTokens}`);
  });

  test("a fill-in-the-middle request in V4's layout, found from its tokens", async () => {
    const prefix = 'def reverse(s):\n    return ';
    const suffix = '\n\nprint(reverse("abc"))\n';
    const fim = buildFimPrompt(detectFimFormat(tok)!, { prefix, suffix });
    assert.equal(fim.ids[1], tok.tokenToId('<｜fim▁begin｜>'));
    const r = await engine.complete({ prefix, suffix, maxTokens: 8 });
    assert.equal(r.usage.promptTokens, fim.ids.length);
    assert.ok(r.usage.completionTokens > 0);
  });

  test('bad thinking and reasoning values are refused with a message naming them', async () => {
    await assert.rejects(engine.chat({ messages: QUESTION, thinking: 'yes' as never }), /thinking must be a boolean/);
    await assert.rejects(
      engine.chat({ messages: [{ role: 'assistant', content: 'a', reasoning: 3 as never }, ...QUESTION] }),
      /messages\[0\]\.reasoning must be a string/,
    );
  });
});
