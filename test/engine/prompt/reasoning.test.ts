import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promptOpensReasoning, ReasoningSplitter, type ReasoningDelta, type ReasoningSplitterOptions } from '../../../engine/prompt/reasoning.ts';

type Seg = ['reasoning' | 'content', string];

/** Runs `pieces` through a splitter; returns the merged segments, checking each delta's shape. */
function run(pieces: string[], opts?: ReasoningSplitterOptions): Seg[] {
  const s = new ReasoningSplitter(opts);
  const deltas: ReasoningDelta[] = [];
  for (const p of pieces) deltas.push(...s.push(p));
  deltas.push(...s.flush());
  const segs: Seg[] = [];
  for (const d of deltas) {
    const keys = Object.keys(d);
    assert.equal(keys.length, 1, `a delta has exactly one kind: ${JSON.stringify(d)}`);
    const kind = keys[0] as Seg[0];
    const text = d[kind]!;
    assert.ok(text.length > 0, 'no empty deltas');
    const last = segs.at(-1);
    if (last && last[0] === kind) last[1] += text;
    else segs.push([kind, text]);
  }
  return segs;
}

/** Every way to cut `text` into two and into three pieces, and one character at a time. */
function* splits(text: string): Generator<string[]> {
  yield [text];
  yield [...text];
  for (let i = 0; i <= text.length; i++) {
    yield [text.slice(0, i), text.slice(i)];
    for (let j = i; j <= text.length; j++) yield [text.slice(0, i), text.slice(i, j), text.slice(j)];
  }
}

const CASES: { name: string; text: string; opts?: ReasoningSplitterOptions; want: Seg[] }[] = [
  {
    name: 'reasoning then content',
    text: '<think>a<b</think>\n\nc </thin',
    want: [
      ['reasoning', 'a<b'],
      ['content', '\n\nc </thin'],
    ],
  },
  {
    name: 'content before the block',
    text: 'x<th<think>r</think>y',
    want: [
      ['content', 'x<th'],
      ['reasoning', 'r'],
      ['content', 'y'],
    ],
  },
  {
    name: 'started inside reasoning by the prompt',
    text: 'plan</think>answer',
    opts: { startInReasoning: true },
    want: [
      ['reasoning', 'plan'],
      ['content', 'answer'],
    ],
  },
  {
    name: 'tags after the block are content',
    text: '<think></think>use <think> and </think> tags',
    want: [['content', 'use <think> and </think> tags']],
  },
  {
    name: 'no tags at all, ending in a partial tag',
    text: 'if a < b: <thi',
    want: [['content', 'if a < b: <thi']],
  },
  {
    name: 'unfinished reasoning ending in a partial close tag',
    text: '<think>hmm </thi',
    want: [['reasoning', 'hmm </thi']],
  },
  {
    name: 'custom tags',
    text: '[R]why[/R]what',
    opts: { openTag: '[R]', closeTag: '[/R]' },
    want: [
      ['reasoning', 'why'],
      ['content', 'what'],
    ],
  },
];

describe('ReasoningSplitter', () => {
  for (const c of CASES) {
    test(`${c.name}: the same result however the text is cut`, () => {
      let n = 0;
      for (const pieces of splits(c.text)) {
        assert.deepEqual(run(pieces, c.opts), c.want, JSON.stringify(pieces));
        n++;
      }
      assert.ok(n > c.text.length);
    });
  }

  test('a possible tag start is held back, then released when it is not a tag', () => {
    const s = new ReasoningSplitter();
    assert.deepEqual(s.push('if a <'), [{ content: 'if a ' }]);
    assert.deepEqual(s.push('th'), []);
    assert.deepEqual(s.push('e'), [{ content: '<the' }]);
    assert.deepEqual(s.push('<th'), []);
    assert.deepEqual(s.push('ink>'), []);
    assert.equal(s.inReasoning, true);
    assert.deepEqual(s.push('r</'), [{ reasoning: 'r' }]);
    assert.deepEqual(s.push('think>done'), [{ content: 'done' }]);
    assert.equal(s.inReasoning, false);
    assert.deepEqual(s.flush(), []);
  });

  test('one delta can carry reasoning and content, in order', () => {
    const s = new ReasoningSplitter({ startInReasoning: true });
    assert.deepEqual(s.push('a</think>b'), [{ reasoning: 'a' }, { content: 'b' }]);
  });
});

test('promptOpensReasoning: the prompt ends with the open tag', () => {
  assert.equal(promptOpensReasoning('<｜User｜>hi<｜Assistant｜><think>\n'), true);
  assert.equal(promptOpensReasoning('<|im_start|>assistant\n'), false);
  assert.equal(promptOpensReasoning('<think>x</think>\n\nok'), false);
  assert.equal(promptOpensReasoning('go [R]', '[R]'), true);
});
