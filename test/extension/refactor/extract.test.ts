/**
 * Taking the code out of a model's answer: which fenced block, no fence, `<think>` leftovers, the
 * selection's indentation and trailing newline, CRLF documents, and text appended to a test file.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { appendedText, extractCode, fencedBlocks, stripThink } from '../../../extension/refactor/extract.ts';

describe('fenced blocks', () => {
  test('the code of a fenced block, its language tag and the prose around it dropped', () => {
    const r = extractCode('Here is the fix:\n\n```python\ndef f():\n    return 1\n```\n\nIt returns 1 now.');
    assert.deepEqual(r, { code: 'def f():\n    return 1\n', fence: 'closed' });
  });

  test('no fence: the whole answer (blank lines around it trimmed)', () => {
    assert.deepEqual(extractCode('\n\nx = 1\ny = 2\n\n'), { code: 'x = 1\ny = 2\n', fence: 'none' });
  });

  test('several fences: the largest wins; of equals, the first', () => {
    const answer = 'Fixed:\n```js\nfunction f(a) {\n  return a + 1;\n}\n```\nUsage:\n```js\nf(1);\n```\n';
    assert.equal(extractCode(answer).code, 'function f(a) {\n  return a + 1;\n}\n');
    assert.equal(extractCode('```\nsmall\n```\n```\nlarger one\n```').code, 'larger one\n');
    assert.equal(extractCode('```\naaa\n```\n```\nbbb\n```').code, 'aaa\n');
  });

  test('a longer fence holds shorter ones; ~~~ fences; an info string with a backtick is not a fence', () => {
    const md = '````markdown\n# Title\n\n```js\nx();\n```\n````';
    assert.equal(extractCode(md).code, '# Title\n\n```js\nx();\n```\n');
    assert.equal(extractCode('~~~py\nprint(1)\n~~~').code, 'print(1)\n');
    assert.deepEqual(fencedBlocks('```not `a` fence\ncode'), []);
  });

  test('an unclosed fence (the answer was cut off) runs to the end and says so', () => {
    assert.deepEqual(extractCode('```go\nfunc f() {\n\treturn\n'), { code: 'func f() {\n\treturn\n', fence: 'open' });
  });

  test('an indented fence (in a list) loses its indentation from the code', () => {
    assert.equal(extractCode('1. The code:\n   ```py\n   x = 1\n   if x:\n       y()\n   ```').code, 'x = 1\nif x:\n    y()\n');
  });

  test('nothing: an empty answer or an empty block gives no code', () => {
    assert.equal(extractCode('').code, '');
    assert.equal(extractCode('```python\n```').code, '');
    assert.equal(extractCode('   \n\n').code, '');
  });
});

describe('<think> leftovers', () => {
  test('a whole think block goes, even one holding a fence', () => {
    assert.equal(extractCode('<think>maybe ```x = 0``` or\n```\nwrong\n```\n</think>\n```py\nx = 1\n```').code, 'x = 1\n');
  });

  test('a stray closing tag: everything before it was reasoning', () => {
    assert.equal(stripThink('the user wants a fix...</think>\n\nanswer'), '\n\nanswer');
    assert.equal(extractCode('reasoning```\nnot this\n```</think>```py\ny = 2\n```').code, 'y = 2\n');
  });

  test('an unclosed think (cut off while reasoning) is dropped to the end', () => {
    assert.equal(stripThink('```\nz = 3\n```\n<think>hmm'), '```\nz = 3\n```\n');
    assert.equal(extractCode('<think>still thinking about it').code, '');
  });
});

describe('fitting the selection', () => {
  test('whole indented lines: a model that dropped the indentation gets it back', () => {
    const selection = '    def f(self):\n        return 1\n';
    const r = extractCode('```python\ndef f(self):\n    return 2\n```', { selection, linePrefix: '' });
    assert.equal(r.code, '    def f(self):\n        return 2\n');
  });

  test('over-indented answers are shifted back; blank lines inside stay blank', () => {
    const selection = '  if (x) {\n    y();\n  }\n';
    const r = extractCode('```js\n        if (x) {\n\n            y();\n        }\n```', { selection, linePrefix: '' });
    assert.equal(r.code, '  if (x) {\n\n      y();\n  }\n');
  });

  test('the right indentation is left alone; tabs are kept', () => {
    const selection = '\tfor i := range xs {\n\t\tuse(i)\n\t}\n';
    const answer = '```go\n\tfor i := range xs {\n\t\tuse(xs[i])\n\t}\n```';
    assert.equal(extractCode(answer, { selection, linePrefix: '' }).code, '\tfor i := range xs {\n\t\tuse(xs[i])\n\t}\n');
  });

  test('a selection that starts after the indentation: the first line gets none (the document has it)', () => {
    const selection = 'def f(self):\n        return 1';
    const opts = { selection, linePrefix: '    ' };
    // Laid out relative to its first line, mirroring the selection as shown, or fully indented.
    assert.equal(extractCode('```python\ndef f(self):\n    return 2\n```', opts).code, 'def f(self):\n        return 2');
    assert.equal(extractCode('```python\ndef f(self):\n        return 2\n```', opts).code, 'def f(self):\n        return 2');
    assert.equal(extractCode('```python\n    def f(self):\n        return 2\n```', opts).code, 'def f(self):\n        return 2');
  });

  test('a selection that starts mid-line: the first line is trimmed, the others follow the selection', () => {
    const selection = 'compute(\n        a,\n        b)';
    const r = extractCode('```python\ncompute(\n    a,\n    b,\n)\n```', { selection, linePrefix: '    x = ' });
    assert.equal(r.code, 'compute(\n        a,\n        b,\n    )');
    // A copy of the selection as shown is kept as it is.
    assert.equal(extractCode('compute(\n        a,\n        c)', { selection, linePrefix: '    x = ' }).code, 'compute(\n        a,\n        c)');
  });

  test('trailing line breaks: restored when the selection had them, dropped when it had none', () => {
    assert.equal(extractCode('```\nx = 1\n```', { selection: 'x = 0\n' }).code, 'x = 1\n');
    assert.equal(extractCode('```\nx = 1\n```', { selection: 'x = 0\n\n' }).code, 'x = 1\n\n');
    assert.equal(extractCode('```\nx = 1\n\n\n```', { selection: 'x = 0' }).code, 'x = 1');
    assert.equal(extractCode('x = 1', { selection: 'x = 0\n' }).code, 'x = 1\n');
  });

  test('a selection that starts or ends across a line break keeps it (and the next line\'s indentation)', () => {
    // From the end of the line before, to the indentation of the line after.
    const selection = '\n    def f():\n        return 1\n    ';
    const r = extractCode('```python\ndef f():\n    return 2\n```', { selection, linePrefix: 'x = 1' });
    assert.equal(r.code, '\n    def f():\n        return 2\n    ');
  });

  test('a CRLF selection gets CRLF line breaks', () => {
    const r = extractCode('```\r\nif a:\r\n    b()\r\n```', { selection: '    if a:\r\n        c()\r\n' });
    assert.equal(r.code, '    if a:\r\n        b()\r\n');
  });

  test('a new file (no selection) ends with exactly one line break', () => {
    assert.equal(extractCode('```python\nimport x\n\n\ndef test_x():\n    assert x.f()\n\n```').code, 'import x\n\n\ndef test_x():\n    assert x.f()\n');
  });
});

describe('appending tests', () => {
  test('one blank line between the existing file and the new tests', () => {
    assert.equal(appendedText('a\n', 'b\n'), '\nb\n');
    assert.equal(appendedText('a', 'b\n'), '\n\nb\n');
    assert.equal(appendedText('a\n\n', 'b\n'), 'b\n');
    assert.equal(appendedText('', 'b\n'), 'b\n');
    assert.equal(appendedText('a\r\n', 'b\nc\n'), '\r\nb\r\nc\r\n');
  });
});
