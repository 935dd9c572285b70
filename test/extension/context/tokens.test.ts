import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_CHARS_PER_TOKEN, TokenCounter } from '../../../extension/context/tokens.ts';

describe('token counter', () => {
  it('estimates from characters until calibrated, then from the calibrated ratio', async () => {
    let calls = 0;
    const c = new TokenCounter(async (t) => {
      calls++;
      return Math.ceil(t.length / 2);
    });
    assert.equal(c.estimate('x'.repeat(32)), Math.ceil(32 / DEFAULT_CHARS_PER_TOKEN));
    await c.calibrate('y'.repeat(1000));
    assert.equal(c.calibrated, true);
    assert.equal(c.charsPerToken, 2);
    assert.equal(c.estimate('x'.repeat(32)), 16);
    await c.calibrate('z'.repeat(1000));
    assert.equal(calls, 1, 'calibrated once: window boundaries must not shift afterwards');
  });
  it('per-chunk counts: estimate first, the exact count once the engine answered', async () => {
    const c = new TokenCounter(async () => 7);
    const text = 'some chunk of code';
    assert.equal(c.count(text), c.estimate(text));
    await c.settle();
    assert.equal(c.count(text), 7);
  });
  it('reset forgets the old tokenizer', async () => {
    const c = new TokenCounter(async () => 7);
    c.count('abc');
    await c.settle();
    c.setCalibration(100, 10);
    c.reset(async () => 1);
    assert.equal(c.calibrated, false);
    assert.equal(c.count('abc'), c.estimate('abc'));
  });
  it('without an engine it only estimates, and a failing engine is harmless', async () => {
    const none = new TokenCounter();
    assert.equal(none.count('abcd'), none.estimate('abcd'));
    const failing = new TokenCounter(async () => {
      throw new Error('engine gone');
    });
    await failing.calibrate('x'.repeat(1000));
    assert.equal(failing.calibrated, false);
    failing.count('abc');
    await failing.settle();
    assert.equal(failing.count('abc'), failing.estimate('abc'));
  });
});
