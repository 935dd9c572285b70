import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TypeThroughCache } from '../../../extension/completions/type-through.ts';

const doc = 'function add(a, b) {\n  return \n}\n';
const at = doc.indexOf('return ') + 'return '.length;
const typeAt = (text: string, offset: number, typed: string) => text.slice(0, offset) + typed + text.slice(offset);

describe('type-through cache', () => {
  it('returns the rest of the suggestion as the user types its start', () => {
    const c = new TypeThroughCache();
    c.remember('file:///a.js', doc, at, 'a + b;');
    assert.equal(c.lookup('file:///a.js', doc, at), 'a + b;', 'same position: the whole suggestion');
    assert.equal(c.lookup('file:///a.js', typeAt(doc, at, 'a'), at + 1), ' + b;');
    assert.equal(c.lookup('file:///a.js', typeAt(doc, at, 'a + '), at + 4), 'b;');
  });
  it('misses when the typed text diverges, is complete, or is elsewhere', () => {
    const c = new TypeThroughCache();
    c.remember('file:///a.js', doc, at, 'a + b;');
    assert.equal(c.lookup('file:///a.js', typeAt(doc, at, 'x'), at + 1), undefined, 'diverged');
    assert.equal(c.lookup('file:///a.js', typeAt(doc, at, 'a + b;'), at + 6), undefined, 'all typed');
    assert.equal(c.lookup('file:///b.js', doc, at), undefined, 'other file');
    assert.equal(c.lookup('file:///a.js', doc, at - 1), undefined, 'cursor moved back');
  });
  it('misses when the text before the suggestion changed', () => {
    const c = new TypeThroughCache();
    c.remember('file:///a.js', doc, at, 'a + b;');
    const edited = doc.replace('add', 'sum');
    assert.equal(c.lookup('file:///a.js', typeAt(edited, at, 'a'), at + 1), undefined);
  });
  it('misses when the rest of the line changed (an auto-closed bracket)', () => {
    const c = new TypeThroughCache();
    c.remember('file:///a.js', doc, at, 'f(a, b);');
    // The editor inserted "()" for a typed "(": the old suggestion would double the ")".
    const typed = typeAt(doc, at, 'f()');
    assert.equal(c.lookup('file:///a.js', typed, at + 2), undefined);
  });
  it('an empty suggestion clears the entry', () => {
    const c = new TypeThroughCache();
    c.remember('file:///a.js', doc, at, 'a + b;');
    c.remember('file:///a.js', doc, at, '');
    assert.equal(c.lookup('file:///a.js', doc, at), undefined);
  });
});
