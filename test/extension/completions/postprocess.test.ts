import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  balanceBrackets,
  dropSuffixRepeats,
  dropUnfinishedLastLine,
  firstLine,
  isMultilinePosition,
  lineIndent,
  openBrackets,
  postprocess,
  trimRepetition,
} from '../../../extension/completions/postprocess.ts';

describe('multi-line position', () => {
  it('allows multi-line at the end of a line or before closing characters only', () => {
    assert.equal(isMultilinePosition(''), true);
    assert.equal(isMultilinePosition('   '), true);
    assert.equal(isMultilinePosition(')'), true);
    assert.equal(isMultilinePosition('});'), true);
    assert.equal(isMultilinePosition(' ]"'), true);
  });
  it('stops at the end of the line when code follows the cursor', () => {
    assert.equal(isMultilinePosition('foo)'), false);
    assert.equal(isMultilinePosition(' + 1'), false);
  });
  it('single-line mode keeps the first line only', () => {
    assert.equal(firstLine('a\nb'), 'a');
    const ctx = { multiline: false, prefix: 'x = ', lineSuffix: ' + 1', nextLines: [], truncated: false };
    assert.equal(postprocess('foo(1)\nbar()', ctx), 'foo(1)');
  });
  it('indentation of the cursor line', () => {
    assert.equal(lineIndent('    return x'), '    ');
    assert.equal(lineIndent('\t\tfoo'), '\t\t');
    assert.equal(lineIndent('foo'), '');
  });
});

describe('runaway repetition', () => {
  it('keeps one of three or more identical lines', () => {
    assert.equal(trimRepetition('a = 1\nprint(x)\nprint(x)\nprint(x)\nprint(x)'), 'a = 1\nprint(x)');
  });
  it('keeps two identical lines (may be legitimate) and repeated closers', () => {
    assert.equal(trimRepetition('x += 1\nx += 1'), 'x += 1\nx += 1');
    assert.equal(trimRepetition('      }\n    }\n  }\n}'), '      }\n    }\n  }\n}');
  });
  it('keeps the first copy of a repeated block', () => {
    const block = 'if (a) {\n  call(a);\n}';
    assert.equal(trimRepetition(`${block}\n${block}\n${block}`), block);
  });
  it('cuts a phrase looping to the end of the text, also mid-copy', () => {
    assert.equal(trimRepetition('return foo bar foo bar foo bar foo bar foo ba'), 'return foo bar');
    assert.equal(trimRepetition('x = f(f(f(f(f(f(f('), 'x = f(');
  });
  it('leaves normal code alone', () => {
    const code = 'const xs = [0, 0, 0, 0];\nfor (const x of xs) total += x;';
    assert.equal(trimRepetition(code), code);
    assert.equal(trimRepetition('// ======================'), '// ======================');
  });
});

describe('unfinished last line', () => {
  it('drops the last line of a multi-line suggestion cut by the token limit', () => {
    assert.equal(dropUnfinishedLastLine('a()\nb()\nc(1, '), 'a()\nb()');
    assert.equal(dropUnfinishedLastLine('only line'), 'only line');
    assert.equal(postprocess('a()\nb()\nc(1, ', { multiline: true, prefix: '', lineSuffix: '', nextLines: [], truncated: true }), 'a()\nb()');
    assert.equal(postprocess('a()\nb()\nc(1)', { multiline: true, prefix: '', lineSuffix: '', nextLines: [], truncated: false }), 'a()\nb()\nc(1)');
  });
});

describe('repeating what follows the cursor', () => {
  it('drops a suggestion equal to the rest of the line', () => {
    assert.equal(dropSuffixRepeats('foo(bar)', 'foo(bar);', []), '');
    assert.equal(dropSuffixRepeats(')', ')', []), '');
  });
  it('drops a suggestion that re-types the next lines', () => {
    assert.equal(dropSuffixRepeats('\n  return x;\n}', '', ['  return x;', '}']), '');
    assert.equal(dropSuffixRepeats('\n    total = compute(a)', '', ['', '    total = compute(a)', 'x']), '');
  });
  it('cuts trailing lines that duplicate the next lines', () => {
    const text = '\n  y = transform(x)\n  return result(y)';
    assert.equal(dropSuffixRepeats(text, '', ['  return result(y)', '']), '\n  y = transform(x)');
  });
  it('keeps a trailing closer that only looks like the next line', () => {
    assert.equal(dropSuffixRepeats('if (a) {\n  b();\n}', '', ['}']), 'if (a) {\n  b();\n}');
  });
  it('keeps new code', () => {
    assert.equal(dropSuffixRepeats('bar(1)', ');', ['next()']), 'bar(1)');
  });
});

describe('brackets', () => {
  it('tracks brackets the prefix left open, ignoring strings and comments', () => {
    assert.deepEqual(openBrackets('f(a, [1, 2'), ['(', '[']);
    assert.deepEqual(openBrackets('s = "(("; // ((\nx = {'), ['{']);
  });
  it('cuts before a closer that closes nothing', () => {
    assert.equal(balanceBrackets('a + b) * 2', 'x = ', '', false), 'a + b');
    assert.equal(balanceBrackets('1, 2])', 'f([', '', false), '1, 2])');
    assert.equal(balanceBrackets('1, 2}', 'f([', '', false), '1, 2');
  });
  it('drops closers the rest of the line already has', () => {
    assert.equal(balanceBrackets('a, b)', 'foo(', ')', false), 'a, b');
    assert.equal(balanceBrackets('x)', 'foo(bar(', ')', false), 'x)');
    assert.equal(balanceBrackets('x))', 'foo(bar(', ')', false), 'x)');
  });
  it('cuts a multi-line suggestion back to where its own brackets are closed', () => {
    assert.equal(balanceBrackets('a = 1\nfoo(\n  b,', '', '', true), 'a = 1');
    assert.equal(balanceBrackets('if (x) {\n  y();\n}', '', '', true), 'if (x) {\n  y();\n}');
    assert.equal(balanceBrackets('call(\n  a,', '', '', true), 'call(\n  a,');
  });
  it('postprocess keeps brackets balanced end to end', () => {
    const ctx = { multiline: false, prefix: 'print(len(xs', lineSuffix: ')', nextLines: [], truncated: false };
    assert.equal(postprocess('))', ctx), ')');
  });
});

describe('whitespace', () => {
  it('trims trailing whitespace and drops blank suggestions', () => {
    const ctx = { multiline: true, prefix: '', lineSuffix: '', nextLines: [], truncated: false };
    assert.equal(postprocess('foo()  \n\n', ctx), 'foo()');
    assert.equal(postprocess(' \n\t\n', ctx), '');
  });
});
