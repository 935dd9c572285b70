/**
 * The chat history in a Memento (a Map-backed fake with the same get/update): save and restore,
 * a turn that was streaming restored as cancelled, corrupt values starting empty (and logged), the
 * turn and byte bounds, and debounced saves during streaming that flush on demand.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { boundTurns, ChatHistory, HISTORY_KEY, type MementoLike } from '../../../extension/chat/history.ts';
import type { Turn } from '../../../webview/protocol.ts';

class FakeMemento implements MementoLike {
  readonly data = new Map<string, unknown>();
  writes = 0;
  get<T>(key: string): T | undefined {
    // A real Memento hands back a copy (it is JSON in storage).
    const v = this.data.get(key);
    return v === undefined ? undefined : (JSON.parse(JSON.stringify(v)) as T);
  }
  async update(key: string, value: unknown): Promise<void> {
    this.writes++;
    this.data.set(key, JSON.parse(JSON.stringify(value)));
  }
}

const turn = (i: number, extra: Partial<Turn> = {}): Turn => ({ id: `t${i}`, role: i % 2 === 0 ? 'user' : 'assistant', content: `message ${i}`, ...extra });

describe('chat history', () => {
  it('saves and restores turns', async () => {
    const m = new FakeMemento();
    const turns: Turn[] = [turn(0, { context: ['main.py:1-3'] }), turn(1, { reasoning: 'hm', stats: '3 tokens · 1.0 tok/s', finishReason: 'stop' })];
    await new ChatHistory(m).save(turns);
    assert.deepEqual(new ChatHistory(m).load(), turns);
  });

  it('an answer that was streaming when the window went away comes back as cancelled, its text kept', async () => {
    const m = new FakeMemento();
    await new ChatHistory(m).save([turn(0), turn(1, { content: 'partial', streaming: true })]);
    const [, a] = new ChatHistory(m).load();
    assert.equal(a!.content, 'partial');
    assert.equal(a!.streaming, false);
    assert.equal(a!.finishReason, 'cancelled');
  });

  it('nothing stored: empty, nothing logged', () => {
    const logs: string[] = [];
    assert.deepEqual(new ChatHistory(new FakeMemento(), (_l, s) => logs.push(s)).load(), []);
    assert.deepEqual(logs, []);
  });

  it('a corrupt or foreign stored value starts empty and is logged', () => {
    for (const bad of ['garbage', 42, null, { version: 2, turns: [] }, { version: 1, turns: 'x' }, { version: 1, turns: [{ id: 1, role: 'user', content: 'x' }] }, { version: 1, turns: [{ id: 'a', role: 'system', content: 'x' }] }]) {
      const m = new FakeMemento();
      m.data.set(HISTORY_KEY, bad);
      const logs: string[] = [];
      assert.deepEqual(new ChatHistory(m, (_l, s) => logs.push(s)).load(), [], JSON.stringify(bad));
      assert.equal(logs.length, 1);
      assert.match(logs[0]!, /starting empty/);
    }
    const throwing: MementoLike = {
      get: () => {
        throw new Error('storage broken');
      },
      update: async () => {},
    };
    assert.deepEqual(new ChatHistory(throwing).load(), []);
  });

  it('keeps the newest 200 turns, starting at a user turn', async () => {
    const m = new FakeMemento();
    const turns = Array.from({ length: 301 }, (_, i) => turn(i));
    await new ChatHistory(m).save(turns);
    const back = new ChatHistory(m).load();
    assert.ok(back.length <= 200 && back.length >= 199);
    assert.equal(back[back.length - 1]!.id, 't300');
    assert.equal(back[0]!.role, 'user');
  });

  it('keeps the stored JSON under the byte bound, dropping the oldest turns', async () => {
    const m = new FakeMemento();
    const big = 'x'.repeat(100_000);
    const turns = Array.from({ length: 40 }, (_, i) => turn(i, { content: big }));
    await new ChatHistory(m, undefined, { maxBytes: 1_000_000 }).save(turns);
    const stored = JSON.stringify(m.data.get(HISTORY_KEY));
    assert.ok(stored.length <= 1_000_000, `${stored.length} bytes`);
    const back = new ChatHistory(m).load();
    assert.equal(back[back.length - 1]!.id, 't39');
    assert.ok(back.length >= 8);
    // One turn over the whole bound keeps its end.
    const one = boundTurns([turn(0, { content: 'y'.repeat(50_000) + 'END' })], 200, 10_000);
    assert.equal(one.length, 1);
    assert.ok(one[0]!.content.endsWith('END') && one[0]!.content.length < 10_000);
  });

  it('debounced saves write the latest turns once; flush writes a pending one now', async () => {
    const m = new FakeMemento();
    const h = new ChatHistory(m, undefined, { debounceMs: 30 });
    const turns: Turn[] = [turn(0), turn(1, { content: '', streaming: true })];
    for (const piece of ['a', 'b', 'c']) {
      turns[1]!.content += piece;
      h.saveSoon(() => turns);
    }
    assert.equal(m.writes, 0);
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(m.writes, 1);
    assert.equal(new ChatHistory(m).load()[1]!.content, 'abc');
    turns[1]!.content += 'd';
    h.saveSoon(() => turns);
    await h.flush();
    assert.equal(m.writes, 2);
    assert.equal(new ChatHistory(m).load()[1]!.content, 'abcd');
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(m.writes, 2, 'the flushed save is not written again by the timer');
  });
});
