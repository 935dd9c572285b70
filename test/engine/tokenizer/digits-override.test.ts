import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as hf from '@huggingface/tokenizers';
import {
  DigitsPreTokenizer,
  applyDigitsOverride,
  isDigitsOverridden,
  overrideDigitsInPreTokenizer,
  patchDigitsPreTokenizer,
  splitDigits,
  type LibPreTokenizer,
} from '../../../engine/tokenizer/digits-override.ts';
import { loadTokenizer } from '../../../engine/tokenizer/tokenizer.ts';
import { sharedDir } from '../../helpers/paths.ts';

const TOK = path.join(sharedDir(), 'tokenizers');

describe('splitDigits (Rust Digits semantics, Unicode numerics)', () => {
  test('individual_digits = true isolates every numeric character', () => {
    assert.deepEqual(splitDigits('ied 4 ½ months', true), ['ied ', '4', ' ', '½', ' months']);
    assert.deepEqual(splitDigits('a123b', true), ['a', '1', '2', '3', 'b']);
    assert.deepEqual(splitDigits('x²+y³', true), ['x', '²', '+y', '³']); // No
    assert.deepEqual(splitDigits('٣٤5', true), ['٣', '٤', '5']); // Arabic-Indic digits (Nd)
    assert.deepEqual(splitDigits('Ⅻ章', true), ['Ⅻ', '章']); // Roman numeral (Nl)
    assert.deepEqual(splitDigits('𝟙𝟚!', true), ['𝟙', '𝟚', '!'], 'astral digits stay whole code points');
  });

  test('individual_digits = false keeps runs of numeric characters together', () => {
    assert.deepEqual(splitDigits('ied 4 ½ months', false), ['ied ', '4', ' ', '½', ' months']);
    assert.deepEqual(splitDigits('a123b', false), ['a', '123', 'b']);
    assert.deepEqual(splitDigits('1½ and ٣٤5', false), ['1½', ' and ', '٣٤5']);
    assert.deepEqual(splitDigits('𝟙𝟚x', false), ['𝟙𝟚', 'x']);
  });

  test('no numerics, empty text, look-alikes', () => {
    assert.deepEqual(splitDigits('hello world', true), ['hello world']);
    assert.deepEqual(splitDigits('', true), []);
    assert.deepEqual(splitDigits('', false), []);
    // '٫' (Arabic decimal separator) is punctuation, not numeric; '.' neither.
    assert.deepEqual(splitDigits('3٫5.2', false), ['3', '٫', '5', '.', '2']);
  });
});

describe('patching the library Digits pre-tokenizer', () => {
  test('the library alone is ASCII-only (canary: if this fails, the upstream bug is fixed and the override may go)', () => {
    const lib = new DigitsPreTokenizer({ type: 'Digits', individual_digits: true });
    assert.deepEqual(lib.pre_tokenize_text('4 ½'), ['4', ' ½']);
  });

  test('patched instances split like Rust, for both settings; patching is per instance and idempotent', () => {
    const individual = new DigitsPreTokenizer({ type: 'Digits', individual_digits: true });
    const contiguous = new DigitsPreTokenizer({ type: 'Digits', individual_digits: false });
    const untouched = new DigitsPreTokenizer({ type: 'Digits', individual_digits: true });
    assert.equal(patchDigitsPreTokenizer(individual), true);
    assert.equal(patchDigitsPreTokenizer(individual), false);
    assert.equal(patchDigitsPreTokenizer(contiguous), true);
    assert.ok(isDigitsOverridden(individual) && isDigitsOverridden(contiguous));
    assert.ok(!isDigitsOverridden(untouched));
    assert.deepEqual(individual.pre_tokenize_text('v12½²'), ['v', '1', '2', '½', '²']);
    assert.deepEqual(contiguous.pre_tokenize_text('v12½²'), ['v', '12½²']);
    assert.deepEqual(untouched.pre_tokenize_text('v12½²'), ['v', '1', '2', '½²'], 'other instances unchanged');
    // The library's own entry points go through the patched step.
    assert.deepEqual((individual as unknown as (t: string) => string[])('a½'), ['a', '½']);
    assert.deepEqual(individual.pattern.flags, 'gu');
  });

  test('Digits nested in Sequences are all found', () => {
    const Sequence = (hf as unknown as {
      SequencePreTokenizer: new (config: object) => LibPreTokenizer & { tokenizers: LibPreTokenizer[] };
    }).SequencePreTokenizer;
    const seq = new Sequence({
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: '\\s+' }, behavior: 'Isolated', invert: false },
        { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: false }] },
        { type: 'Digits', individual_digits: true },
      ],
    });
    assert.equal(overrideDigitsInPreTokenizer(seq), 2);
    assert.deepEqual(seq.pre_tokenize_text('x ½5'), ['x', ' ', '½', '5']);
    assert.equal(overrideDigitsInPreTokenizer(null), 0);
  });

  test("DeepSeek-Coder: the library alone misses llama.cpp's 'ied 4 ½ months' vector, with the override it matches", async () => {
    const dir = path.join(TOK, 'deepseek-coder-v1');
    const inp = readFileSync(path.join(TOK, 'llamacpp-vectors/ggml-vocab-deepseek-coder.gguf.inp'), 'utf8');
    const out = readFileSync(path.join(TOK, 'llamacpp-vectors/ggml-vocab-deepseek-coder.gguf.out'), 'utf8');
    const text = inp.split('\n__ggml_vocab_test__\n')[0]!;
    const expected = out.split('\n')[0]!.trim().split(' ').map(Number);
    assert.equal(text, 'ied 4 ½ months');

    const Tokenizer = (hf as unknown as {
      Tokenizer: new (json: object, config: object) => { pre_tokenizer: unknown; encode(t: string, o: object): { ids: number[] } };
    }).Tokenizer;
    const raw = new Tokenizer(JSON.parse(readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')), {});
    const before = raw.encode(text, { add_special_tokens: false }).ids;
    assert.notDeepEqual(before, expected);
    assert.equal(applyDigitsOverride(raw), 1);
    assert.deepEqual(raw.encode(text, { add_special_tokens: false }).ids, expected);

    const tok = await loadTokenizer(dir);
    assert.deepEqual(tok.encode(text), expected);
  });
});
