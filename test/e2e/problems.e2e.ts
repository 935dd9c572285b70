/**
 * Problem notifications in a real VS Code (issue 13, item 9): old ones must not pile up after the
 * setting they complain about is fixed. With switchyard.model.path on a folder that does not exist,
 * opening main.py starts the engine and "cannot load the model" appears; a second wrong folder
 * replaces that notification (one, not two); its Show Engine Log link opens the log; setting the
 * real model loads it and the notification is gone. The harness is test/e2e/harness.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { log, MAIN_PY, startVsCode, tinyModelSettings, waitFor, type VsCode } from './harness.ts';

let vscode: VsCode | undefined;

function h(): VsCode {
  assert.ok(vscode, 'VS Code did not start (see the startup error)');
  return vscode;
}

const MISSING_A = '/nonexistent/switchyard-missing-a';
const MISSING_B = '/nonexistent/switchyard-missing-b';
const CANNOT_LOAD = /Switchyard: cannot load the model/;

/** The texts of the notification toasts on screen that say the model cannot be loaded. */
async function loadProblems(): Promise<string[]> {
  return h().page.locator('.notifications-toasts .notification-toast', { hasText: CANNOT_LOAD }).allInnerTexts();
}

const shown = async () => `notifications: ${JSON.stringify(await h().page.locator('.notifications-toasts .notification-toast').allInnerTexts().catch(() => []))}\n${h().trace.tail()}`;

describe('problem notifications', () => {
  before(
    async () => {
      vscode = await startVsCode({ files: { 'main.py': MAIN_PY }, workspaceSettings: { ...tinyModelSettings(), 'switchyard.model.path': MISSING_A } });
      await h().recorded('startup', async () => {
        await h().openFile('main.py');
        log(`extension active: "${await h().waitActivated(90_000)}"`);
      });
    },
    { timeout: 420_000 },
  );

  after(async () => {
    await vscode?.stop();
  });

  it('a new state replaces the problem notification, and fixing the setting closes it', { timeout: 240_000 }, async () => {
    await h().recorded('problems', async () => {
      // Opening main.py started the engine on the missing folder.
      await waitFor('the "cannot load the model" notification for folder a', 60_000, async () => (await loadProblems()).some((t) => t.includes(MISSING_A)), shown);
      const first = h().notification(MISSING_A).first();
      for (const action of ['Select Model Folder', 'Show Engine Log']) {
        assert.ok(await first.locator('a', { hasText: action }).isVisible(), `the notification offers ${action}`);
      }

      // Another wrong folder: its notification replaces the first one.
      h().writeWorkspaceSettings({ 'switchyard.model.path': MISSING_B });
      await waitFor('the notification for folder b, and only that one', 60_000, async () => {
        const texts = await loadProblems();
        return texts.length === 1 && texts[0]!.includes(MISSING_B);
      }, shown);

      // Its Show Engine Log link runs the command: the log shows the failed load.
      await h().notification(MISSING_B).first().locator('a', { hasText: 'Show Engine Log' }).click();
      await waitFor('the Switchyard log in the panel', 20_000, async () => (await h().page.locator('.part.panel').innerText().catch(() => '')).replace(/\u00a0/g, ' ').includes(`load-failed: ${MISSING_B}`), async () => h().page.locator('.part.panel').innerText().catch((e) => String(e)));

      // The real model: it loads, and no notification about the wrong folders is left.
      const from = h().trace.count();
      h().writeWorkspaceSettings(tinyModelSettings());
      await h().trace.waitEvent('engine-ready', from, 120_000);
      await waitFor('no "cannot load the model" notification', 20_000, async () => (await loadProblems()).length === 0, shown);
    });
  });
});
