import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CompleteParams, CompleteResult } from '../../../engine/protocol/protocol.ts';
import { DEFAULT_SETTINGS, type Settings } from '../../../extension/config.ts';
import { Completer, type CompletionDoc, type CompletionEngine } from '../../../extension/completions/request.ts';
import type { TraceEvent } from '../../../extension/trace.ts';

const usage = { promptTokens: 1, cachedTokens: 0, completionTokens: 1, prefillMs: 1, decodeMs: 1 };

class FakeEngine implements CompletionEngine {
  requests: CompleteParams[] = [];
  signals: AbortSignal[] = [];
  constructor(private readonly answer: (p: CompleteParams, signal?: AbortSignal) => Promise<CompleteResult> | CompleteResult) {}
  async complete(p: CompleteParams, signal?: AbortSignal): Promise<CompleteResult> {
    this.requests.push(p);
    if (signal) this.signals.push(signal);
    return this.answer(p, signal);
  }
  async countTokens(text: string): Promise<number> {
    return Math.ceil(text.length / 3);
  }
}

function setup(answer: ConstructorParameters<typeof FakeEngine>[0], settings: Partial<Settings> = {}) {
  const engine = new FakeEngine(answer);
  const events: TraceEvent[] = [];
  let engineAsked = 0;
  const s: Settings = { ...DEFAULT_SETTINGS, debounceMs: 0, ...settings };
  const completer = new Completer({
    settings: () => s,
    engine: async () => {
      engineAsked++;
      return { client: engine, contextLength: 4096 };
    },
    trace: (e) => events.push(e),
    log: () => {},
  });
  return { engine, events, completer, engineAsked: () => engineAsked };
}

function doc(text: string, cursorMarker = '|', languageId = 'python'): CompletionDoc {
  const offset = text.indexOf(cursorMarker);
  const clean = text.replace(cursorMarker, '');
  const before = clean.slice(0, offset);
  const line = before.split('\n').length - 1;
  const character = offset - (before.lastIndexOf('\n') + 1);
  return { uri: 'file:///w/a.py', path: 'a.py', tracePath: '/w/a.py', languageId, text: clean, offset, line, character, tabSize: 4, repoName: 'w' };
}

const ok = (text: string, finishReason: CompleteResult['finishReason'] = 'stop'): CompleteResult => ({ text, finishReason, usage });

describe('completion requests', () => {
  it('sends nothing (and starts no engine) when completions are off, globally or for the language', async () => {
    const off = setup(() => ok('x'), { completionsEnabled: false });
    assert.deepEqual(await off.completer.complete(doc('x = |'), new AbortController().signal), { kind: 'disabled' });
    const md = setup(() => ok('x'));
    assert.deepEqual(await md.completer.complete(doc('# title |', '|', 'markdown'), new AbortController().signal), { kind: 'disabled' });
    const custom = setup(() => ok('x'), { languages: { '*': false, python: true } });
    assert.equal((await custom.completer.complete(doc('y = |', '|', 'rust'), new AbortController().signal)).kind, 'disabled');
    for (const t of [off, md, custom]) {
      assert.equal(t.engine.requests.length, 0);
      assert.equal(t.engineAsked(), 0);
      assert.equal(t.events.length, 0);
    }
    assert.equal((await custom.completer.complete(doc('y = |'), new AbortController().signal)).kind, 'completion');
  });

  it('multi-line at the end of a line: indentation stop, no newline stop; traces request and result', async () => {
    const t = setup(() => ok('\n        total += x\n    return total'));
    const out = await t.completer.complete(doc('def f(xs):\n    total = 0\n    for x in xs:|\n'), new AbortController().signal);
    assert.equal(out.kind, 'completion');
    const p = t.engine.requests[0]!;
    assert.equal(p.indentStop, '    ');
    assert.equal(p.stop, undefined);
    assert.equal(p.filePath, 'a.py');
    assert.equal(p.repoName, 'w');
    assert.equal(p.prefix, 'def f(xs):\n    total = 0\n    for x in xs:');
    assert.equal(p.suffix, '\n');
    assert.deepEqual(t.events[0], { event: 'completion-request', file: '/w/a.py', line: 2 });
    assert.equal(t.events[1]!.event, 'completion-result');
    assert.equal((t.events[1] as { text: string }).text, '\n        total += x\n    return total');
  });

  it('mid-line: a single line (newline stop); results are post-processed', async () => {
    const t = setup(() => ok('a, b)'));
    const out = await t.completer.complete(doc('print(max(|))\n'), new AbortController().signal);
    // Only closers follow the cursor: multi-line is allowed there.
    assert.equal(t.engine.requests[0]!.stop, undefined);
    assert.equal(t.engine.requests[0]!.indentStop, '');
    const t2 = setup(() => ok('b + c\nextra'));
    const out2 = await t2.completer.complete(doc('x = a + | * 2\n'), new AbortController().signal);
    assert.deepEqual(t2.engine.requests[0]!.stop, ['\n']);
    assert.equal(t2.engine.requests[0]!.indentStop, undefined);
    assert.deepEqual(out2, { kind: 'completion', text: 'b + c', raw: 'b + c\nextra', ms: (out2 as { ms: number }).ms });
    assert.equal(out.kind, 'completion');
    assert.equal((out as { text: string }).text, 'a, b', 'the ")" already right of the cursor is not doubled');
  });

  it('answers from the type-through cache without a request while the user types the suggestion', async () => {
    const t = setup(() => ok('compute(a, b)'));
    const first = await t.completer.complete(doc('result = |\n'), new AbortController().signal);
    assert.equal(first.kind, 'completion');
    const second = await t.completer.complete(doc('result = comp|\n'), new AbortController().signal);
    assert.deepEqual(second, { kind: 'type-through', text: 'ute(a, b)' });
    assert.equal(t.engine.requests.length, 1);
    // Typing something else asks the engine again.
    const third = await t.completer.complete(doc('result = x|\n'), new AbortController().signal);
    assert.equal(third.kind, 'completion');
    assert.equal(t.engine.requests.length, 2);
  });

  it('cancellation during the debounce sends nothing', async () => {
    const t = setup(() => ok('x'), { debounceMs: 10_000 });
    const ac = new AbortController();
    const p = t.completer.complete(doc('y = |'), ac.signal);
    ac.abort();
    assert.deepEqual(await p, { kind: 'cancelled' });
    assert.equal(t.engine.requests.length, 0);
    assert.equal(t.engineAsked(), 0);
  });

  it("cancellation during the request reaches the engine's signal", async () => {
    const t = setup(
      (_p, signal) =>
        new Promise<CompleteResult>((resolve) => {
          signal!.addEventListener('abort', () => resolve(ok('partial', 'cancelled')), { once: true });
        }),
    );
    const ac = new AbortController();
    const p = t.completer.complete(doc('y = |'), ac.signal);
    while (t.engine.signals.length === 0) await new Promise((r) => setImmediate(r));
    assert.equal(t.engine.signals[0]!.aborted, false);
    ac.abort();
    assert.deepEqual(await p, { kind: 'cancelled' });
    assert.equal(t.engine.signals[0]!.aborted, true);
    const result = t.events.find((e) => e.event === 'completion-result') as { text: string; finishReason: string };
    assert.equal(result.finishReason, 'cancelled');
    assert.equal(result.text, '');
  });

  it('an engine error is reported, not thrown', async () => {
    const t = setup(() => {
      throw new Error('Pending response rejected since connection got disposed');
    });
    const out = await t.completer.complete(doc('y = |'), new AbortController().signal);
    assert.equal(out.kind, 'error');
    assert.equal(t.events.filter((e) => e.event === 'completion-result').length, 1);
  });

  it('sends related files from other documents and keeps the prompt within the model context', async () => {
    const { chunkFile } = await import('../../../extension/context/chunks.ts');
    const t = setup(() => ok('x'), { budgetTokens: 100_000, maxTokens: 64 });
    const other = chunkFile({ path: 'lib/util.py', languageId: 'python', text: 'def load_user(user_id):\n    return db.get(user_id)\n' });
    const d = { ...doc(`${'z = 1\n'.repeat(3000)}user = load_user(user_id)\n|`), candidates: () => other };
    await t.completer.complete(d, new AbortController().signal);
    const p = t.engine.requests[0]!;
    assert.deepEqual(p.relatedFiles?.map((f) => f.path), ['lib/util.py']);
    const exact = await t.engine.countTokens([...p.relatedFiles!.map((f) => `${f.path}\n${f.text}\n`), p.prefix, p.suffix].join(''));
    assert.ok(exact <= 4096 - 64, `${exact} tokens`);
  });
});
