import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdaptiveDebounce, sleep, type Timers } from '../../../extension/completions/debounce.ts';

/** Timers that run only when told: no real waiting, no timing assertions. */
class FakeTimers implements Timers {
  now = 0;
  #next = 1;
  readonly pending = new Map<number, { at: number; fn: () => void }>();
  setTimeout(fn: () => void, ms: number): number {
    const id = this.#next++;
    this.pending.set(id, { at: this.now + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.pending.delete(h as number);
  }
  advance(ms: number): void {
    this.now += ms;
    for (const [id, t] of [...this.pending]) {
      if (t.at <= this.now) {
        this.pending.delete(id);
        t.fn();
      }
    }
  }
}

describe('adaptive debounce', () => {
  it('starts at the base delay', () => {
    assert.equal(new AdaptiveDebounce({ baseMs: 150 }).delayMs, 150);
  });
  it('grows when completions are slow and shrinks when they are fast, within [base/2, base*3]', () => {
    const slow = new AdaptiveDebounce({ baseMs: 150 });
    for (let i = 0; i < 20; i++) slow.record(600);
    assert.ok(slow.delayMs > 150);
    assert.ok(slow.delayMs <= 450);
    for (let i = 0; i < 20; i++) slow.record(10_000);
    assert.equal(slow.delayMs, 450);

    const fast = new AdaptiveDebounce({ baseMs: 150 });
    for (let i = 0; i < 20; i++) fast.record(60);
    assert.ok(fast.delayMs < 150);
    assert.equal(fast.delayMs, 75);
  });
  it('one outlier moves the delay only partly (moving average)', () => {
    const d = new AdaptiveDebounce({ baseMs: 100, referenceLatencyMs: 100 });
    for (let i = 0; i < 10; i++) d.record(100);
    d.record(250);
    // The raw sample alone would mean 250 ms.
    assert.ok(d.delayMs < 250, `delay ${d.delayMs}`);
    assert.ok(d.delayMs > 100);
  });
  it('ignores invalid samples; the base can change', () => {
    const d = new AdaptiveDebounce({ baseMs: 100 });
    d.record(Number.NaN);
    d.record(-5);
    assert.equal(d.latencyMs, undefined);
    d.baseMs = 40;
    assert.equal(d.delayMs, 40);
  });
});

describe('cancellable wait', () => {
  it('resolves true once the delay has passed', async () => {
    const timers = new FakeTimers();
    const ac = new AbortController();
    const p = new AdaptiveDebounce({ baseMs: 150 }).wait(ac.signal, timers);
    timers.advance(149);
    let settled = false;
    void p.then(() => (settled = true));
    await Promise.resolve();
    assert.equal(settled, false);
    timers.advance(1);
    assert.equal(await p, true);
  });
  it('resolves false as soon as the signal aborts (a newer keystroke) and clears its timer', async () => {
    const timers = new FakeTimers();
    const ac = new AbortController();
    const p = sleep(150, ac.signal, timers);
    ac.abort();
    assert.equal(await p, false);
    assert.equal(timers.pending.size, 0);
  });
  it('an already-aborted signal never waits', async () => {
    const timers = new FakeTimers();
    assert.equal(await sleep(150, AbortSignal.abort(), timers), false);
    assert.equal(timers.pending.size, 0);
  });
});
