/**
 * The proposed document's text (the current text with the range replaced) and where a proposal's
 * range moves when the user edits the document while the diff is open.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mapRange, spliceText } from '../../../extension/edits/proposal.ts';

describe('spliceText', () => {
  test('replaces, inserts, appends and replaces everything', () => {
    assert.equal(spliceText('abcdef', 2, 4, 'XY'), 'abXYef');
    assert.equal(spliceText('abc', 1, 1, '-'), 'a-bc');
    assert.equal(spliceText('abc\n', 4, 4, '\ndef t():\n'), 'abc\n\ndef t():\n');
    assert.equal(spliceText('old', 0, 3, 'new'), 'new');
    assert.equal(spliceText('', 0, 0, 'x'), 'x');
  });

  test('offsets outside the text are clamped', () => {
    assert.equal(spliceText('abc', 5, 9, 'Z'), 'abcZ');
    assert.equal(spliceText('abc', 2, 1, 'Z'), 'abZc');
  });
});

describe('mapRange', () => {
  const r = { start: 10, end: 20 };
  test('edits before the range shift it, edits after it leave it', () => {
    assert.deepEqual(mapRange(r.start, r.end, [{ offset: 0, length: 0, text: 'abc' }]), { start: 13, end: 23 });
    assert.deepEqual(mapRange(r.start, r.end, [{ offset: 2, length: 5, text: '' }]), { start: 5, end: 15 });
    assert.deepEqual(mapRange(r.start, r.end, [{ offset: 20, length: 3, text: 'x' }]), r);
    assert.deepEqual(mapRange(r.start, r.end, [{ offset: 30, length: 0, text: 'x' }, { offset: 5, length: 5, text: '' }]), { start: 5, end: 15 });
  });

  test('edits touching the range from outside: an insertion at its start is before it, one at its end after it', () => {
    assert.deepEqual(mapRange(r.start, r.end, [{ offset: 10, length: 0, text: '#' }]), { start: 11, end: 21 });
    assert.deepEqual(mapRange(r.start, r.end, [{ offset: 20, length: 0, text: '#' }]), r);
    assert.deepEqual(mapRange(r.start, r.end, [{ offset: 5, length: 5, text: 'xy' }]), { start: 7, end: 17 });
  });

  test('an edit overlapping the range invalidates it', () => {
    assert.equal(mapRange(r.start, r.end, [{ offset: 15, length: 0, text: 'x' }]), undefined);
    assert.equal(mapRange(r.start, r.end, [{ offset: 8, length: 4, text: '' }]), undefined);
    assert.equal(mapRange(r.start, r.end, [{ offset: 19, length: 3, text: '' }]), undefined);
  });

  test('an empty range (text appended at the end) follows an insertion at its place', () => {
    assert.deepEqual(mapRange(30, 30, [{ offset: 30, length: 0, text: 'typed' }]), { start: 35, end: 35 });
    assert.deepEqual(mapRange(30, 30, [{ offset: 30, length: 2, text: '' }]), { start: 30, end: 30 });
  });
});
