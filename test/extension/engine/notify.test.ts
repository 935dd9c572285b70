/**
 * The problem notification (extension/engine/notify.ts) against a recorded withProgress
 * (fake-progress-vscode.ts, mapped to the bare 'vscode' import by a resolve hook): issue 13, item 11
 * (no model: Download Model offered beside Select Model Folder) and item 9 (a new state replaces
 * the old notification; tested in the real VS Code by test/e2e/problems.e2e.ts).
 */
import assert from 'node:assert/strict';
import { mapVscodeTo } from '../../helpers/vscode-stand-in.ts';
import { describe, it } from 'node:test';

const FAKE = new URL('./fake-progress-vscode.ts', import.meta.url).href;
mapVscodeTo(FAKE);
const { shown } = (await import(FAKE)) as typeof import('./fake-progress-vscode.ts');
const { ProblemNotice, problemMessage, commandLink } = await import('../../../extension/engine/notify.ts');

const tick = () => new Promise((r) => setImmediate(r));
/** The command links of a notification's text: [title, command, args]. */
const links = (text: string) => [...text.matchAll(/\[([^\]]+)\]\(command:([\w.]+)(?:\?([^ )]+))?/g)].map((m) => [m[1], m[2], m[3] ? JSON.parse(decodeURIComponent(m[3])) : undefined]);

describe('problem notification', () => {
  it('no model: offers Select Model Folder and Download Model', () => {
    const m = problemMessage({ kind: 'no-model', message: 'no model folder is configured' }, 'int8');
    assert.deepEqual(
      m.actions.map((a) => [a.title, a.command]),
      [
        ['Select Model Folder', 'switchyard.selectModelFolder'],
        ['Download Model', 'switchyard.downloadModel'],
      ],
    );
    assert.match(m.text, /download a model/);
  });

  it('each action is a command link in the text, with its arguments', async () => {
    shown.length = 0;
    const n = new ProblemNotice();
    n.show({ kind: 'spawn-failed', message: 'cannot start the engine with /nope/node: ENOENT' }, 'int8');
    await tick();
    assert.equal(shown.length, 1);
    assert.equal(shown[0]!.cancellable, true);
    assert.match(shown[0]!.title, /^Switchyard: cannot start the engine with \/nope\/node: ENOENT\. Check switchyard\.engine\.nodePath/);
    assert.deepEqual(links(shown[0]!.title), [
      ['Open Settings', 'workbench.action.openSettings', ['switchyard.engine.nodePath']],
      ['Show Engine Log', 'switchyard.showEngineLog', undefined],
    ]);
    assert.equal(commandLink({ title: 'Restart Engine', command: 'switchyard.restartEngine' }), '[Restart Engine](command:switchyard.restartEngine "Restart Engine")');
    n.dispose();
  });

  it('a new problem replaces the one shown; a state that is not a problem closes it', async () => {
    shown.length = 0;
    const n = new ProblemNotice();
    n.show({ kind: 'load-failed', message: '/models/a: no such directory' }, 'int8');
    await tick();
    n.show({ kind: 'load-failed', message: '/models/b: no config.json' }, 'int8');
    await tick();
    assert.deepEqual(
      shown.map((s) => [s.title.match(/\/models\/\w/)![0], s.done]),
      [
        ['/models/a', true],
        ['/models/b', false],
      ],
    );
    n.clear();
    await tick();
    assert.equal(shown[1]!.done, true);
    n.clear(); // nothing shown: a no-op
    // Its button dismisses it.
    n.show({ kind: 'crashed', message: 'the engine crashed 5 times in 2 minutes' }, 'int8');
    await tick();
    shown[2]!.cancel();
    await tick();
    assert.equal(shown[2]!.done, true);
    n.dispose();
  });
});
