import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StreamDecoder } from '../../../engine/tokenizer/stream-decoder.ts';
import { loadTokenizer, type EngineTokenizer } from '../../../engine/tokenizer/tokenizer.ts';
import { sharedDir } from '../../helpers/paths.ts';

const TOK = path.join(sharedDir(), 'tokenizers');

const TEXTS = [
  'def greet(name: str) -> str:\n    return f"Hello, {name}!"  # 👋\n',
  '中文注释：计算两个数的和。日本語のコメント。한국어 주석.',
  'emoji: 🚀🔥 family 👨‍👩‍👧‍👦 flags 🇯🇵🇫🇷 skin 👍🏽 done',
  'Ünïcödé àccents, ½ ² ٣, “quotes” — dashes… and 𝟙𝟚𝟛',
  '   leading spaces\n\n\ttabs\r\nCRLF   trailing   ',
];

let deepseek: EngineTokenizer;
let qwen: EngineTokenizer;

before(async () => {
  [deepseek, qwen] = await Promise.all([
    loadTokenizer(path.join(TOK, 'deepseek-coder-v1')),
    loadTokenizer(path.join(TOK, 'qwen2.5-coder')),
  ]);
});

function stream(tok: EngineTokenizer, ids: number[], opts?: ConstructorParameters<typeof StreamDecoder>[1]) {
  const dec = new StreamDecoder(tok, opts);
  const chunks = ids.map((id) => dec.push(id));
  const tail = dec.flush();
  return { chunks, tail, text: chunks.join('') + tail };
}

describe('StreamDecoder on byte-level BPE (real tokenizers)', () => {
  for (const name of ['deepseek', 'qwen'] as const) {
    test(`${name}: concatenated chunks are exactly the text, no U+FFFD mid-stream`, () => {
      const tok = name === 'deepseek' ? deepseek : qwen;
      let heldBack = 0;
      for (const text of TEXTS) {
        const ids = tok.encode(text);
        assert.equal(tok.decode(ids), name === 'qwen' ? text.normalize('NFC') : text);
        const { chunks, tail, text: streamed } = stream(tok, ids);
        assert.equal(streamed, tok.decode(ids));
        assert.equal(tail, '', 'nothing left over for complete text');
        for (const c of chunks) assert.ok(!c.includes('\uFFFD'), `chunk ${JSON.stringify(c)} has U+FFFD`);
        heldBack += chunks.filter((c) => c === '').length;
      }
      // The texts do split characters across tokens, so the hold-back was exercised.
      assert.ok(heldBack > 5, `expected held-back tokens, got ${heldBack}`);
    });
  }

  test('a character split over byte tokens is emitted once, when complete', () => {
    // '🚀' is 4 UTF-8 bytes; in DeepSeek-Coder's vocabulary it is several byte tokens.
    const ids = deepseek.encode('a🚀');
    assert.ok(ids.length >= 3, 'emoji is split into byte tokens');
    const { chunks } = stream(deepseek, ids);
    assert.equal(chunks[0], 'a');
    assert.deepEqual(chunks.slice(1, -1), new Array(ids.length - 2).fill(''));
    assert.equal(chunks.at(-1), '🚀');
  });

  test('skipSpecialTokens drops BOS / EOS / <|im_end|> from the stream', () => {
    const body = qwen.encode('回答: 42 ✅');
    assert.equal(stream(qwen, [151644, ...body, 151645, 151643], { skipSpecialTokens: true }).text, '回答: 42 ✅');
    assert.equal(stream(qwen, [...body, 151645]).text, '回答: 42 ✅<|im_end|>');
    const ds = deepseek.encode('ok 👍');
    assert.equal(stream(deepseek, [32013, ...ds, 32021], { skipSpecialTokens: true }).text, 'ok 👍');
  });

  test('bytes that never form a character: emitted (as U+FFFD) at the limit or at flush, never lost', () => {
    // Byte-level token for the lone lead byte 0xE4: '你' is E4 BD A0; take its first byte token.
    const lead = deepseek.tokenToId('ä'); // byte-level alphabet: 0xE4 -> 'ä'
    assert.ok(lead !== undefined);
    assert.equal(deepseek.decode([lead]), '\uFFFD');
    const hello = deepseek.encode(' hello');
    const { chunks, text } = stream(deepseek, [lead, ...hello]);
    assert.equal(chunks[0], '', 'held back at first');
    assert.equal(text, '\uFFFD hello');
    // Incomplete at the end of the stream: flush gives it out.
    const dec = new StreamDecoder(deepseek);
    assert.equal(hello.map((id) => dec.push(id)).join(''), ' hello');
    assert.equal(dec.push(lead), '');
    assert.equal(dec.flush(), '\uFFFD');
    assert.equal(dec.flush(), '');
    // A long run of invalid bytes is not held forever.
    const dec2 = new StreamDecoder(deepseek, { maxPending: 3 });
    const out = [dec2.push(lead), dec2.push(lead), dec2.push(lead)];
    assert.deepEqual(out, ['', '', '\uFFFD\uFFFD\uFFFD']);
  });

  test('O(1) per token: each decode call sees a small window, not the whole sequence', () => {
    const calls: number[] = [];
    const counting: EngineTokenizer = Object.create(deepseek, {
      decode: {
        value: (ids: readonly number[], opts?: { skipSpecialTokens?: boolean }) => {
          calls.push(ids.length);
          return deepseek.decode(ids, opts);
        },
      },
    });
    const ids = deepseek.encode(TEXTS.join('\n').repeat(40));
    assert.ok(ids.length > 2000);
    const { text } = stream(counting, ids);
    assert.equal(text, deepseek.decode(ids));
    assert.ok(Math.max(...calls) <= 16, `largest window ${Math.max(...calls)}`);
    assert.ok(calls.length <= 3 * ids.length + 3, `${calls.length} decode calls for ${ids.length} tokens`);
  });
});

/**
 * A tiny SentencePiece-style tokenizer (Llama-2 decoder chain: '▁' -> ' ', byte fallback, fuse,
 * strip one leading space). Its decoder drops the leading space of the first token only, which is
 * what makes per-token decoding wrong and the prefix window necessary.
 */
describe('StreamDecoder on a SentencePiece-style decoder (leading-space handling)', () => {
  let tmp: string;
  let sp: EngineTokenizer;
  const vocab: Record<string, number> = {
    '<unk>': 0, '<s>': 1, '</s>': 2, '▁Hello': 3, '▁world': 4, '!': 5, '▁': 6, '<0xE4>': 7, '<0xBD>': 8, '<0xA0>': 9, 'ing': 10,
  };
  before(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'switchyard-sp-'));
    writeFileSync(
      path.join(tmp, 'tokenizer.json'),
      JSON.stringify({
        version: '1.0',
        added_tokens: [
          { id: 0, content: '<unk>', special: true },
          { id: 1, content: '<s>', special: true },
          { id: 2, content: '</s>', special: true },
        ],
        normalizer: null,
        pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false },
        post_processor: null,
        decoder: {
          type: 'Sequence',
          decoders: [
            { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
            { type: 'ByteFallback' },
            { type: 'Fuse' },
            { type: 'Strip', content: ' ', start: 1, stop: 0 },
          ],
        },
        model: { type: 'BPE', vocab, merges: [], unk_token: '<unk>', byte_fallback: true },
      }),
    );
    writeFileSync(
      path.join(tmp, 'tokenizer_config.json'),
      JSON.stringify({ bos_token: '<s>', eos_token: '</s>', add_bos_token: true }),
    );
    sp = await loadTokenizer(tmp);
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('decoding token by token would lose spaces; the stream keeps them', () => {
    const ids = [3, 4, 10, 5, 6, 6, 4];
    const full = sp.decode(ids);
    assert.equal(full, 'Hello worlding!   world');
    assert.notEqual(ids.map((id) => sp.decode([id])).join(''), full, 'naive per-token decoding differs');
    const { chunks, text } = stream(sp, ids);
    assert.equal(text, full);
    assert.deepEqual(chunks, ['Hello', ' world', 'ing', '!', ' ', ' ', ' world']);
  });

  test('byte-fallback pieces of one character are held back until complete', () => {
    const { chunks, text } = stream(sp, [3, 7, 8, 9, 4]);
    assert.deepEqual(chunks, ['Hello', '', '', '你', ' world']);
    assert.equal(text, 'Hello你 world');
  });

  test('contextIds give the first generated token its leading space; BOS skipped', () => {
    assert.equal(stream(sp, [4, 5]).text, 'world!');
    assert.equal(stream(sp, [4, 5], { contextIds: [1, 3] }).text, ' world!');
    assert.equal(stream(sp, [1, 3, 4, 2], { skipSpecialTokens: true }).text, 'Hello world');
  });
});
