import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EngineInputError } from '../../../engine/errors.ts';
import { loadTokenizer, loadTokenizerSync, type EngineTokenizer } from '../../../engine/tokenizer/tokenizer.ts';
import { sharedDir } from '../../helpers/paths.ts';

const TOK = path.join(sharedDir(), 'tokenizers');
const DEEPSEEK = path.join(TOK, 'deepseek-coder-v1');
const QWEN = path.join(TOK, 'qwen2.5-coder');
const VECTORS = path.join(TOK, 'llamacpp-vectors');

/**
 * llama.cpp test vectors (models/ggml-vocab-*.gguf.inp/.out, used by tests/test-tokenizer-0):
 * .inp holds the test strings joined by '\n__ggml_vocab_test__\n' and ends with that separator;
 * .out has one line per string with its ids separated by spaces (an empty line for ''). They were
 * made with Hugging Face `tokenizer.encode(text, add_special_tokens=False)` and test-tokenizer-0
 * tokenizes without adding BOS either, so they are compared with encode() without special tokens.
 */
function readVectors(base: string): { text: string; ids: number[] }[] {
  const inp = readFileSync(`${base}.inp`, 'utf8').split('\n__ggml_vocab_test__\n');
  assert.equal(inp.pop(), '', `${base}.inp should end with the separator`);
  const out = readFileSync(`${base}.out`, 'utf8').split('\n');
  if (out.at(-1) === '') out.pop();
  assert.equal(out.length, inp.length, `${base}: .inp and .out disagree on the number of strings`);
  return inp.map((text, i) => ({
    text,
    ids: out[i]!.trim() === '' ? [] : out[i]!.trim().split(/\s+/).map(Number),
  }));
}

/**
 * Which vector file goes with which tokenizer folder (see llamacpp-vectors/PROVENANCE.txt):
 *  - deepseek-coder (current and older-ggerganov): made from deepseek-coder-6.7b-base, same
 *    vocabulary and merges as deepseek-coder-v1 here; the older file's 'Führer' exercises the added
 *    single-character token 'ü' (32009).
 *  - qwen2 (current and older) and older deepseek-r1-qwen (its .out is identical to qwen2's): made
 *    from Qwen1.5-7B / DeepSeek-R1-Distill-Qwen, same core vocabulary and merges as Qwen2.5 here;
 *    the strings contain no added tokens, where these tokenizers differ.
 * Not used: ggml-vocab-deepseek-llm (current and older): made from deepseek-llm-7b-base, the
 * 102,400-entry DeepSeek-LLM / V2 vocabulary ('deepseek-llm' pre-tokenizer), and no tokenizer with
 * that vocabulary is in the shared folder.
 */
const VECTOR_SETS: { file: string; tokenizer: 'deepseek' | 'qwen' }[] = [
  { file: 'ggml-vocab-deepseek-coder.gguf', tokenizer: 'deepseek' },
  { file: 'older-ggerganov-c392e509/ggml-vocab-deepseek-coder.gguf', tokenizer: 'deepseek' },
  { file: 'ggml-vocab-qwen2.gguf', tokenizer: 'qwen' },
  { file: 'older-ggerganov-c392e509/ggml-vocab-qwen2.gguf', tokenizer: 'qwen' },
  { file: 'older-ggerganov-c392e509/ggml-vocab-deepseek-r1-qwen.gguf', tokenizer: 'qwen' },
];

let deepseek: EngineTokenizer;
let qwen: EngineTokenizer;

before(async () => {
  [deepseek, qwen] = await Promise.all([loadTokenizer(DEEPSEEK), loadTokenizer(QWEN)]);
});

const tokenizerFor = (name: 'deepseek' | 'qwen') => (name === 'deepseek' ? deepseek : qwen);

describe('llama.cpp test vectors', () => {
  for (const set of VECTOR_SETS) {
    test(`${set.file} -> ${set.tokenizer}: every string gives exactly the expected ids`, () => {
      const vectors = readVectors(path.join(VECTORS, set.file));
      assert.equal(vectors.length, 46);
      const tok = tokenizerFor(set.tokenizer);
      const got = vectors.map((v) => ({ text: v.text, ids: tok.encode(v.text) }));
      assert.deepEqual(got, vectors);
      // addSpecialTokens: false is the default.
      for (const v of vectors) assert.deepEqual(tok.encode(v.text, { addSpecialTokens: false }), v.ids);
    });
  }

  test('the vectors decode back to their text', () => {
    for (const set of VECTOR_SETS) {
      const tok = tokenizerFor(set.tokenizer);
      for (const v of readVectors(path.join(VECTORS, set.file))) {
        // Qwen normalises to NFC; compare with the normalised text.
        const expected = set.tokenizer === 'qwen' ? v.text.normalize('NFC') : v.text;
        assert.equal(tok.decode(v.ids), expected, `${set.file}: ${JSON.stringify(v.text)}`);
      }
    }
  });
});

describe('DeepSeek-Coder V1', () => {
  test('special tokens from the tokenizer files', () => {
    assert.equal(deepseek.special.fimPrefix, 32016); // <｜fim▁begin｜>
    assert.equal(deepseek.special.fimSuffix, 32015); // <｜fim▁hole｜>
    assert.equal(deepseek.special.fimMiddle, 32017); // <｜fim▁end｜>
    assert.equal(deepseek.special.fimPad, undefined);
    assert.equal(deepseek.special.repoName, undefined);
    assert.equal(deepseek.special.fileSep, undefined);
    assert.equal(deepseek.special.thinkStart, undefined);
    assert.deepEqual([...deepseek.special.endOfTurn].sort(), [32014, 32021]); // <｜end▁of▁sentence｜>, <|EOT|>
    assert.equal(deepseek.bosId, 32013);
    assert.equal(deepseek.bosToken, '<｜begin▁of▁sentence｜>');
    assert.equal(deepseek.eosToken, '<|EOT|>');
    assert.equal(deepseek.eosIds[0], 32021, 'tokenizer_config eos_token comes first');
    assert.deepEqual([...deepseek.eosIds].sort(), [32014, 32021]);
    assert.equal(deepseek.addBos, true);
    assert.equal(deepseek.addEos, false);
    assert.equal(deepseek.vocabSize, 32022);
    assert.match(deepseek.chatTemplate ?? '', /You are an AI programming assistant/);
  });

  test('BOS only with addSpecialTokens (add_bos_token)', () => {
    const plain = deepseek.encode('def f():');
    assert.notEqual(plain[0], 32013);
    assert.deepEqual(deepseek.encode('def f():', { addSpecialTokens: true }), [32013, ...plain]);
    assert.deepEqual(deepseek.encode(''), []);
    assert.deepEqual(deepseek.encode('', { addSpecialTokens: true }), [32013]);
  });

  test('special-token text in the input becomes the token', () => {
    const ids = deepseek.encode('<｜fim▁begin｜>def f():\n    <｜fim▁hole｜>\n<｜fim▁end｜>');
    assert.equal(ids[0], 32016);
    assert.ok(ids.includes(32015) && ids.at(-1) === 32017);
    assert.equal(deepseek.decode(ids), '<｜fim▁begin｜>def f():\n    <｜fim▁hole｜>\n<｜fim▁end｜>');
  });

  test('decode, skipSpecialTokens, id/token lookups', () => {
    const ids = deepseek.encode('print("héllo, 世界")');
    assert.equal(deepseek.decode(ids), 'print("héllo, 世界")');
    assert.equal(deepseek.decode([32013, ...ids, 32021]), '<｜begin▁of▁sentence｜>print("héllo, 世界")<|EOT|>');
    // <|EOT|> is special=false in tokenizer.json but it is the eos_token, so transformers skips it too.
    assert.equal(deepseek.decode([32013, ...ids, 32021], { skipSpecialTokens: true }), 'print("héllo, 世界")');
    assert.equal(deepseek.isSpecial(32021), true);
    assert.equal(deepseek.isSpecial(32016), false, 'FIM tokens are not special');
    assert.equal(deepseek.decode([]), '');
    assert.equal(deepseek.tokenToId('<|EOT|>'), 32021);
    assert.equal(deepseek.idToToken(32016), '<｜fim▁begin｜>');
    assert.equal(deepseek.tokenToId('no such token'), undefined);
    assert.equal(deepseek.idToToken(10_000_000), undefined);
  });
});

describe('Qwen2.5-Coder', () => {
  test('special tokens from the tokenizer files', () => {
    assert.deepEqual(
      {
        fimPrefix: qwen.special.fimPrefix,
        fimSuffix: qwen.special.fimSuffix,
        fimMiddle: qwen.special.fimMiddle,
        fimPad: qwen.special.fimPad,
        repoName: qwen.special.repoName,
        fileSep: qwen.special.fileSep,
        endOfText: qwen.special.endOfText,
        endOfTurn: qwen.special.endOfTurn,
        thinkStart: qwen.special.thinkStart,
        thinkEnd: qwen.special.thinkEnd,
      },
      {
        fimPrefix: 151659,
        fimSuffix: 151661,
        fimMiddle: 151660,
        fimPad: 151662,
        repoName: 151663,
        fileSep: 151664,
        endOfText: 151643,
        endOfTurn: [151645],
        thinkStart: undefined,
        thinkEnd: undefined,
      },
    );
    assert.deepEqual(qwen.eosIds, [151645, 151643]); // <|im_end|> (eos_token), <|endoftext|>
    assert.equal(qwen.bosId, undefined);
    assert.equal(qwen.addBos, false);
    assert.equal(qwen.vocabSize, 151665);
    assert.match(qwen.chatTemplate ?? '', /<\|im_start\|>/);
  });

  test('encode with FIM tokens; no BOS even with addSpecialTokens', () => {
    const text = '<|fim_prefix|>def add(a, b):\n    <|fim_suffix|>\n<|fim_middle|>';
    const ids = qwen.encode(text);
    assert.equal(ids[0], 151659);
    assert.ok(ids.includes(151661));
    assert.equal(ids.at(-1), 151660);
    assert.deepEqual(qwen.encode(text, { addSpecialTokens: true }), ids);
    assert.equal(qwen.decode(ids), text);
  });

  test('skipSpecialTokens leaves out <|im_start|>, <|im_end|>, <|endoftext|> but not FIM tokens', () => {
    const body = qwen.encode('return a + b  # 合計');
    const ids = [151644, ...body, 151645, 151643];
    assert.equal(qwen.decode(ids, { skipSpecialTokens: true }), 'return a + b  # 合計');
    assert.equal(qwen.decode([151659, ...body], { skipSpecialTokens: true }), '<|fim_prefix|>return a + b  # 合計');
  });
});

describe('tokenizer_config variants (copies of the DeepSeek files in a temp folder)', () => {
  let tmp: string;
  before(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'switchyard-tok-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  test('token fields as strings or {content}; generation_config eos ids; named chat templates', async () => {
    const dir = path.join(tmp, 'variant');
    mkdirSync(dir);
    copyFileSync(path.join(DEEPSEEK, 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
    writeFileSync(
      path.join(dir, 'tokenizer_config.json'),
      JSON.stringify({
        add_bos_token: false,
        bos_token: '<｜begin▁of▁sentence｜>',
        eos_token: { content: '<｜end▁of▁sentence｜>', special: true },
        additional_special_tokens: [{ content: '<｜fim▁begin｜>' }],
        chat_template: [
          { name: 'tool_use', template: 'TOOLS' },
          { name: 'default', template: 'DEFAULT' },
        ],
      }),
    );
    writeFileSync(path.join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [32021, 32018] }));
    for (const tok of [await loadTokenizer(dir), loadTokenizerSync(dir)]) {
      assert.equal(tok.bosId, 32013);
      assert.equal(tok.addBos, false);
      assert.deepEqual(tok.encode('x', { addSpecialTokens: true }), tok.encode('x'));
      assert.deepEqual(tok.eosIds, [32014, 32021, 32018]);
      assert.equal(tok.chatTemplate, 'DEFAULT');
      assert.equal(tok.isSpecial(32016), true, 'additional_special_tokens given as {content}');
      assert.equal(tok.special.fimPrefix, 32016);
    }
  });

  test('no tokenizer_config.json: defaults, specials still found', async () => {
    const dir = path.join(tmp, 'no-config');
    mkdirSync(dir);
    copyFileSync(path.join(DEEPSEEK, 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
    const tok = await loadTokenizer(dir);
    assert.equal(tok.bosId, undefined);
    assert.equal(tok.addBos, false);
    assert.equal(tok.chatTemplate, undefined);
    assert.equal(tok.special.fimMiddle, 32017);
    assert.deepEqual([...tok.eosIds].sort(), [32014, 32021]);
  });
});

describe('errors name the file at fault', () => {
  let tmp: string;
  before(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'switchyard-tok-err-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  async function expectInputError(dir: string, file: string, problem: RegExp): Promise<void> {
    for (const load of [loadTokenizer, async (d: string) => loadTokenizerSync(d)]) {
      await assert.rejects(load(dir), (e: unknown) => {
        assert.ok(e instanceof EngineInputError, `expected EngineInputError, got ${String(e)}`);
        assert.equal(e.file, file);
        assert.ok(e.message.includes(file), `message names the file: ${e.message}`);
        assert.match(e.problem, problem);
        return true;
      });
    }
  }

  function folder(name: string, files: Record<string, string>): string {
    const dir = path.join(tmp, name);
    mkdirSync(dir);
    for (const [f, text] of Object.entries(files)) writeFileSync(path.join(dir, f), text);
    return dir;
  }

  test('missing folder', async () => {
    const dir = path.join(tmp, 'does-not-exist');
    assert.ok(!existsSync(dir));
    await expectInputError(dir, dir, /not found/);
  });

  test('a file instead of a folder', async () => {
    const file = path.join(tmp, 'plain-file');
    writeFileSync(file, 'x');
    await expectInputError(file, file, /not a folder/);
  });

  test('missing tokenizer.json', async () => {
    const dir = folder('no-tokenizer', { 'tokenizer_config.json': '{}' });
    await expectInputError(dir, path.join(dir, 'tokenizer.json'), /not found/);
  });

  test('invalid JSON in tokenizer.json', async () => {
    const dir = folder('bad-tokenizer', { 'tokenizer.json': '{"model": {' });
    await expectInputError(dir, path.join(dir, 'tokenizer.json'), /invalid JSON/);
  });

  test('invalid JSON in tokenizer_config.json', async () => {
    const dir = folder('bad-config', {
      'tokenizer.json': readFileSync(path.join(DEEPSEEK, 'tokenizer.json'), 'utf8'),
      'tokenizer_config.json': '{"add_bos_token": tru',
    });
    await expectInputError(dir, path.join(dir, 'tokenizer_config.json'), /invalid JSON/);
  });

  test('invalid generation_config.json', async () => {
    const tj = readFileSync(path.join(DEEPSEEK, 'tokenizer.json'), 'utf8');
    const bad = folder('bad-generation', { 'tokenizer.json': tj, 'generation_config.json': '[1,' });
    await expectInputError(bad, path.join(bad, 'generation_config.json'), /invalid JSON/);
    const wrong = folder('wrong-generation', { 'tokenizer.json': tj, 'generation_config.json': '{"eos_token_id": "x"}' });
    await expectInputError(wrong, path.join(wrong, 'generation_config.json'), /eos_token_id/);
  });

  test('JSON that is not a tokenizer, Git LFS pointer, unknown eos_token', async () => {
    const notTok = folder('not-a-tokenizer', { 'tokenizer.json': '[1, 2, 3]' });
    await expectInputError(notTok, path.join(notTok, 'tokenizer.json'), /JSON object/);
    const noModel = folder('no-model', { 'tokenizer.json': '{"added_tokens": []}' });
    await expectInputError(noModel, path.join(noModel, 'tokenizer.json'), /"model"/);
    const lfs = folder('lfs', {
      'tokenizer.json': 'version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n',
    });
    await expectInputError(lfs, path.join(lfs, 'tokenizer.json'), /Git LFS pointer/);
    const badEos = folder('bad-eos', {
      'tokenizer.json': readFileSync(path.join(DEEPSEEK, 'tokenizer.json'), 'utf8'),
      'tokenizer_config.json': JSON.stringify({ eos_token: '<|not-there|>' }),
    });
    await expectInputError(badEos, path.join(badEos, 'tokenizer_config.json'), /eos_token/);
  });
});
