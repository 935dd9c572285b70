/**
 * One refactor request against a scripted backend: the request it sends (greedy, prompt lookup,
 * the answer limit), streamed progress, the code it proposes, and the outcomes that propose
 * nothing (cancelled, no code, cut off inside the code, no change). Also: finding the selection
 * again after the document changed during generation.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ChatDeltaParams, ChatParams, ChatResult, FinishReason } from '../../../engine/protocol/protocol.ts';
import { buildRefactorPrompt } from '../../../extension/refactor/prompts.ts';
import { locateSelection, runRefactor } from '../../../extension/refactor/run.ts';

const TEXT = 'def f(x):\n    return x + 1\n';
const prompt = buildRefactorPrompt({ kind: 'fix', path: 'f.py', languageId: 'python', text: TEXT, start: 0, end: TEXT.length - 1, budgetTokens: 4096, maxTokens: 256, estimate: (s) => s.length });

function backend(answer: string[], finishReason: FinishReason = 'stop') {
  const calls: ChatParams[] = [];
  return {
    calls,
    async chat(p: ChatParams, onDelta?: (d: ChatDeltaParams) => void, signal?: AbortSignal): Promise<ChatResult> {
      calls.push(p);
      let text = '';
      for (const piece of answer) {
        if (signal?.aborted) return { text, reasoning: '', finishReason: 'cancelled', usage: { promptTokens: 1, cachedTokens: 0, completionTokens: 1, prefillMs: 0, decodeMs: 0 } };
        text += piece;
        onDelta?.({ streamId: 's', content: piece });
      }
      return { text, reasoning: '', finishReason, usage: { promptTokens: 1, cachedTokens: 0, completionTokens: answer.length, prefillMs: 0, decodeMs: 0 } };
    },
  };
}

const extract = { selection: TEXT.slice(0, -1), linePrefix: '' };

describe('runRefactor', () => {
  test('sends a greedy prompt-lookup request, streams progress, and returns the code', async () => {
    const b = backend(['```python\n', 'def f(x):\n', '    return x + 2\n', '```']);
    const seen: string[] = [];
    const r = await runRefactor(b, prompt, { maxTokens: 300, extract, onText: (t) => seen.push(t) });
    assert.equal(b.calls.length, 1);
    assert.deepEqual({ ...b.calls[0]!, messages: undefined }, { messages: undefined, temperature: 0, promptLookup: true, maxTokens: 300 });
    assert.equal(b.calls[0]!.messages, prompt.messages);
    assert.deepEqual(seen, ['```python\n', '```python\ndef f(x):\n', '```python\ndef f(x):\n    return x + 2\n', '```python\ndef f(x):\n    return x + 2\n```']);
    assert.equal(r.problem, undefined);
    assert.equal(r.extracted.code, 'def f(x):\n    return x + 2');
  });

  test('no code, no change, cut off, cancelled: nothing to propose', async () => {
    assert.equal((await runRefactor(backend(['```\n```']), prompt, { maxTokens: 9, extract })).problem, 'no code');
    assert.equal((await runRefactor(backend(['```python\ndef f(x):\n    return x + 1\n```']), prompt, { maxTokens: 9, extract })).problem, 'unchanged');
    assert.equal((await runRefactor(backend(['```python\ndef f(x):\n'], 'length'), prompt, { maxTokens: 9, extract })).problem, 'cut off');
    // Cut off after the block was closed: the code is complete.
    assert.equal((await runRefactor(backend(['```python\ndef f(y):\n    return y\n```\nThis renames'], 'length'), prompt, { maxTokens: 9, extract })).problem, undefined);
    const ac = new AbortController();
    const r = await runRefactor(backend(['```python\n', 'def g():\n', 'pass\n']), prompt, { maxTokens: 9, extract, signal: ac.signal, onText: () => ac.abort() });
    assert.equal(r.problem, 'cancelled');
    assert.equal(r.result.finishReason, 'cancelled');
  });
});

describe('locateSelection', () => {
  test('in place, moved by edits above it, or gone/ambiguous', () => {
    assert.deepEqual(locateSelection('a\nsel\nb\n', 2, 5, 'sel'), { start: 2, end: 5 });
    assert.deepEqual(locateSelection('new line\na\nsel\nb\n', 2, 5, 'sel'), { start: 11, end: 14 });
    assert.equal(locateSelection('a\nSEL\nb\n', 2, 5, 'sel'), undefined);
    assert.equal(locateSelection('sel\nx\nsel\n', 2, 5, 'sel'), undefined);
  });
});
