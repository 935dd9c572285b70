/**
 * The context chips' windows within the chat budget: the selection first and whole, mentions from
 * the top sharing what is left, the active file around the cursor with the rest; the cap from the
 * model's context; and how windows are rendered into the user message (fenced, with paths).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  allocateChips,
  aroundWindow,
  CHIP_OVERHEAD_TOKENS,
  chipBudget,
  fenceFor,
  headWindow,
  renderUserMessage,
  type ChipSource,
} from '../../../extension/chat/chip-windows.ts';

/** One token per 4 characters, rounded up: easy to reason about in the assertions. */
const count = (t: string) => Math.ceil(t.length / 4);
/** n lines "line 001\n" ... : 9 characters, 3 tokens each. */
const doc = (n: number, tag = 'line') => Array.from({ length: n }, (_, i) => `${tag} ${String(i + 1).padStart(3, '0')}\n`).join('');

describe('chip windows', () => {
  it('head windows take whole lines from the top; one over-long line is cut by characters', () => {
    const w = headWindow(doc(10), 9, count);
    assert.equal(w.text, doc(3));
    assert.equal(w.tokens, 9);
    const long = headWindow('x'.repeat(400), 10, count);
    assert.equal(long.text.length, 40);
  });

  it('windows around the cursor grow one line up, one down; the whole file when it fits', () => {
    const text = doc(20);
    assert.equal(aroundWindow(text, { start: 0, end: 0 }, 1000, count).text, text);
    const at = text.indexOf('line 010');
    const w = aroundWindow(text, { start: at, end: at }, 15, count);
    assert.equal(w.text, ['line 008', 'line 009', 'line 010', 'line 011', 'line 012'].map((l) => `${l}\n`).join(''));
    // A selection ending at a line start does not take that line; a focus over the budget comes from its start.
    const sel = aroundWindow(text, { start: text.indexOf('line 005'), end: text.indexOf('line 015') }, 12, count);
    assert.equal(sel.text, doc(8).slice(text.indexOf('line 005')));
  });

  it('allocates the selection first (whole), then mentions, then the active file with what is left', () => {
    const sources: ChipSource[] = [
      { id: 'selection', kind: 'selection', label: 'a.py:5-6', path: 'src/a.py', languageId: 'python', text: doc(2, 'sele'), firstLine: 5, totalLines: 100 },
      { id: 'file', kind: 'file', label: 'a.py', path: 'src/a.py', languageId: 'python', text: doc(100), focus: { start: 450, end: 450 } },
      { id: 'mention:b', kind: 'mention', label: 'b.py', path: 'b.py', languageId: 'python', text: doc(5, 'bbbb') },
    ];
    const total = 3 * CHIP_OVERHEAD_TOKENS + 6 + 15 + 30;
    const { windows, used } = allocateChips(sources, total, count);
    assert.deepEqual(
      windows.map((w) => w.chip.id),
      ['selection', 'file', 'mention:b'],
      'in the sources order',
    );
    const [sel, file, mention] = windows;
    assert.equal(sel!.text, doc(2, 'sele'));
    assert.equal(sel!.chip.tokens, 6 + CHIP_OVERHEAD_TOKENS);
    assert.equal(sel!.chip.truncated, undefined);
    assert.deepEqual([sel!.startLine, sel!.endLine], [5, 6]);
    assert.equal(mention!.text, doc(5, 'bbbb'));
    assert.equal(mention!.chip.tokens, 15 + CHIP_OVERHEAD_TOKENS);
    // The active file gets the remaining 30 tokens: 10 lines around the cursor (line 51).
    assert.ok(file!.chip.truncated);
    assert.equal(file!.chip.tokens, 30 + CHIP_OVERHEAD_TOKENS);
    assert.deepEqual([file!.startLine, file!.endLine], [46, 55]);
    assert.equal(file!.totalLines, 100);
    assert.equal(used, total);

    // With less budget the mention is served before the file, which is left with nothing.
    const tight = allocateChips(sources, 2 * CHIP_OVERHEAD_TOKENS + 6 + 15, count);
    assert.equal(tight.windows[2]!.text, doc(5, 'bbbb'));
    assert.equal(tight.windows[1]!.text, '');
    assert.equal(tight.windows[1]!.chip.tokens, 0);
    assert.equal(tight.windows[1]!.chip.truncated, true);
  });

  it('a huge selection is cut to the budget and nothing is left for the others', () => {
    const sources: ChipSource[] = [
      { id: 'selection', kind: 'selection', label: 'a.py:1-500', path: 'a.py', languageId: 'python', text: doc(500) },
      { id: 'file', kind: 'file', label: 'a.py', path: 'a.py', languageId: 'python', text: doc(500), focus: { start: 0, end: 4500 } },
    ];
    const { windows, used } = allocateChips(sources, 100, count);
    assert.equal(windows[0]!.chip.truncated, true);
    assert.equal(windows[0]!.text, doc(28));
    assert.equal(windows[1]!.text, '');
    assert.equal(windows[1]!.chip.tokens, 0);
    assert.ok(used <= 100);
  });

  it('mentions share the budget; a small file leaves its unused share to the others', () => {
    const sources: ChipSource[] = [
      { id: 'mention:big1', kind: 'mention', label: 'big1.py', path: 'big1.py', languageId: 'python', text: doc(200, 'big1') },
      { id: 'mention:small', kind: 'mention', label: 'small.py', path: 'small.py', languageId: 'python', text: doc(2, 'smal') },
      { id: 'mention:big2', kind: 'mention', label: 'big2.py', path: 'big2.py', languageId: 'python', text: doc(200, 'big2') },
    ];
    const total = 300;
    const { windows, used } = allocateChips(sources, total, count);
    const [b1, s, b2] = windows;
    assert.equal(s!.text, doc(2, 'smal'));
    assert.ok(!s!.chip.truncated);
    // What the small file did not need is split between the two big ones.
    const share = (total - s!.chip.tokens) / 2;
    for (const b of [b1!, b2!]) {
      assert.ok(b.chip.truncated);
      assert.ok(b.chip.tokens <= share && b.chip.tokens > share - 4, `${b.chip.tokens} near ${share}`);
    }
    assert.ok(used <= total);
  });

  it('the budget is the setting, capped by the model context minus the answer reserve', () => {
    assert.equal(chipBudget(8192, undefined, 1024), 8192);
    assert.equal(chipBudget(8192, 32768, 1024), 8192);
    assert.equal(chipBudget(8192, 4096, 1024), 4096 - 1024 - 512);
    // A tiny context keeps half for the answer.
    assert.equal(chipBudget(8192, 2048, 4096), 2048 - 1024 - 512);
  });

  it('renders chips as fenced code with their paths, the question last', () => {
    const sources: ChipSource[] = [
      { id: 'selection', kind: 'selection', label: 'a.py:2-3', path: 'src/a.py', languageId: 'python', text: 'x = 1\ny = 2\n', firstLine: 2, totalLines: 10 },
      { id: 'file', kind: 'file', label: 'a.py', path: 'src/a.py', languageId: 'python', text: doc(3), focus: { start: 0, end: 0 } },
      { id: 'mention:r', kind: 'mention', label: 'README.md', path: 'README.md', languageId: 'markdown', text: 'Use ```sh\nnpm test\n```\n' },
    ];
    const { windows } = allocateChips(sources, 1000, count);
    const m = renderUserMessage('What does y hold?', windows);
    assert.ok(m.endsWith('\n\nWhat does y hold?'));
    assert.ok(m.includes('The file open in the editor, `src/a.py`:\n```python\nline 001\n'));
    assert.ok(m.includes('`README.md`:\n````markdown\nUse ```sh\nnpm test\n```\n````'), 'a longer fence around code with fences');
    assert.ok(m.includes('Selected code from `src/a.py` (lines 2-3):\n```python\nx = 1\ny = 2\n```\n\nWhat'), 'the selection right before the question');
    assert.ok(m.indexOf('src/a.py`:') < m.indexOf('README.md') && m.indexOf('README.md') < m.indexOf('Selected code'));
    assert.equal(renderUserMessage('hi', []), 'hi');
    assert.equal(fenceFor('no backticks'), '```');
  });
});
