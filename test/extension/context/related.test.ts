import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chunkFile, identifiers, jaccard, withActivity, type Chunk } from '../../../extension/context/chunks.ts';
import { layoutGroups, RelatedContext, rankChunks, selectWithinBudget, stableOrder } from '../../../extension/context/related.ts';

const count = (s: string) => Math.ceil(s.length / 4);

function chunk(path: string, text: string, extra: Partial<Chunk> = {}): Chunk {
  return { ...chunkFile({ path, languageId: 'typescript', text })[0]!, ...extra };
}

const users = chunk('src/users.ts', 'export function loadUser(id: string): User { return db.users.find(id); }\ninterface User { id: string; name: string }');
const orders = chunk('src/orders.ts', 'export function loadOrder(orderId: string): Order { return db.orders.find(orderId); }');
const css = chunk('src/style.ts', 'export const colors = { primary: "#fff", secondary: "#000" };');

describe('identifiers and similarity', () => {
  it('lower-cased identifiers without common keywords', () => {
    assert.deepEqual([...identifiers('const userName = getUser(id); return userName;')].sort(), ['getuser', 'id', 'username']);
  });
  it('Jaccard similarity', () => {
    assert.equal(jaccard(new Set(['a', 'b']), new Set(['a', 'b'])), 1);
    assert.equal(jaccard(new Set(['a', 'b']), new Set(['b', 'c'])), 1 / 3);
    assert.equal(jaccard(new Set(), new Set(['a'])), 0);
  });
  it('chunks on a fixed line grid with stable keys; an edit changes only its chunk key', () => {
    const text = Array.from({ length: 70 }, (_, i) => `line${i}`).join('\n');
    const a = chunkFile({ path: 'a.ts', languageId: 'ts', text });
    assert.deepEqual(a.map((c) => c.startLine), [0, 30, 60]);
    const b = chunkFile({ path: 'a.ts', languageId: 'ts', text: text.replace('line65', 'changed') });
    assert.equal(a[0]!.key, b[0]!.key);
    assert.equal(a[1]!.key, b[1]!.key);
    assert.notEqual(a[2]!.key, b[2]!.key);
  });
  it('activity marks the chunk holding the line', () => {
    const text = Array.from({ length: 70 }, (_, i) => `line${i}`).join('\n');
    const c = withActivity(chunkFile({ path: 'a.ts', languageId: 'ts', text }), new Map([[35, { at: 7, edited: true }]]));
    assert.deepEqual(c.map((x) => [x.recency, x.edited]), [[0, false], [7, true], [0, false]]);
  });
});

describe('ranking', () => {
  const query = identifiers('const user = loadUser(userId); console.log(user.name);');
  it('puts the chunk sharing identifiers with the cursor area first and drops unrelated ones', () => {
    const ranked = rankChunks(query, [css, orders, users]);
    assert.equal(ranked[0]!.chunk.path, 'src/users.ts');
    assert.ok(!ranked.some((r) => r.chunk.path === 'src/style.ts'));
  });
  it('recently edited chunks get a small bonus; ties break by recency', () => {
    const a = chunk('a.ts', 'alpha beta gamma');
    const b = chunk('b.ts', 'alpha beta gamma');
    const q = identifiers('alpha beta gamma delta');
    assert.equal(rankChunks(q, [a, { ...b, edited: true }])[0]!.chunk.path, 'b.ts');
    assert.equal(rankChunks(q, [a, { ...b, recency: 5 }])[0]!.chunk.path, 'b.ts');
    assert.equal(rankChunks(q, [{ ...a, recency: 9 }, { ...b, recency: 5 }])[0]!.chunk.path, 'a.ts');
  });
  it('selects within the budget (path and separator included), skipping chunks that do not fit', () => {
    const small = chunk('s.ts', 'alpha');
    const big = chunk('big.ts', `alpha ${'x'.repeat(4000)}`);
    const ranked = [
      { chunk: big, score: 0.9 },
      { chunk: small, score: 0.5 },
    ];
    const { chosen, tokens } = selectWithinBudget(ranked, 100, count);
    assert.deepEqual(chosen.map((r) => r.chunk.path), ['s.ts']);
    assert.ok(tokens <= 100);
  });
});

describe('stable order', () => {
  const r = (key: string, score: number) => ({ chunk: { ...users, key }, score });
  it('keeps the previous order for chunks that stay and appends new ones, best last', () => {
    const order = stableOrder(['b', 'a', 'gone'], [r('a', 0.9), r('c', 0.2), r('b', 0.1), r('d', 0.5)]);
    assert.deepEqual(order.map((x) => x.chunk.key), ['b', 'a', 'c', 'd']);
  });
});

describe('entries for long windows', () => {
  const lines = (n: number, word: string) => Array.from({ length: n }, (_, i) => `export const ${word}${i} = load${word}(${i});`).join('\n');
  const fileA = lines(90, 'User');
  const a = chunkFile({ path: 'a.ts', languageId: 'typescript', text: fileA });
  const b = chunkFile({ path: 'b.ts', languageId: 'typescript', text: lines(30, 'Order') });
  const ranked = (cs: Chunk[], score = 0.5) => cs.map((chunk) => ({ chunk, score }));

  it('consecutive chunks of a file become one entry; previous entries keep their place and are not merged with new chunks', () => {
    const first = layoutGroups([], ranked([a[2]!, a[0]!, a[1]!, b[0]!]));
    assert.deepEqual(first.map((g) => g.map((r) => r.chunk.key)), [[a[0]!.key, a[1]!.key, a[2]!.key], [b[0]!.key]]);
    assert.equal(first[0]!.map((r) => r.chunk.text).join('\n'), fileA, 'the whole file');
    // a[1] is gone (edited): its entry splits at the gap; the new chunk goes after, on its own.
    const second = layoutGroups(first.map((g) => g.map((r) => r.chunk.key)), ranked([a[0]!, a[2]!, b[0]!, { ...a[1]!, key: 'a-edited' }]));
    assert.deepEqual(second.map((g) => g.map((r) => r.chunk.key)), [[a[0]!.key], [a[2]!.key], [b[0]!.key], ['a-edited']]);
  });

  it('room left after the ranked chunks goes to the rest of their files, and to earlier chunks that no longer rank', () => {
    const related = new RelatedContext();
    const req = (now: number, query: string) => ({ now, file: 'file:///m.ts', query: () => identifiers(query), candidates: () => [...a, ...b], budget: 100_000, count });
    const first = related.get(req(0, 'User0 loadUser')).snapshot;
    assert.deepEqual(first.files, [{ path: 'a.ts', text: fileA }], 'a.ts whole, though only some of its chunks rank; b.ts shares nothing');
    const second = related.get(req(5000, 'Order0 loadOrder')).snapshot;
    assert.deepEqual(second.files.slice(0, 1), first.files, 'a.ts no longer ranks and stays in front');
    assert.ok(second.files.some((f) => f.path === 'b.ts'));
    // With a small budget the ranked chunks come first and the rest is left out.
    const small = new RelatedContext().get({ ...req(0, 'Order0 loadOrder'), budget: count(b[0]!.text) + 10 }).snapshot;
    assert.deepEqual(small.files.map((f) => f.path), ['b.ts']);
  });
});

describe('snapshot', () => {
  function setup() {
    const related = new RelatedContext({ idleMs: 2000, maxAgeMs: 60_000 });
    let candidateCalls = 0;
    let pool: Chunk[] = [users, orders];
    const req = (now: number, file = 'file:///main.ts', query = 'loadUser user name') => ({
      now,
      file,
      query: () => identifiers(query),
      candidates: () => {
        candidateCalls++;
        return pool;
      },
      budget: 1000,
      count,
    });
    return { related, req, calls: () => candidateCalls, setPool: (p: Chunk[]) => (pool = p) };
  }

  it('is kept while the user types (requests < 2 s apart), even as the text around the cursor changes', () => {
    const t = setup();
    const first = t.related.get(t.req(0));
    assert.equal(first.refreshed, true);
    for (let now = 100; now < 20_000; now += 150) {
      const next = t.related.get(t.req(now, 'file:///main.ts', now % 300 === 0 ? 'loadOrder order' : 'loadUser'));
      assert.equal(next.refreshed, false);
      assert.deepEqual(next.snapshot.files, first.snapshot.files);
    }
    assert.equal(t.calls(), 1, 'candidates are gathered only on a refresh');
  });

  it('is recomputed after an idle pause, on another file, when too old, and when invalidated', () => {
    const t = setup();
    t.related.get(t.req(0));
    assert.equal(t.related.get(t.req(2500)).refreshed, true, 'idle');
    assert.equal(t.related.get(t.req(2600, 'file:///other.ts')).refreshed, true, 'file changed');
    assert.equal(t.related.get(t.req(2700, 'file:///other.ts')).refreshed, false);
    let now = 2700;
    while (now + 1000 < 2600 + 60_000) assert.equal(t.related.get(t.req((now += 1000), 'file:///other.ts')).refreshed, false);
    now = 2600 + 60_000;
    assert.equal(t.related.get(t.req(now, 'file:///other.ts')).refreshed, true, 'max age');
    t.related.invalidate();
    assert.equal(t.related.get(t.req(now + 1100, 'file:///other.ts')).refreshed, true, 'invalidated');
  });

  it('a refresh keeps the previous chunks in front, in their order', () => {
    const t = setup();
    const first = t.related.get(t.req(0, 'file:///main.ts', 'loadUser user name loadOrder order orderId')).snapshot;
    const extra = chunk('src/extra.ts', 'function loadUser(userId) { return loadOrder(userId).user; }');
    t.setPool([extra, users, orders]);
    const second = t.related.get(t.req(5000, 'file:///main.ts', 'loadUser user name loadOrder order orderId')).snapshot;
    assert.deepEqual(second.keys.slice(0, first.keys.length), first.keys);
    assert.ok(second.keys.includes(extra.key));
  });
});
