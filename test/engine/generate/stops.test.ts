import { test } from 'node:test';
import assert from 'node:assert/strict';
import { indentWidth, StopDetector, type StopOptions, type StopStep } from '../../../engine/generate/stops.ts';
import { seededRandom } from '../../../engine/runtime/sampler.ts';

const TEXT_ID = 1;

/** Streams the pieces; returns everything shown (including the end flush) and the stopping step. */
function run(opts: StopOptions, pieces: readonly string[], ids?: readonly number[]): { text: string; step?: StopStep; chunks: string[] } {
  const d = new StopDetector(opts);
  const chunks: string[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const step = d.push(ids?.[i] ?? TEXT_ID, pieces[i]!);
    chunks.push(step.text);
    if (step.stop) {
      assert.equal(d.emitted, chunks.join(''));
      return { text: chunks.join(''), step, chunks };
    }
  }
  chunks.push(d.finish());
  assert.equal(d.emitted, chunks.join(''));
  return { text: chunks.join(''), chunks };
}

/** Every way to cut `s` into pieces (2^(n-1) of them). */
function* allSplits(s: string): Generator<string[]> {
  const n = s.length;
  for (let mask = 0; mask < 1 << (n - 1); mask++) {
    const out: string[] = [];
    let start = 0;
    for (let i = 1; i < n; i++) if (mask & (1 << (i - 1))) (out.push(s.slice(start, i)), (start = i));
    out.push(s.slice(start));
    yield out;
  }
}

function randomSplit(s: string, rnd: () => number): string[] {
  const out: string[] = [];
  for (let i = 0; i < s.length; ) {
    const n = 1 + Math.floor(rnd() * 5);
    out.push(s.slice(i, i + n));
    i += n;
  }
  return out;
}

test('a stop string split at every possible boundary still stops, showing exactly the text before it', () => {
  for (const [text, stop, want] of [
    ['ab</code>zz', '</code>', 'ab'],
    ['x\n\ny', '\n\n', 'x'],
    ['</code>', '</code>', ''],
    ['a<</code', '</code>', 'a<</code'], // never completes: all of it comes out at the end
  ] as const) {
    let n = 0;
    for (const pieces of allSplits(text)) {
      const r = run({ stopStrings: [stop] }, pieces);
      assert.equal(r.text, want, JSON.stringify(pieces));
      assert.equal(r.step?.stop ?? false, want !== text, JSON.stringify(pieces));
      if (r.step) assert.deepEqual([r.step.reason, r.step.stopString], ['string', stop]);
      n++;
    }
    assert.equal(n, 2 ** (text.length - 1));
  }
});

test('"\\n\\n" arriving as "\\n" then "\\n"; "</code>" as "</co" + "de>"; text is held only while it could be a stop', () => {
  let r = run({ stopStrings: ['\n\n'] }, ['foo', '\n', '\n', 'bar']);
  assert.deepEqual(r.chunks, ['foo', '', '']);
  assert.equal(r.step?.stopString, '\n\n');
  r = run({ stopStrings: ['</code>'] }, ['x = 1', '</co', 'de>', 'more']);
  assert.deepEqual(r.chunks, ['x = 1', '', '']);
  // A false start is released as soon as it stops matching.
  r = run({ stopStrings: ['</code>'] }, ['a</co', 'x', '<', '/', 'b']);
  assert.deepEqual(r.chunks, ['a', '</cox', '', '', '</b', '']);
  // Only the tail that could start a stop is held, not the whole token.
  r = run({ stopStrings: ['\n\n'] }, ['a\nb\n', 'c']);
  assert.deepEqual(r.chunks, ['a\nb', '\nc', '']);
});

test('overlapping candidates: stops "ab" and "abc" on "aab"', () => {
  for (const pieces of allSplits('aab')) {
    const r = run({ stopStrings: ['ab', 'abc'] }, pieces);
    assert.equal(r.text, 'a', JSON.stringify(pieces));
    assert.equal(r.step?.stopString, 'ab');
  }
  // Both complete at the same start in one token: the longer one is reported, nothing shown.
  assert.deepEqual(run({ stopStrings: ['ab', 'abc'] }, ['abc']).step?.stopString, 'abc');
  // "abc" alone on "abd": held while it could match, then released.
  assert.deepEqual(run({ stopStrings: ['abc'] }, ['a', 'b', 'd']).chunks, ['', '', 'abd', '']);
  // Self-overlapping stop: "aab" inside "aaab".
  for (const pieces of allSplits('aaabx')) assert.equal(run({ stopStrings: ['aab'] }, pieces).text, 'a');
});

test('several stop strings: the earliest wins, whatever the split', () => {
  const stops = ['</code>', '\n\n', 'END'];
  const rnd = seededRandom(4);
  for (const [text, want, which] of [
    ['foo\n\nbar END', 'foo', '\n\n'],
    ['fooEND\n\n', 'foo', 'END'],
    ['a</code>\n\nEND', 'a', '</code>'],
    ['EN</cod\n', 'EN</cod\n', undefined],
  ] as const) {
    for (const pieces of [...allSplits(text)].slice(0, 512).concat(Array.from({ length: 50 }, () => randomSplit(text, rnd)))) {
      const r = run({ stopStrings: stops }, pieces);
      assert.equal(r.text, want, JSON.stringify(pieces));
      assert.equal(r.step?.stopString, which, JSON.stringify(pieces));
    }
  }
});

test('stop ids: stop without showing that token; held text is released', () => {
  const eos = 2;
  let r = run({ stopIds: [eos, 7] }, ['abc', '<|endoftext|>', 'zzz'], [5, eos, 5]);
  assert.deepEqual(r.chunks, ['abc', '']);
  assert.equal(r.step?.reason, 'id');
  r = run({ stopIds: new Set([7]), stopStrings: ['</code>'] }, ['x</co', '<fim_suffix>'], [5, 7]);
  assert.deepEqual(r.chunks, ['x', '</co']);
  assert.equal(r.step?.reason, 'id');
  // The stop id wins even if its text would complete a stop string.
  r = run({ stopIds: [9], stopStrings: ['</code>'] }, ['</co', 'de>'], [5, 9]);
  assert.equal(r.step?.reason, 'id');
  assert.equal(r.text, '</co');
});

test('flush at the end (EOS seen by the caller, token limit): held text comes out; finish is idempotent; push after stop throws', () => {
  const d = new StopDetector({ stopStrings: ['</code>'] });
  assert.equal(d.push(1, 'ok </c').text, 'ok ');
  assert.equal(d.finish(), '</c');
  assert.equal(d.finish(), '');
  assert.equal(d.emitted, 'ok </c');
  assert.ok(d.stopped);
  assert.throws(() => d.push(1, 'x'), /after generation stopped/);
  const e = new StopDetector({ stopStrings: ['\n\n'] });
  assert.equal(e.push(1, 'x\n\n').stop, true);
  assert.equal(e.finish(), '');
  assert.throws(() => e.push(1, 'x'), /after generation stopped/);
  // No rules: everything passes straight through.
  assert.deepEqual(run({}, ['a', '\n', '\n', 'b']).chunks, ['a', '\n', '\n', 'b', '']);
});

test('indentation with spaces: the block ends at the last line that still belongs to it, no trailing newline', () => {
  const indent = { cursorIndent: '    ' };
  let r = run({ indent }, ['return x;', '\n', '}', '\n']);
  assert.equal(r.text, 'return x;');
  assert.equal(r.step?.reason, 'indent');
  const code = 'if (a) {\n        b();\n    }\n    c();\n}\nfunction next() {';
  const want = 'if (a) {\n        b();\n    }\n    c();';
  const rnd = seededRandom(2);
  for (let i = 0; i < 300; i++) {
    const pieces = i === 0 ? [...code] : i === 1 ? [code] : randomSplit(code, rnd);
    r = run({ indent }, pieces);
    assert.equal(r.text, want, JSON.stringify(pieces));
    assert.equal(r.step?.reason, 'indent');
  }
  // The newline is held only until the next line shows whether it stays in the block.
  assert.deepEqual(run({ indent }, ['a', '\n', '  ', '  ', 'b', '\n', ' ', 'c']).chunks, ['a', '', '', '', '\n    b', '', '', '']);
  // The first line is the rest of the cursor line: never checked.
  assert.equal(run({ indent }, ['x)', ' {']).text, 'x) {');
  // A completion that starts by leaving the block is empty.
  assert.equal(run({ indent }, ['\n', '}']).text, '');
  // Cursor at column 0: the rule can never fire.
  assert.equal(run({ indent: { cursorIndent: '' } }, ['a\n', 'b\n', 'c']).text, 'a\nb\nc');
});

test('indentation with tabs: tab stops of tabWidth columns, mixed with spaces', () => {
  assert.equal(indentWidth('\t'), 4);
  assert.equal(indentWidth('  \t'), 4);
  assert.equal(indentWidth('\t  ', 8), 10);
  assert.equal(indentWidth(' \t \tx', 4), 8);
  const tab4 = { cursorIndent: '\t' };
  assert.equal(run({ indent: tab4 }, ['a\n', '    b\n', ' \tc\n', '\t\td\n', '  e']).text, 'a\n    b\n \tc\n\t\td');
  const tab8 = { cursorIndent: '\t', tabWidth: 8 };
  assert.equal(run({ indent: tab8 }, ['a\n', '\tb\n', '    c']).text, 'a\n\tb');
  assert.equal(run({ indent: { cursorIndent: '        ' } }, ['a\n', '\t\tb\n', '\tc']).text, 'a\n\t\tb');
});

test('blank lines inside the block do not stop it; blank lines before the end are dropped', () => {
  const indent = { cursorIndent: '    ' };
  let r = run({ indent }, ['a\n', '\n', '    b\n', '  \n', '\t\n', '    c', '\n', '\n', 'd']);
  assert.equal(r.text, 'a\n\n    b\n  \n\t\n    c');
  assert.equal(r.step?.reason, 'indent');
  r = run({ indent }, ['a', '\n\n\n', '   \n', 'd']);
  assert.equal(r.text, 'a');
  // Windows line endings: the cut drops the whole "\r\n".
  for (const pieces of allSplits('a\r\n  b\r\n\r\nc')) assert.equal(run({ indent: { cursorIndent: '  ' } }, pieces).text, 'a\r\n  b', JSON.stringify(pieces));
  // Ended by EOS/limit while a blank line is undecided: the held text comes out verbatim.
  r = run({ indent }, ['a\n', '   ']);
  assert.equal(r.text, 'a\n   ');
  assert.equal(r.step, undefined);
});

test('stop strings and indentation together: whichever cuts first', () => {
  const indent = { cursorIndent: '  ' };
  let r = run({ indent, stopStrings: ['END'] }, ['a\n', 'b END']);
  assert.deepEqual([r.text, r.step?.reason], ['a', 'indent']);
  r = run({ indent, stopStrings: ['END'] }, ['a END\n', 'b']);
  assert.deepEqual([r.text, r.step?.reason], ['a ', 'string']);
  r = run({ indent, stopStrings: ['\n\n'] }, ['a\n', '\n', 'b']);
  assert.deepEqual([r.text, r.step?.reason, r.step?.stopString], ['a', 'string', '\n\n']);
  // A stop string inside the block, after held indentation.
  r = run({ indent, stopStrings: ['</code>'] }, ['a\n', '  b</co', 'de>']);
  assert.deepEqual([r.text, r.step?.reason], ['a\n  b', 'string']);
});

test('time budget: may stop only right after a token that completed a line', () => {
  const d = new StopDetector({});
  const budget = 100;
  d.push(1, 'const x');
  assert.equal(d.mayStopForTime(500, budget), false, 'over budget but no full line yet');
  d.push(1, ' = 1;');
  assert.equal(d.mayStopForTime(500, budget), false);
  d.push(1, '\n');
  assert.equal(d.mayStopForTime(50, budget), false, 'under budget');
  assert.equal(d.mayStopForTime(500, 0), false, 'budget 0 = no limit');
  assert.equal(d.mayStopForTime(500, budget), true, 'over budget at a line end');
  d.push(1, 'const y');
  assert.equal(d.mayStopForTime(600, budget), false, 'mid-line again: wait for the next line end');
  d.push(1, ' = 2;\n');
  assert.equal(d.mayStopForTime(700, budget), true);
  assert.equal(d.finish(), '');
  assert.equal(d.emitted, 'const x = 1;\nconst y = 2;\n');
  assert.equal(d.mayStopForTime(800, budget), false, 'already stopped');
  // With the indentation rule the newline is still held when the caller asks; finish releases it.
  const e = new StopDetector({ indent: { cursorIndent: '  ' } });
  assert.equal(e.push(1, 'foo()').text, 'foo()');
  assert.equal(e.push(1, '\n').text, '');
  assert.equal(e.mayStopForTime(1000, budget), true);
  assert.equal(e.finish(), '\n');
  // A stop id is not a line end.
  const f = new StopDetector({ stopIds: [2] });
  f.push(1, 'a\n');
  f.push(2, '\n');
  assert.equal(f.mayStopForTime(1000, budget), false);
});

test('bad options throw with a clear message', () => {
  assert.throws(() => new StopDetector({ stopStrings: [''] }), /stop strings must be non-empty/);
  assert.throws(() => new StopDetector({ indent: { cursorIndent: '  x' } }), /cursorIndent must contain only spaces and tabs/);
  assert.throws(() => new StopDetector({ indent: { cursorIndent: '', tabWidth: 0 } }), /tabWidth must be a positive integer/);
  assert.throws(() => new StopDetector({ indent: { cursorIndent: '', tabWidth: 2.5 } }), /tabWidth/);
});
