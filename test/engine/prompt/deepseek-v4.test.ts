/**
 * DeepSeek-V4 prompts: the chat encoding (golden renderings written by hand from the rules of
 * DeepSeek's encoding/encoding_dsv4.py: render_message, merge_tool_messages, _drop_thinking_messages,
 * encode_messages; Python cannot run DeepSeek's file here), its choice from the tokenizer and
 * config.json, FIM with V4's token texts, and reasoning split from the answer. Tokenizer: the real
 * DeepSeek-Coder V1 tokenizer.json with V4's chat tokens added (test/helpers/v4-tokenizer.ts).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadTokenizer, type EngineTokenizer } from '../../../engine/tokenizer/tokenizer.ts';
import {
  detectDeepSeekV4Chat,
  renderDeepSeekV4,
  renderDeepSeekV4Text,
  type DeepSeekV4Message,
} from '../../../engine/prompt/deepseek-v4.ts';
import { buildFimPrompt, detectFimFormat } from '../../../engine/prompt/fim.ts';
import { ReasoningSplitter, type ReasoningDelta } from '../../../engine/prompt/reasoning.ts';
import { encodePlainText } from '../../../engine/prompt/plain-text.ts';
import { buildChatPrompt, buildCompletionPrompt, detectFormats } from '../../../engine/service/prompts.ts';
import { sharedDir } from '../../helpers/paths.ts';
import { writeV4Tokenizer } from '../../helpers/v4-tokenizer.ts';

const BOS = '<｜begin▁of▁sentence｜>';
const EOS = '<｜end▁of▁sentence｜>';
const U = '<｜User｜>';
const A = '<｜Assistant｜>';

const HISTORY: DeepSeekV4Message[] = [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: 'hello' },
  { role: 'assistant', content: 'Hello! I am DeepSeek.', reasoning: 'The user greets me.' },
  { role: 'user', content: '1+1=?' },
];

describe('DeepSeek-V4 chat encoding: golden renderings from encoding_dsv4.py', () => {
  test('non-thinking: BOS, the system text bare, the user turn, then <｜Assistant｜></think>', () => {
    const t = renderDeepSeekV4Text([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Write hello world in C.' },
    ]);
    assert.equal(t, `${BOS}Be brief.${U}Write hello world in C.${A}</think>`);
  });

  test('thinking: the prompt ends with <｜Assistant｜><think>', () => {
    assert.equal(renderDeepSeekV4Text([{ role: 'user', content: '1+1=?' }], { thinking: true }), `${BOS}${U}1+1=?${A}<think>`);
  });

  test('thinking, multi-turn: earlier reasoning dropped, the earlier turn opened with </think>', () => {
    assert.equal(
      renderDeepSeekV4Text(HISTORY, { thinking: true }),
      `${BOS}You are a helpful assistant.${U}hello${A}</think>Hello! I am DeepSeek.${EOS}${U}1+1=?${A}<think>`,
    );
  });

  test('thinking with dropThinking false keeps earlier reasoning inside <think>...</think>', () => {
    assert.equal(
      renderDeepSeekV4Text(HISTORY, { thinking: true, dropThinking: false }),
      `${BOS}You are a helpful assistant.${U}hello${A}<think>The user greets me.</think>Hello! I am DeepSeek.${EOS}${U}1+1=?${A}<think>`,
    );
  });

  test('non-thinking, multi-turn: no reasoning anywhere, every turn opened with </think>', () => {
    assert.equal(
      renderDeepSeekV4Text(HISTORY),
      `${BOS}You are a helpful assistant.${U}hello${A}</think>Hello! I am DeepSeek.${EOS}${U}1+1=?${A}</think>`,
    );
  });

  test('an assistant message after the last user one keeps its reasoning (thinking) and ends with EOS', () => {
    const msgs: DeepSeekV4Message[] = [
      { role: 'user', content: 'q' },
      { role: 'assistant', content: 'a', reasoning: 'r' },
    ];
    assert.equal(renderDeepSeekV4Text(msgs, { thinking: true }), `${BOS}${U}q${A}<think>r</think>a${EOS}`);
    assert.equal(renderDeepSeekV4Text(msgs), `${BOS}${U}q${A}</think>a${EOS}`);
  });

  test('consecutive user messages are one turn, joined by a blank line; a system message between turns stays bare', () => {
    assert.equal(
      renderDeepSeekV4Text([
        { role: 'user', content: 'first' },
        { role: 'user', content: 'second' },
      ]),
      `${BOS}${U}first\n\nsecond${A}</think>`,
    );
    assert.equal(
      renderDeepSeekV4Text([
        { role: 'user', content: 'a' },
        { role: 'system', content: 'S' },
        { role: 'user', content: 'b' },
      ]),
      `${BOS}${U}aS${U}b${A}</think>`,
    );
  });

  test('bad input gets an error naming the message', () => {
    assert.throws(() => renderDeepSeekV4Text([]), /no messages/);
    assert.throws(() => renderDeepSeekV4Text([{ role: 'tool', content: 'x' } as never]), /messages\[0\]\.role/);
    assert.throws(() => renderDeepSeekV4Text([{ role: 'user', content: 3 } as never]), /messages\[0\]\.content must be a string/);
    assert.throws(
      () => renderDeepSeekV4Text([{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a', reasoning: 1 } as never]),
      /messages\[1\]\.reasoning/,
    );
  });
});

describe('DeepSeek-V4 prompts with a tokenizer that has its tokens', () => {
  let tmp: string;
  let tok: EngineTokenizer;
  before(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'switchyard-v4-prompts-'));
    tok = await loadTokenizer(writeV4Tokenizer(path.join(tmp, 'v4')));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test("the encoding is chosen from the tokens when there is no chat_template, never from the model's name", async () => {
    assert.deepEqual(detectDeepSeekV4Chat(tok), { use: true });
    assert.equal(detectFormats(tok).chat, 'deepseek-v4');
    // A tokenizer with a chat_template keeps its template, whatever config.json says.
    const coder = await loadTokenizer(path.join(sharedDir(), 'tokenizers', 'deepseek-coder-v1'));
    assert.deepEqual(detectDeepSeekV4Chat(coder, 'deepseek_v4'), { use: false });
    assert.equal(detectFormats(coder).chat, 'template');
    const qwen = await loadTokenizer(path.join(sharedDir(), 'tokenizers', 'qwen2.5-coder'));
    assert.equal(detectFormats(qwen, 'qwen2').chat, 'template');
  });

  test('config.json model_type deepseek_v4 with a tokenizer lacking the tokens: a note naming them, and the fallback', async () => {
    // The real Coder V1 files without the chat_template: V4's BOS/EOS texts but none of its chat tokens.
    const dir = path.join(tmp, 'coder-no-template');
    mkdirSync(dir);
    const src = path.join(sharedDir(), 'tokenizers', 'deepseek-coder-v1');
    copyFileSync(path.join(src, 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
    const cfg = JSON.parse(readFileSync(path.join(src, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    delete cfg.chat_template;
    writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(cfg));
    const noTemplate = await loadTokenizer(dir);
    const d = detectDeepSeekV4Chat(noTemplate, 'deepseek_v4');
    assert.equal(d.use, false);
    assert.match(d.note!, /deepseek_v4 but the tokenizer lacks <｜User｜> <｜Assistant｜> <think> <\/think>/);
    assert.deepEqual(detectDeepSeekV4Chat(noTemplate, 'deepseek_v3'), { use: false });
    const f = detectFormats(noTemplate, 'deepseek_v4');
    assert.equal(f.chat, 'template');
    assert.match(buildChatPrompt(f, noTemplate, [{ role: 'user', content: 'hi' }]).fallback!, /lacks <｜User｜>.*no chat_template/);
  });

  test('the rendered prompt encodes every special token as its one id, BOS once, the user text as text', () => {
    const r = renderDeepSeekV4(tok, HISTORY, { thinking: true });
    const id = (t: string) => tok.tokenToId(t)!;
    const expected = [
      id(BOS),
      ...encodePlainText(tok, 'You are a helpful assistant.'),
      id(U),
      ...encodePlainText(tok, 'hello'),
      id(A),
      id('</think>'),
      ...encodePlainText(tok, 'Hello! I am DeepSeek.'),
      id(EOS),
      id(U),
      ...encodePlainText(tok, '1+1=?'),
      id(A),
      id('<think>'),
    ];
    assert.deepEqual(r.ids, expected);
    assert.equal(tok.decode(r.ids), r.text);
  });

  test('buildChatPrompt: thinking streams reasoning apart from the answer; non-thinking is all answer', () => {
    const f = detectFormats(tok, 'deepseek_v4');
    const msgs = [{ role: 'user' as const, content: '1+1=?' }];
    const think = buildChatPrompt(f, tok, msgs, { thinking: true });
    assert.equal(think.ids.at(-1), tok.tokenToId('<think>'));
    assert.equal(think.fallback, undefined);
    assert.ok(think.stopIds.includes(tok.tokenToId(EOS)!));
    // The answer as the model streams it, cut inside the closing tag.
    const deltas: ReasoningDelta[] = [];
    for (const d of ['One plus one', ' is two.</th', 'ink>The answer', ' is 2. <think> stays']) deltas.push(...think.reasoning.push(d));
    deltas.push(...think.reasoning.flush());
    assert.equal(deltas.map((d) => d.reasoning ?? '').join(''), 'One plus one is two.');
    assert.equal(deltas.map((d) => d.content ?? '').join(''), 'The answer is 2. <think> stays');

    const direct = buildChatPrompt(f, tok, msgs, { thinking: false });
    assert.equal(direct.ids.at(-1), tok.tokenToId('</think>'));
    assert.equal(direct.ids.at(-2), tok.tokenToId(A));
    const out = [...direct.reasoning.push('Use <think> tags? No: '), ...direct.reasoning.push('2.'), ...direct.reasoning.flush()];
    assert.deepEqual(out, [{ content: 'Use <think> tags? No: ' }, { content: '2.' }]);
    // The default is non-thinking.
    assert.deepEqual(buildChatPrompt(f, tok, msgs).ids, direct.ids);
  });

  test("FIM uses V4's tokens found in the tokenizer: BOS <｜fim▁begin｜> prefix <｜fim▁hole｜> suffix <｜fim▁end｜>", () => {
    const fmt = detectFimFormat(tok)!;
    const id = (t: string) => tok.tokenToId(t)!;
    assert.equal(fmt.ids.prefix, id('<｜fim▁begin｜>'));
    assert.equal(fmt.ids.suffix, id('<｜fim▁hole｜>'));
    assert.equal(fmt.ids.middle, id('<｜fim▁end｜>'));
    assert.ok(fmt.stopIds.includes(id(EOS)));
    const prefix = 'def add(a, b):\n    return ';
    const suffix = '\n\nprint(add(1, 2))\n';
    const p = buildFimPrompt(fmt, { prefix, suffix });
    assert.deepEqual(p.ids, [
      id(BOS),
      id('<｜fim▁begin｜>'),
      ...encodePlainText(tok, prefix),
      id('<｜fim▁hole｜>'),
      ...encodePlainText(tok, suffix),
      id('<｜fim▁end｜>'),
    ]);
    // Through the service's prompt builder too, with the FIM stop ids.
    const c = buildCompletionPrompt(detectFormats(tok, 'deepseek_v4'), tok, { prefix, suffix });
    assert.deepEqual(c.ids, p.ids);
    assert.ok(c.stopIds.includes(id('<｜fim▁end｜>')));
  });
});

test('ReasoningSplitter: reasoningClosed and startInReasoning exclude each other', () => {
  assert.throws(() => new ReasoningSplitter({ startInReasoning: true, reasoningClosed: true }), /exclude/);
});
