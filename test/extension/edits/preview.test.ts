/**
 * The diff preview (extension/edits/preview.ts) against a stand-in VS Code API: the diff shows the
 * real document against a read-only proposed document; nothing is written to a document or the
 * disk before Accept; Accept applies one WorkspaceEdit and saves nothing; Reject, closing the diff,
 * or a newer proposal discard it; either the notification or the commands decide; a document edited
 * meanwhile gets a fresh diff instead of a blind apply. The real editor is test/e2e's.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import type { EditPreview as EditPreviewClass } from '../../../extension/edits/preview.ts';
import type { ProposedEdit } from '../../../extension/edits/proposed-edit.ts';
import { createFakeVscode, FakeDocument, loadWithFakeVscode, Position, Range, TabInputTextDiff, Uri, type FakeVscode } from './fake-vscode.ts';

type PreviewModule = { EditPreview: typeof EditPreviewClass; PROPOSED_SCHEME: string; REVIEWING_CONTEXT_KEY: string };

const TEXT = 'def add(a, b):\n    return a - b\n\n\ndef main():\n    print(add(1, 2))\n';
const SEL_START = TEXT.indexOf('    return');
const SEL_END = TEXT.indexOf('\n\n\n') + 1;

let fake: FakeVscode;
let preview: EditPreviewClass;
let doc: FakeDocument;
let proposed: { title: string; text: string }[];

beforeEach(async () => {
  fake = createFakeVscode();
  const m = await loadWithFakeVscode<PreviewModule>('extension/edits/preview.ts', fake);
  proposed = [];
  preview = new m.EditPreview({ onProposed: (e, text) => void proposed.push({ title: e.title, text }) });
  doc = fake.open('/w/m.py', TEXT);
});

const rangeOf = (d: FakeDocument, start: number, end: number) => new Range(d.positionAt(start), d.positionAt(end)) as never;
const fix = (over: Partial<ProposedEdit> = {}): ProposedEdit =>
  ({ uri: doc.uri as never, range: rangeOf(doc, SEL_START, SEL_END), newText: '    return a + b\n', title: 'Fix: m.py', ...over }) as ProposedEdit;
const diffTabs = () => fake.group.tabs.filter((t) => t.input instanceof TabInputTextDiff) as { label: string; input: TabInputTextDiff }[];
const settle = () => new Promise((r) => setImmediate(r));
/**
 * The proposal notifications (progress notifications, so that a decision anywhere closes them): the
 * title, the link labels, whether it is still shown, and `pick(label)` clicks a link (runs its
 * command URI's command with its arguments, as VS Code does).
 */
const proposals = () =>
  fake.progress
    .filter((p) => p.title.startsWith('Switchyard proposes an edit'))
    .map((p) => {
      const text = p.reports.at(-1) ?? '';
      const links = [...text.matchAll(/\[([^\]]+)\]\(command:([\w.]+)\?([^)]*)\)/g)];
      return {
        message: p.title,
        items: links.map((l) => l[1]!),
        shown: !p.done,
        pick: (label: string) => {
          const l = links.find((x) => x[1] === label);
          assert.ok(l, `no link ${label} in ${JSON.stringify(text)}`);
          return fake.vscode.commands.executeCommand(l[2]!, ...(JSON.parse(decodeURIComponent(l[3]!)) as unknown[]));
        },
      };
    });

function assertUntouched(): void {
  assert.equal(doc.getText(), TEXT);
  assert.equal(doc.version, 1);
  assert.equal(fake.applied.length, 0, 'no WorkspaceEdit before accept');
  assert.deepEqual(fake.diskWrites, [], 'nothing written to disk');
  assert.equal(doc.saves, 0);
}

describe('EditPreview', () => {
  test('shows the real document against a read-only proposed one, and writes nothing before accept', async () => {
    const outcome = preview.propose(fix());
    await settle();
    const [tab] = diffTabs();
    assert.ok(tab, 'a diff editor is open');
    assert.equal(tab.label, 'Fix: m.py');
    assert.equal(tab.input.original.toString(), doc.uri.toString());
    assert.equal(tab.input.modified.scheme, 'switchyard-proposed');
    assert.equal(tab.input.modified.path, '/w/m.py', 'same path: same language mode and file name in the tab');
    assert.equal(fake.content(tab.input.modified as Uri), TEXT.replace('a - b', 'a + b'));
    assert.deepEqual(proposed, [{ title: 'Fix: m.py', text: TEXT.replace('a - b', 'a + b') }], 'onProposed sees the whole proposed document');
    assert.equal(fake.context.get('switchyard.reviewingEdit'), true);
    assert.deepEqual(proposals().map((m) => [m.message, m.items]), [['Switchyard proposes an edit to m.py', ['Accept', 'Reject']]]);
    assert.equal(preview.reviewing, true);
    assertUntouched();

    await fake.vscode.commands.executeCommand('switchyard.acceptEdit', tab.input.modified);
    assert.equal(await outcome, true);
    assert.equal(fake.applied.length, 1, 'one WorkspaceEdit: one undo step');
    assert.deepEqual(
      fake.applied[0]!.ops.map((o) => o.op),
      ['replace'],
    );
    assert.equal(doc.getText(), TEXT.replace('a - b', 'a + b'));
    assert.equal(doc.saves, 0, 'the user saves');
    assert.deepEqual(fake.diskWrites, []);
    assert.equal(diffTabs().length, 0, 'the diff editor is closed');
    assert.equal(fake.context.get('switchyard.reviewingEdit'), false);
    assert.equal(preview.reviewing, false);
    assert.deepEqual(fake.shownDocs.map(String), [doc.uri.toString()]);
  });

  test('reject discards: the document stays as it was', async () => {
    const outcome = preview.propose(fix());
    await settle();
    await fake.vscode.commands.executeCommand('switchyard.rejectEdit');
    assert.equal(await outcome, false);
    assertUntouched();
    assert.equal(diffTabs().length, 0);
    assert.equal(fake.context.get('switchyard.reviewingEdit'), false);
  });

  test('the notification decides too; its links are inert once the proposal is gone', async () => {
    const first = preview.propose(fix());
    await settle();
    await proposals()[0]!.pick('Accept');
    assert.equal(await first, true);
    assert.equal(fake.applied.length, 1);
    await settle();
    assert.equal(proposals()[0]!.shown, false, 'the notification closes with the decision');

    const second = preview.propose(fix({ newText: '    return 0\n', range: rangeOf(doc, SEL_START, SEL_START + '    return a + b\n'.length) }));
    await settle();
    await proposals()[1]!.pick('Reject');
    assert.equal(await second, false);
    assert.equal(fake.applied.length, 1);

    const third = preview.propose(fix({ newText: '    return 1\n', range: rangeOf(doc, SEL_START, SEL_START + '    return a + b\n'.length) }));
    await settle();
    await fake.vscode.commands.executeCommand('switchyard.rejectEdit');
    await proposals()[2]!.pick('Accept'); // clicked after the diff's Reject: nothing happens, and it says so
    await settle();
    assert.equal(await third, false);
    assert.equal(fake.applied.length, 1);
    assert.match(fake.messages.at(-1)!.message, /that proposed edit to m\.py was already rejected/);
  });

  test('a decision in the diff title bar closes the notification', async () => {
    const outcome = preview.propose(fix());
    await settle();
    assert.equal(proposals()[0]!.shown, true);
    await fake.vscode.commands.executeCommand('switchyard.acceptEdit', diffTabs()[0]!.input.modified);
    assert.equal(await outcome, true);
    await settle();
    assert.equal(proposals()[0]!.shown, false, 'the notification outlived the decision');
    await proposals()[0]!.pick('Reject'); // a link clicked late says what happened instead of nothing
    assert.match(fake.messages.at(-1)!.message, /that proposed edit to m\.py was already accepted/);
    assert.equal(doc.getText(), TEXT.replace('a - b', 'a + b'));
  });

  test('closing the diff tab rejects', async () => {
    const outcome = preview.propose(fix());
    await settle();
    await fake.closeTab(diffTabs()[0]!);
    assert.equal(await outcome, false);
    assertUntouched();
    assert.equal(fake.context.get('switchyard.reviewingEdit'), false);
  });

  test('one proposal at a time: a new one rejects the open one and closes its diff', async () => {
    const first = preview.propose(fix());
    await settle();
    const second = preview.propose(fix({ newText: '    return b + a\n', title: 'Rewrite: m.py' }));
    assert.equal(await first, false);
    await settle();
    assert.deepEqual(diffTabs().map((t) => t.label), ['Rewrite: m.py']);
    await proposals()[0]!.pick('Accept'); // the first one's notification
    await settle();
    assertUntouched();
    await fake.vscode.commands.executeCommand('switchyard.acceptEdit');
    assert.equal(await second, true);
    assert.equal(doc.getText(), TEXT.replace('a - b', 'b + a'));
  });

  test('a whole-document proposal replaces everything in one edit', async () => {
    const outcome = preview.propose(fix({ range: undefined, newText: 'print("new")\n' }));
    await settle();
    assert.equal(fake.content(diffTabs()[0]!.input.modified as Uri), 'print("new")\n');
    assertUntouched();
    await preview.accept();
    assert.equal(await outcome, true);
    assert.equal(doc.getText(), 'print("new")\n');
    assert.equal(fake.applied.length, 1);
  });

  test('a new file: an empty original side, nothing created before accept, then createFile + insert in one edit', async () => {
    const uri = Uri.file('/w/test_m.py');
    const outcome = preview.propose({ uri: uri as never, newText: 'def test_add():\n    assert add(1, 2) == 3\n', title: 'Tests: test_m.py' });
    await settle();
    const tab = diffTabs()[0]!;
    assert.equal(tab.input.original.scheme, 'switchyard-proposed');
    assert.equal(fake.content(tab.input.original as Uri), '');
    assert.equal(fake.content(tab.input.modified as Uri), 'def test_add():\n    assert add(1, 2) == 3\n');
    assert.equal(fake.disk.has('/w/test_m.py'), false, 'not created before accept');
    assertUntouched();
    await preview.accept();
    assert.equal(await outcome, true);
    assert.equal(fake.applied.length, 1);
    assert.deepEqual(fake.applied[0]!.ops.map((o) => o.op), ['createFile', 'insert']);
    const created = fake.docs.find((d) => d.uri.path === '/w/test_m.py')!;
    assert.equal(created.getText(), 'def test_add():\n    assert add(1, 2) == 3\n');
    assert.equal(created.saves, 0);
  });

  test('appending to an existing file: an empty range at its end', async () => {
    const tests = fake.open('/w/test_m.py', 'def test_a():\n    pass\n');
    const end = tests.positionAt(tests.getText().length);
    const outcome = preview.propose({ uri: tests.uri as never, range: new Range(end, end) as never, newText: '\ndef test_b():\n    pass\n', title: 'Tests: test_m.py' });
    await settle();
    assert.equal(fake.content(diffTabs()[0]!.input.modified as Uri), 'def test_a():\n    pass\n\ndef test_b():\n    pass\n');
    await preview.accept();
    assert.equal(await outcome, true);
    assert.equal(tests.getText(), 'def test_a():\n    pass\n\ndef test_b():\n    pass\n');
  });

  test('the document changed elsewhere: accept refuses, re-offers a fresh diff, and a second accept applies it there', async () => {
    const outcome = preview.propose(fix());
    await settle();
    fake.type(doc, 0, 0, 'import math\n');
    assert.equal(await preview.accept(), false);
    assert.equal(fake.applied.length, 0, 'nothing applied on a stale proposal');
    const warning = fake.messages.find((m) => m.kind === 'warning')!;
    assert.match(warning.message, /m\.py changed since the edit was proposed; the diff now shows the edit on the current text/);
    assert.equal(fake.content(diffTabs()[0]!.input.modified as Uri), `import math\n${TEXT.replace('a - b', 'a + b')}`);
    assert.equal(proposals().length, 2, 'offered again');
    assert.equal(proposals()[0]!.shown, false, 'the stale notification is closed');
    assert.equal(proposals()[1]!.shown, true);
    await proposals()[1]!.pick('Accept');
    assert.equal(await outcome, true);
    assert.equal(doc.getText(), `import math\n${TEXT.replace('a - b', 'a + b')}`);
  });

  test('the document changed inside the range: accept refuses and drops the proposal', async () => {
    const outcome = preview.propose(fix());
    await settle();
    fake.type(doc, TEXT.indexOf('a - b'), 5, 'a * b');
    assert.equal(await preview.accept(), false);
    assert.equal(await outcome, false);
    assert.equal(fake.applied.length, 0);
    assert.match(fake.messages.find((m) => m.kind === 'warning')!.message, /changed where the edit applies since it was proposed; nothing was changed/);
    assert.equal(diffTabs().length, 0);
    assert.equal(doc.getText(), TEXT.replace('a - b', 'a * b'));
  });

  test('a whole-document proposal on a changed document is dropped (accepting would undo the changes)', async () => {
    const outcome = preview.propose(fix({ range: undefined, newText: 'x = 1\n' }));
    await settle();
    fake.type(doc, TEXT.length, 0, '# more\n');
    assert.equal(await preview.accept(), false);
    assert.equal(await outcome, false);
    assert.equal(fake.applied.length, 0);
  });

  test('Accept clicked twice (title button and notification) applies once', async () => {
    const outcome = preview.propose(fix());
    await settle();
    const [a, b] = await Promise.all([preview.accept(), fake.vscode.commands.executeCommand('switchyard.acceptEdit')]);
    assert.deepEqual([a, b], [true, false]);
    assert.equal(await outcome, true);
    assert.equal(fake.applied.length, 1);
    assert.equal(doc.getText(), TEXT.replace('a - b', 'a + b'));
    assert.equal(fake.messages.filter((m) => m.kind === 'warning').length, 0);
  });

  test('accept or reject with no proposal open says so and does nothing', async () => {
    assert.equal(await preview.accept(), false);
    await preview.reject();
    assert.match(fake.messages[0]!.message, /no proposed edit to accept/);
    assertUntouched();
  });

  test('dispose discards the open proposal', async () => {
    const outcome = preview.propose(fix());
    await settle();
    preview.dispose();
    assert.equal(await outcome, false);
    assertUntouched();
    assert.equal(fake.commands.has('switchyard.acceptEdit'), false);
  });

  test('positions used by the fake: sanity', () => {
    assert.deepEqual(doc.positionAt(SEL_START), new Position(1, 0));
    assert.equal(doc.offsetAt(new Position(1, 0)), SEL_START);
  });
});
