import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prefixWindow, suffixWindow } from '../../../extension/context/window.ts';

const estimate = (s: string) => Math.ceil(s.length / 4);
/** A file of `n` numbered lines of ~40 characters (~10 tokens each). */
const file = (n: number) => Array.from({ length: n }, (_, i) => `    const value${i} = compute(${i}, other${i});`).join('\n');

describe('prefix window', () => {
  it('takes the whole prefix when it fits', () => {
    const doc = file(20);
    const w = prefixWindow(doc, doc.length, 10_000, estimate);
    assert.equal(w.start, 0);
    assert.equal(w.text, doc);
  });

  it('respects the budget, starts at a line start, and loses at most one block', () => {
    const doc = file(3000);
    for (const budget of [1000, 2048, 4000]) {
      const w = prefixWindow(doc, doc.length, budget, estimate, 512);
      assert.ok(w.tokens <= budget, `tokens ${w.tokens} > budget ${budget}`);
      assert.ok(estimate(w.text) <= budget);
      assert.ok(w.tokens > budget - 512 - 20, `window too small: ${w.tokens} for ${budget}`);
      assert.ok(w.start === 0 || doc[w.start - 1] === '\n', 'starts at a line start');
      assert.equal(w.end, doc.length);
    }
  });

  it('keeps its start while the user types, and then moves by about a block', () => {
    let doc = file(3000);
    let cursor = doc.length;
    const first = prefixWindow(doc, cursor, 2048, estimate, 512);
    const starts = new Set<number>([first.start]);
    let unchangedRun = 0;
    let maxRun = 0;
    let previous = first.start;
    // Type 6000 characters (~1500 tokens) one at a time at the end.
    for (let i = 0; i < 6000; i++) {
      const ch = i % 50 === 49 ? '\n' : 'x';
      doc = doc.slice(0, cursor) + ch + doc.slice(cursor);
      cursor++;
      const w = prefixWindow(doc, cursor, 2048, estimate, 512);
      assert.ok(w.tokens <= 2048);
      if (w.start === previous) unchangedRun++;
      else {
        // A move skips at least ~a block of text (512 tokens ~ 2048 characters here).
        assert.ok(w.start - previous >= 1500, `moved by only ${w.start - previous} characters`);
        maxRun = Math.max(maxRun, unchangedRun);
        unchangedRun = 0;
      }
      previous = w.start;
      starts.add(w.start);
    }
    assert.ok(starts.size <= 4, `the start moved ${starts.size - 1} times in 6000 keystrokes`);
    assert.ok(Math.max(maxRun, unchangedRun) >= 1500);
  });

  it('stays put when the cursor moves within the same block', () => {
    const doc = file(3000);
    const a = prefixWindow(doc, doc.length - 400, 2048, estimate, 512);
    const b = prefixWindow(doc, doc.length - 300, 2048, estimate, 512);
    assert.equal(a.start, b.start);
  });

  it('cuts a single over-long cursor line by characters', () => {
    const doc = `short\n${'x'.repeat(10_000)}`;
    const w = prefixWindow(doc, doc.length, 100, estimate);
    assert.ok(w.tokens <= 100);
    assert.ok(w.text.length > 300);
    assert.equal(w.end, doc.length);
  });

  it('an empty budget gives an empty window', () => {
    const doc = file(100);
    assert.equal(prefixWindow(doc, doc.length, 0, estimate).text, '');
  });
});

describe('suffix window', () => {
  it('takes everything when it fits', () => {
    const doc = file(10);
    const w = suffixWindow(doc, 5, 10_000, estimate);
    assert.equal(w.text, doc.slice(5));
  });
  it('respects the budget and ends at a line end', () => {
    const doc = file(500);
    const cursor = 123;
    const w = suffixWindow(doc, cursor, 256, estimate);
    assert.equal(w.start, cursor);
    assert.ok(w.tokens <= 256);
    assert.ok(estimate(w.text) <= 256);
    assert.ok(w.tokens > 200);
    assert.equal(doc[w.end - 1], '\n');
  });
  it('cuts an over-long rest of the line by characters', () => {
    const doc = `${'y'.repeat(5000)}\nnext`;
    const w = suffixWindow(doc, 10, 50, estimate);
    assert.ok(w.tokens <= 50 && w.tokens > 40);
  });
});
