import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CancelledError, Turns } from '../../../engine/service/turns.ts';

test('completions are served before chat; FIFO within a priority', async () => {
  const turns = new Turns();
  const order: string[] = [];
  const hold = await turns.acquire('chat');
  const waits = [
    turns.acquire('chat').then((r) => (order.push('chat1'), r())),
    turns.acquire('completion').then((r) => (order.push('comp1'), r())),
    turns.acquire('chat').then((r) => (order.push('chat2'), r())),
    turns.acquire('completion').then((r) => (order.push('comp2'), r())),
  ];
  assert.equal(turns.waiting, 4);
  assert.ok(turns.outranked('chat'));
  assert.ok(!turns.outranked('completion'));
  hold();
  await Promise.all(waits);
  assert.deepEqual(order, ['comp1', 'comp2', 'chat1', 'chat2']);
  assert.equal(turns.busy, false);
});

test('an aborted waiter leaves the queue with CancelledError; releasing twice is harmless', async () => {
  const turns = new Turns();
  const hold = await turns.acquire('completion');
  const ac = new AbortController();
  const p = turns.acquire('chat', ac.signal);
  ac.abort();
  await assert.rejects(p, CancelledError);
  assert.equal(turns.waiting, 0);
  hold();
  hold();
  const again = await turns.acquire('chat');
  again();
  await assert.rejects(turns.acquire('chat', AbortSignal.abort()), CancelledError);
});
