/**
 * The text FIM layouts (for servers that tokenize the prompt) against the engine's own id layouts:
 * with the real DeepSeek-Coder and Qwen2.5-Coder tokenizers from ../shared/tokenizers, the text,
 * tokenized as vLLM and llama.cpp's server tokenize a prompt (special-token texts become their
 * ids, BOS added where the tokenizer adds it), gives exactly buildFimPrompt's ids. StarCoder2 and
 * Codestral have no tokenizer files here, so their texts are checked against the papers' layouts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadTokenizer } from '../../../engine/tokenizer/tokenizer.ts';
import { buildFimPrompt, detectFimFormat, type FimRequest } from '../../../engine/prompt/fim.ts';
import { buildFimText, fimTextLayout } from '../../../engine/prompt/fim-text.ts';
import { sharedDir } from '../../helpers/paths.ts';

const TOK = path.join(sharedDir(), 'tokenizers');

const REQUESTS: Record<string, FimRequest> = {
  plain: { prefix: 'def add(a, b):\n    return ', suffix: '\n\nprint(add(1, 2))\n' },
  'empty suffix': { prefix: 'import os\n', suffix: '' },
  'related files, repo and path': {
    prefix: 'from util import clamp\n\ndef f(x):\n    ',
    suffix: '\n    return y\n',
    relatedFiles: [
      { path: 'util.py', text: 'def clamp(x, lo, hi):\n    return max(lo, min(hi, x))\n' },
      { path: 'consts.py', text: 'LIMIT = 10\n' },
    ],
    repoName: 'demo',
    filePath: 'main.py',
  },
  'path only': { prefix: 'x = 1\n', suffix: 'y = 2\n', filePath: 'src/a.py' },
};

describe('buildFimText gives the engine layout once a server tokenizes it', () => {
  for (const [name, family] of [
    ['deepseek-coder-v1', 'deepseek-coder'],
    ['qwen2.5-coder', 'qwen-coder'],
  ] as const) {
    test(name, async () => {
      const tok = await loadTokenizer(path.join(TOK, name));
      const fmt = detectFimFormat(tok);
      assert.equal(fmt?.family, family);
      const layout = fimTextLayout(family);
      for (const [what, req] of Object.entries(REQUESTS)) {
        const text = buildFimText(layout, req);
        const served = tok.encode(text, { addSpecialTokens: true });
        assert.deepEqual(served, buildFimPrompt(fmt!, req).ids, `${name}, ${what}: ${JSON.stringify(text)}`);
      }
    });
  }
});

describe('buildFimText layouts', () => {
  const req = REQUESTS['related files, repo and path']!;
  test('Qwen2.5-Coder repo-level form', () => {
    assert.equal(
      buildFimText(fimTextLayout('qwen-coder'), req),
      '<|repo_name|>demo\n<|file_sep|>util.py\ndef clamp(x, lo, hi):\n    return max(lo, min(hi, x))\n\n<|file_sep|>consts.py\nLIMIT = 10\n\n' +
        '<|file_sep|>main.py\n<|fim_prefix|>from util import clamp\n\ndef f(x):\n    <|fim_suffix|>\n    return y\n<|fim_middle|>',
    );
  });
  test('StarCoder2 repo-level form', () => {
    assert.equal(
      buildFimText(fimTextLayout('starcoder'), req),
      '<repo_name>demo<file_sep>util.py\ndef clamp(x, lo, hi):\n    return max(lo, min(hi, x))\n<file_sep>consts.py\nLIMIT = 10\n' +
        '<file_sep><fim_prefix>main.py\nfrom util import clamp\n\ndef f(x):\n    <fim_suffix>\n    return y\n<fim_middle>',
    );
  });
  test('DeepSeek-Coder: related files as path comments before the prefix', () => {
    assert.equal(
      buildFimText(fimTextLayout('deepseek-coder'), req),
      '<｜fim▁begin｜># util.py\ndef clamp(x, lo, hi):\n    return max(lo, min(hi, x))\n\n# consts.py\nLIMIT = 10\n\n# main.py\n' +
        'from util import clamp\n\ndef f(x):\n    <｜fim▁hole｜>\n    return y\n<｜fim▁end｜>',
    );
  });
  test('Codestral: suffix first, the completion continues the prefix', () => {
    assert.equal(buildFimText(fimTextLayout('codestral'), REQUESTS.plain!), '[SUFFIX]\n\nprint(add(1, 2))\n[PREFIX]def add(a, b):\n    return ');
  });
  test('stop texts: the FIM tokens and the family end tokens', () => {
    assert.deepEqual(fimTextLayout('qwen-coder').stop, ['<|fim_prefix|>', '<|fim_suffix|>', '<|fim_middle|>', '<|repo_name|>', '<|file_sep|>', '<|endoftext|>', '<|fim_pad|>', '<|im_end|>']);
    assert.deepEqual(fimTextLayout('codestral').stop, ['[PREFIX]', '[SUFFIX]', '</s>']);
  });
});
