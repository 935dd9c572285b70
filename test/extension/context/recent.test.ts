import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecentActivity } from '../../../extension/context/recent.ts';

describe('recent activity', () => {
  it('lists files most recent first, keeps edits sticky, and stays bounded', () => {
    const r = new RecentActivity(3, 2);
    r.record('a', 1, true, 1);
    r.record('b', 5, false, 2);
    r.record('a', 1, false, 3);
    assert.deepEqual(r.files(), ['a', 'b']);
    assert.deepEqual(r.lines('a').get(1), { at: 3, edited: true }, 'a visit does not forget an edit');
    r.record('a', 2, false, 4);
    r.record('a', 3, false, 5);
    assert.deepEqual([...r.lines('a').keys()], [2, 3], 'lines per file bounded (oldest go)');
    r.record('c', 0, false, 6);
    r.record('d', 0, false, 7);
    assert.deepEqual(r.files(), ['d', 'c', 'a'], 'files bounded (least recent go)');
    r.forget('c');
    assert.deepEqual(r.files(), ['d', 'a']);
    assert.equal(r.lines('zzz').size, 0);
  });
});
