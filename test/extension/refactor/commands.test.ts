/**
 * The refactor commands (extension/refactor/commands.ts) against a stand-in VS Code API and a
 * scripted backend: what each command sends (greedy, prompt lookup, the answer limit), what it
 * proposes (range, re-indented code, title, the test file), and the paths that propose nothing
 * (no selection for Rewrite, Escape, no backend, a backend error, no code, cancellation). The real
 * editor is test/e2e's.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import type { ChatDeltaParams, ChatParams, ChatResult } from '../../../engine/protocol/protocol.ts';
import { BackendError, type ModelBackend } from '../../../extension/backend/backend.ts';
import { DEFAULT_SETTINGS, type Settings } from '../../../extension/config.ts';
import type { ProposedEdit } from '../../../extension/edits/proposed-edit.ts';
import type { registerRefactorCommands as Register } from '../../../extension/refactor/commands.ts';
import { createFakeVscode, loadWithFakeVscode, type FakeDocument, type FakeVscode } from '../edits/fake-vscode.ts';

const TEXT = 'class Box:\n    def add(self, a, b):\n        return a - b\n\n    def size(self):\n        return 0\n';
const SEL = '    def add(self, a, b):\n        return a - b\n';
const START = TEXT.indexOf(SEL);
const END = START + SEL.length;

let fake: FakeVscode;
let doc: FakeDocument;
let settings: Settings;
let proposed: ProposedEdit[];
let asked: string[];
let requests: ChatParams[];
let answer: string[] | Error;
let backendAvailable: boolean;
let logs: string[];

const usage = { promptTokens: 10, cachedTokens: 0, completionTokens: 5, prefillMs: 1, decodeMs: 1 };
const backend: ModelBackend = {
  kind: 'local',
  label: 'tiny (local, cpu)',
  contextLength: 4096,
  complete: async () => assert.fail('refactors chat'),
  countTokens: async (t) => t.length,
  async chat(p: ChatParams, onDelta?: (d: ChatDeltaParams) => void, signal?: AbortSignal): Promise<ChatResult> {
    requests.push(p);
    if (answer instanceof Error) throw answer;
    let text = '';
    let tokens = 0;
    for (const piece of answer) {
      await new Promise((r) => setImmediate(r));
      if (signal?.aborted) return { text, reasoning: '', finishReason: 'cancelled', usage };
      text += piece;
      // Scripted: each piece counts as 3 tokens (a real backend counts what it generated).
      tokens += 3;
      onDelta?.({ streamId: 's', content: piece, tokens });
    }
    return { text, reasoning: '', finishReason: 'stop', usage };
  },
};

beforeEach(async () => {
  fake = createFakeVscode();
  const { registerRefactorCommands } = await loadWithFakeVscode<{ registerRefactorCommands: typeof Register }>('extension/refactor/commands.ts', fake);
  settings = { ...DEFAULT_SETTINGS, modelPath: '/models/tiny', chatMaxTokens: 321 };
  proposed = [];
  asked = [];
  requests = [];
  logs = [];
  backendAvailable = true;
  answer = ['Here you go:\n```python\n', 'def add(self, a, b):\n', '    return a + b\n', '```\n'];
  registerRefactorCommands({
    backend: async () => (backendAvailable ? backend : undefined),
    settings: () => settings,
    ask: async (q) => void asked.push(q),
    proposeEdit: async (e) => {
      proposed.push(e);
      return false;
    },
    log: (_level, m) => void logs.push(m),
  });
  doc = fake.open('/w/src/box.py', TEXT);
  fake.focus(doc, START, END);
});

const run = (id: string) => fake.vscode.commands.executeCommand(`switchyard.${id}`);
const offsets = (e: ProposedEdit) => {
  const r = e.range as unknown as { start: never; end: never } | undefined;
  return r ? [doc.offsetAt(r.start), doc.offsetAt(r.end)] : undefined;
};

describe('refactor commands', () => {
  test('Fix: a greedy prompt-lookup request; the answer re-indented and proposed for the selection; nothing written', async () => {
    await run('fixSelection');
    assert.equal(requests.length, 1);
    assert.equal(requests[0]!.promptLookup, true);
    assert.equal(requests[0]!.temperature, 0);
    assert.equal(requests[0]!.maxTokens, 321);
    const u = requests[0]!.messages.at(-1)!.content;
    assert.match(u, /^File: box\.py \(python\), lines 2-3 selected/);
    assert.ok(u.endsWith(`\`\`\`python\n${SEL}\`\`\``));
    assert.equal(proposed.length, 1);
    assert.equal(proposed[0]!.uri.toString(), doc.uri.toString());
    assert.deepEqual(offsets(proposed[0]!), [START, END]);
    assert.equal(proposed[0]!.newText, '    def add(self, a, b):\n        return a + b\n');
    assert.equal(proposed[0]!.title, 'Fix: box.py');
    assert.equal(fake.progress[0]!.title, 'Switchyard: Fix');
    // The backend's token count against the limit, not an estimate from the characters (issue 13, item 8).
    assert.ok(fake.progress[0]!.reports.includes('writing... 3 of at most 321 tokens'), fake.progress[0]!.reports.join(' | '));
    assert.equal(doc.getText(), TEXT);
    assert.equal(fake.applied.length, 0);
    assert.deepEqual(fake.diskWrites, []);
  });

  test('Add Documentation with no selection: the whole file', async () => {
    fake.focus(doc, 0);
    answer = ['```python\n"""Boxes."""\n', TEXT, '```'];
    await run('documentSelection');
    assert.match(requests[0]!.messages.at(-1)!.content, /Add documentation to the code: docstrings/);
    assert.equal(proposed[0]!.range, undefined);
    assert.equal(proposed[0]!.newText, `"""Boxes."""\n${TEXT}`);
    assert.equal(proposed[0]!.title, 'Add Documentation: box.py');
  });

  test('Rewrite asks for an instruction; no selection or Escape cancels before any request', async () => {
    fake.focus(doc, 0);
    await run('rewriteSelection');
    assert.match(fake.messages.at(-1)!.message, /select the code to rewrite first/);
    fake.focus(doc, START, END);
    fake.inputBox.next = undefined;
    await run('rewriteSelection');
    fake.inputBox.next = '   ';
    await run('rewriteSelection');
    assert.equal(requests.length, 0);
    fake.inputBox.next = 'use operator.add';
    await run('rewriteSelection');
    assert.match(requests[0]!.messages.at(-1)!.content, /Rewrite the selected code as follows: use operator\.add\n/);
    assert.equal(proposed[0]!.title, 'Rewrite: box.py');
  });

  test('Generate Tests proposes a new file next to the source, or an addition at the end of an existing one', async () => {
    answer = ['```python\nfrom box import Box\n\n\ndef test_add():\n    assert Box().add(1, 2) == 3\n```'];
    await run('generateTests');
    assert.equal(proposed[0]!.uri.toString(), 'file:///w/src/test_box.py');
    assert.equal(proposed[0]!.range, undefined);
    assert.equal(proposed[0]!.newText, 'from box import Box\n\n\ndef test_add():\n    assert Box().add(1, 2) == 3\n');
    assert.equal(proposed[0]!.title, 'Tests: test_box.py');
    assert.match(requests[0]!.messages.at(-1)!.content, /with pytest \(.*\)\. The tests go in `test_box\.py`, next to `box\.py`/);

    const existing = fake.open('/w/src/test_box.py', 'def test_size():\n    assert Box().size() == 0\n');
    fake.focus(doc, START, END);
    answer = ['```python\ndef test_add():\n    assert Box().add(1, 2) == 3\n```'];
    await run('generateTests');
    const e = proposed[1]!;
    assert.equal(e.uri.toString(), existing.uri.toString());
    const r = e.range as unknown as { start: never; end: never };
    assert.deepEqual([existing.offsetAt(r.start), existing.offsetAt(r.end)], [existing.getText().length, existing.getText().length]);
    assert.equal(e.newText, '\ndef test_add():\n    assert Box().add(1, 2) == 3\n');
    assert.match(requests[1]!.messages.at(-1)!.content, /The existing test file/);
  });

  test('Generate Tests for TypeScript picks the framework from the nearest package.json', async () => {
    fake.disk.set('/w/package.json', JSON.stringify({ devDependencies: { vitest: '^2' } }));
    const ts = fake.open('/w/src/cart.ts', 'export const total = (xs: number[]) => xs.reduce((a, b) => a + b, 0);\n', 'typescript');
    fake.focus(ts, 0, ts.getText().length);
    answer = ["```ts\nimport { it, expect } from 'vitest';\n```"];
    await run('generateTests');
    assert.match(requests[0]!.messages.at(-1)!.content, /with vitest/);
    assert.equal(proposed[0]!.uri.toString(), 'file:///w/src/cart.test.ts');
  });

  test('Explain asks the chat view with the selection', async () => {
    await run('explainSelection');
    assert.equal(asked.length, 1);
    assert.match(asked[0]!, /^Explain this code from `box\.py`, lines 2-3/);
    assert.ok(asked[0]!.endsWith(`\`\`\`python\n${SEL}\`\`\``));
    assert.equal(requests.length, 0);
  });

  test('no backend: a message with the button that fixes it', async () => {
    backendAvailable = false;
    settings = { ...settings, modelPath: '' };
    await run('fixSelection');
    await new Promise((r) => setImmediate(r));
    const m = fake.messages.at(-1)!;
    assert.match(m.message, /no model is configured/);
    assert.deepEqual(m.items, ['Select Model Folder', 'Download Model']);
    m.pick('Select Model Folder');
    await new Promise((r) => setImmediate(r));
    assert.ok(fake.executed.some((c) => c.id === 'switchyard.selectModelFolder'));
    // Download Model too, as the chat view offers (issue 13, item 11).
    await run('fixSelection');
    await new Promise((r) => setImmediate(r));
    fake.messages.at(-1)!.pick('Download Model');
    await new Promise((r) => setImmediate(r));
    assert.ok(fake.executed.some((c) => c.id === 'switchyard.downloadModel'));

    settings = { ...settings, modelPath: '/models/tiny' };
    await run('fixSelection');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(fake.messages.at(-1)!.items, ['Show Engine Log', 'Select Model Folder']);
    assert.equal(proposed.length, 0);
  });

  test('a backend error is shown as is; an answer without code proposes nothing', async () => {
    answer = new BackendError('Switchyard: the remote endpoint http://h/v1 did not answer in 60 s.', 'timeout');
    await run('fixSelection');
    assert.equal(fake.messages.at(-1)!.message, 'Switchyard: the remote endpoint http://h/v1 did not answer in 60 s.');
    assert.equal(fake.messages.at(-1)!.kind, 'error');
    answer = ['```python\n```'];
    await run('fixSelection');
    assert.match(fake.messages.at(-1)!.message, /the model returned no code/);
    assert.equal(proposed.length, 0);
  });

  test('cancelling the progress notification aborts the request; nothing is proposed', async () => {
    answer = ['```python\n', 'def add(self, a, b):\n', '    return a + b\n', '```'];
    const done = run('fixSelection');
    while (requests.length === 0) await new Promise((r) => setImmediate(r));
    fake.progress[0]!.cancel.fire();
    await done;
    assert.equal(proposed.length, 0);
    assert.ok(logs.some((l) => /Fix: cancelled/.test(l)), logs.join('\n'));
  });

  test('the document changed above the selection during generation: the edit goes where the selection now is', async () => {
    answer = ['```python\n', 'def add(self, a, b):\n', '    return a + b\n', '```'];
    const done = run('fixSelection');
    while (requests.length === 0) await new Promise((r) => setImmediate(r));
    fake.type(doc, 0, 0, '# boxes\n');
    await done;
    assert.deepEqual(offsets(proposed[0]!), [START + 8, END + 8]);
  });
});
