/**
 * End to end, in a real VS Code (code-server + chromium, test/e2e/harness.ts): what a new user met in
 * the first hour (issue 13, items 1, 4, 5, 6 and 7). One VS Code for the file; the tests run in order.
 *
 *  1. picking a file for the chat (`@` in the prompt, or + File) gives the focus back to the prompt:
 *     the keys typed next land there, not in main.py, and the `@` that opened the picker goes;
 *  7. Enter while an answer streams says why nothing was sent, and keeps the draft;
 *  6. Apply to File with nothing selected replaces the function of the same name (or inserts at the
 *     cursor), and the button's tooltip says which, beforehand;
 *  4. Accept or Reject in the diff's title bar closes the "proposes an edit" notification too (Apply
 *     with a selection makes the proposals, so this one does not depend on item 6);
 *  5. a remote endpoint that is down (a closed port) or failing (a server here that answers 500 to
 *     every completion) shows in the status bar and the chat view, with the action that fixes it.
 *
 * The chat answers come from a scripted OpenAI-compatible server started here (real HTTP, streamed
 * SSE): a random-weight model never writes a code block, and item 7 needs an answer that streams for
 * seconds. The endpoints of item 5 are real sockets too: a port nothing listens on, and a node:http
 * server that fails on purpose.
 *
 * Run: node scripts/e2e/run.mjs --test-name-pattern='first hour'  (or node --import tsx --test this file)
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FrameLocator, Locator } from 'playwright-core';
import { freePort, log, MAIN_PY, short, sleep, startVsCode, tinyModelSettings, waitFor, type TraceEvent, type VsCode } from './harness.ts';
import { SCRIPTED_MODEL, startScriptedEndpoint, type ScriptedEndpoint } from './scripted-endpoint.ts';

const UTIL_PY = 'def helper():\n    return 42\n';
const SCALE_CODE = 'def scale(values, factor):\n    return [value * factor for value in values]';
const INSERT_CODE = 'print("inserted")';
const CODE_QUESTION = 'Rewrite scale with a list comprehension.';
const SLOW_QUESTION = 'Tell me a long story slowly.';

/** What the scripted model says, and how fast: by the last user message. */
function scripted(body: Record<string, unknown> | undefined): { text: string; delayMs: number } {
  const messages = Array.isArray(body?.messages) ? (body.messages as { role?: string; content?: string }[]) : [];
  const last = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
  if (last.includes(SLOW_QUESTION)) return { text: Array.from({ length: 60 }, (_, i) => `word${i}`).join(' '), delayMs: 150 };
  if (last.includes(CODE_QUESTION)) {
    return { text: `Here it is:\n\n\`\`\`python\n${SCALE_CODE}\n\`\`\`\n\nAnd to check it:\n\n\`\`\`python\n${INSERT_CODE}\n\`\`\`\n`, delayMs: 5 };
  }
  return { text: 'It holds a few small functions.', delayMs: 5 };
}


// --- the world --------------------------------------------------------------------------------------

let vscode: VsCode | undefined;
let good: ScriptedEndpoint | undefined;
let broken: ScriptedEndpoint | undefined;

function h(): VsCode {
  assert.ok(vscode, 'VS Code did not start (see the startup error)');
  return vscode;
}

const chat = (): FrameLocator => h().webview();
const prompt = () => chat().locator('#prompt');
const turns = (role: 'user' | 'assistant'): Locator => chat().locator(`.turn[data-role="${role}"]`);
const engineKind = () => chat().locator('#engine-state').getAttribute('data-kind', { timeout: 5000 }).catch(() => null);
const activeTabDirty = () => h().page.locator('.tabs-container .tab.active.dirty').count();
const mainTabDirty = () => h().page.locator('.tabs-container .tab.dirty[aria-label*="main.py"]').count();
const quickInput = () => h().page.locator('.quick-input-widget');
const proposalToasts = () => h().page.locator('.notifications-toasts .notification-toast', { hasText: /Switchyard proposes an edit to/ });
const editorTitleAction = (title: string) => h().page.locator(`.part.editor .editor-actions a.action-label[aria-label^="${title}"]`).first();
const diffEditor = () => h().page.locator('.part.editor .monaco-diff-editor').first();

/** Opens the Switchyard side bar (if it is not open) and waits for the chat view's prompt. */
async function openChatView(): Promise<void> {
  const p = h().page;
  const item = p.locator('.part.activitybar .action-item').filter({ has: p.locator('a[aria-label^="Switchyard"]') }).first();
  await waitFor('the "Switchyard" item in the activity bar', 30_000, () => item.isVisible().catch(() => false));
  const open = ((await item.getAttribute('class')) ?? '').split(/\s+/).includes('checked');
  if (!open) await item.locator('a').first().click();
  await waitFor('the chat view (#prompt in the Switchyard webview)', 60_000, () => prompt().isVisible().catch(() => false));
}

/** Points switchyard.remote.endpoint at `url` and waits until the chat view's engine line is `kind`. */
async function useEndpoint(url: string, kind: string): Promise<void> {
  h().writeWorkspaceSettings({ 'switchyard.remote.endpoint': url });
  await waitFor(`the chat view's engine line to be "${kind}" with the endpoint ${url}`, 30_000, async () => (await engineKind()) === kind, async () => `engine state: ${await engineKind()}`);
}

/** Sends `text` from the chat prompt and waits for its answer to finish. */
async function askAndWait(text: string): Promise<Locator> {
  const before = await turns('assistant').count();
  await prompt().click();
  await prompt().fill(text);
  await prompt().press('Enter');
  await waitFor(`an answer to ${short(text)}`, 30_000, async () => (await turns('assistant').count()) > before, () => h().trace.tail());
  const turn = turns('assistant').nth(before);
  await waitFor('the answer to finish streaming', 60_000, async () => (await turn.getAttribute('data-streaming', { timeout: 5000 }).catch(() => null)) === 'false');
  const error = (await turn.locator('.turn-error').allInnerTexts()).join(' ');
  assert.ok(!error, `the answer ended with an error: ${error}`);
  return turn;
}

/** main.py open, no unsaved changes (what a test starts from even after an earlier one failed). */
async function cleanMain(): Promise<void> {
  await h().openFile('main.py');
  if ((await activeTabDirty()) > 0) {
    await h().runCommand('File: Revert File');
    await waitFor('main.py to be reverted', 10_000, async () => (await activeTabDirty()) === 0);
  }
}

/** The status bar's texts and labels that mention Switchyard. */
const switchyardStatus = async () => (await h().statusBarTexts()).filter((t) => t.includes('Switchyard'));

/** The picker the chat opens: waits for it, then for `name` as the first row, and picks it with Enter. */
async function pickInPicker(name: string, filter?: string): Promise<void> {
  const p = h().page;
  await quickInput().locator('input.input').waitFor({ state: 'visible', timeout: 15_000 });
  if (filter) await p.keyboard.type(filter);
  const first = quickInput().locator('.quick-input-list .monaco-list-row').first();
  await waitFor(`"${name}" first in the file picker`, 10_000, async () => (await first.innerText().catch(() => '')).includes(name));
  await p.keyboard.press('Enter');
  await quickInput().waitFor({ state: 'hidden', timeout: 10_000 });
  // A person reads the screen before typing on: the keys below are what they type next.
  await sleep(400);
}

/** The Apply button's tooltip once it says `expected` (the host's editor info arrives debounced). */
async function applyTitle(button: Locator, expected: RegExp): Promise<string> {
  return waitFor(
    `the Apply button's tooltip to match ${expected}`,
    10_000,
    async () => {
      await button.hover();
      const t = (await button.getAttribute('title')) ?? '';
      return expected.test(t) ? t : '';
    },
    async () => `title: ${JSON.stringify(await button.getAttribute('title').catch(() => null))}`,
    300,
  );
}

/** Stops an answer still streaming (left by a test that failed half-way). */
async function stopAnyAnswer(): Promise<void> {
  const stop = chat().locator('#stop');
  if (!(await stop.isVisible().catch(() => false))) return;
  await stop.click({ timeout: 2000 }).catch(() => {}); // it may have finished meanwhile
  await waitFor('the streaming answer to stop', 15_000, async () => !(await stop.isVisible().catch(() => false)));
}

/** Rejects the open proposal from the diff's title bar and waits for the diff to close. */
async function rejectInTitleBar(mark: number): Promise<void> {
  await diffEditor().waitFor({ state: 'visible', timeout: 20_000 });
  await editorTitleAction('Switchyard: Reject Proposed Edit').click();
  const r = await h().trace.waitEvent('edit-result', mark, 15_000);
  assert.equal(r.accepted, false);
  await waitFor('the diff editor to close', 10_000, async () => !(await diffEditor().isVisible().catch(() => false)));
}

async function waitProposal(from: number): Promise<TraceEvent> {
  return waitFor('an "edit-proposed" event for main.py in the trace', 30_000, () => h().trace.ofKind('edit-proposed', h().trace.since(from)).find((e) => String(e.uri).endsWith('main.py')), () => h().trace.tail());
}

// --- the tests -------------------------------------------------------------------------------------

describe('Switchyard in the first hour: focus, flows and a failing endpoint', { timeout: 600_000 }, () => {
  before(
    async () => {
      good = await startScriptedEndpoint({ answer: scripted });
      broken = await startScriptedEndpoint({ answer: scripted, broken: true });
      log(`scripted server ${good.url}, failing server ${broken.url}`);
      vscode = await startVsCode({
        files: { 'main.py': MAIN_PY, 'util.py': UTIL_PY },
        workspaceSettings: { ...tinyModelSettings(), 'switchyard.remote.endpoint': good.url, 'switchyard.remote.timeoutSeconds': 10, 'switchyard.completions.debounceMs': 50 },
      });
      await h().recorded('first-hour-startup', async () => {
        await h().openFile('main.py');
        log(`extension active: "${await h().waitActivated(90_000)}"`);
      });
    },
    { timeout: 420_000 },
  );

  after(
    async () => {
      await vscode?.stop();
      await good?.close();
      await broken?.close();
    },
    { timeout: 60_000 },
  );

  it('item 1: after the @ picker and + File, the next keys go to the chat prompt, not into main.py', { timeout: 120_000 }, async () => {
    await h().recorded('picker-focus', async () => {
      const p = h().page;
      await cleanMain();
      await openChatView();
      const onDisk = h().readFile('main.py');

      await prompt().click();
      await p.keyboard.type('What is in @');
      await pickInPicker('main.py');
      await p.keyboard.type(' please');
      await waitFor('" please" in the chat prompt', 5000, async () => (await prompt().inputValue()).includes('please'), async () => `prompt: ${JSON.stringify(await prompt().inputValue())}; main.py dirty: ${await mainTabDirty()}`);
      const value = await prompt().inputValue();
      assert.equal(value, 'What is in  please', 'the prompt is not the typed text without the @ that opened the picker');
      await waitFor('a chip for the picked main.py', 10_000, async () => (await chat().locator('.chip[data-kind="mention"]', { hasText: 'main.py' }).count()) > 0);
      assert.equal(await mainTabDirty(), 0, 'keys typed after the picker went into main.py');
      assert.equal(h().readFile('main.py'), onDisk);

      // The + File button: the same picker, the same focus.
      await chat().locator('#add-file').click();
      await pickInPicker('util.py', 'util');
      await p.keyboard.type(' too');
      await waitFor('" too" in the chat prompt', 5000, async () => (await prompt().inputValue()).endsWith(' too'), async () => `prompt: ${JSON.stringify(await prompt().inputValue())}; main.py dirty: ${await mainTabDirty()}`);
      assert.equal(await prompt().inputValue(), 'What is in  please too');
      await waitFor('a chip for util.py', 10_000, async () => (await chat().locator('.chip[data-kind="mention"]', { hasText: 'util.py' }).count()) > 0);
      assert.equal(await mainTabDirty(), 0, 'keys typed after + File went into main.py');
      assert.equal(h().readFile('main.py'), onDisk);

      // Leave no mentions behind for the tests after this one.
      for (let i = 0; i < 2; i++) await chat().locator('.chip[data-kind="mention"] button.chip-remove').first().click();
      await prompt().fill('');
      log('picker: the typing stayed in the chat prompt, main.py untouched');
    });
  });

  it('item 7: Enter while an answer streams says why, and keeps the message', { timeout: 120_000 }, async () => {
    await h().recorded('enter-while-streaming', async () => {
      await openChatView();
      const before = await turns('assistant').count();
      const usersBefore = await turns('user').count();
      await prompt().click();
      await prompt().fill(SLOW_QUESTION);
      await prompt().press('Enter');
      const turn = turns('assistant').nth(before);
      await waitFor('the slow answer to be streaming', 20_000, async () => (await turn.getAttribute('data-streaming', { timeout: 2000 }).catch(() => null)) === 'true');
      await prompt().fill('And a second question');
      await prompt().press('Enter');
      const notice = chat().locator('#notice');
      await waitFor('a notice saying why the message was not sent', 5000, () => notice.isVisible().catch(() => false));
      const said = await notice.innerText();
      assert.match(said, /still being written/, `the notice: ${said}`);
      assert.match(said, /Stop/);
      assert.equal(await prompt().inputValue(), 'And a second question', 'the draft was lost');
      assert.equal(await turn.getAttribute('data-streaming'), 'true', 'the answer had finished already: the check proves nothing');
      assert.equal(await turns('user').count(), usersBefore + 1, 'the second message was sent');
      // Stop, then the message goes.
      await chat().locator('#stop').click();
      await waitFor('the slow answer to stop', 15_000, async () => (await turn.getAttribute('data-streaming')) === 'false');
      await prompt().fill('');
      log(`Enter while streaming: "${said}"`);
    });
  });

  it('item 6: Apply with no selection replaces the same-named function, or inserts at the cursor, as its tooltip says', { timeout: 150_000 }, async () => {
    await h().recorded('apply-no-selection', async () => {
      await cleanMain();
      await h().gotoLine(11); // an empty line between scale() and main(): the cursor, no selection
      await openChatView();
      await stopAnyAnswer();
      const turn = await askAndWait(CODE_QUESTION);
      const blocks = turn.locator('.code-block');
      await waitFor('two code blocks in the answer', 10_000, async () => (await blocks.count()) === 2);
      const lines = MAIN_PY.split('\n');

      // The scale() block: replaces scale() (lines 5-9), not the whole file.
      const scaleApply = blocks.nth(0).locator('[data-action="apply"]');
      const title1 = await applyTitle(scaleApply, /^Replace scale in main\.py \(lines 5-9\)/);
      let mark = h().trace.count();
      await scaleApply.click();
      let proposed = await waitProposal(mark);
      const expected = [...lines.slice(0, 4), ...SCALE_CODE.split('\n'), ...lines.slice(9)].join('\n');
      assert.equal(String(proposed.newText), expected, 'Apply did not replace just scale()');
      await rejectInTitleBar(mark);
      log(`Apply (tooltip "${title1}") proposed replacing scale()`);

      // The print() block: nothing of that name, so it goes in at the cursor.
      await openChatView();
      const insertApply = turns('assistant').last().locator('.code-block').nth(1).locator('[data-action="apply"]');
      const title2 = await applyTitle(insertApply, /^Insert this code at the cursor in main\.py \(line 11\)/);
      mark = h().trace.count();
      await insertApply.click();
      proposed = await waitProposal(mark);
      // Line 11 is empty: the code fills it (as Insert at Cursor would), the text around stays.
      const inserted = [...lines.slice(0, 10), INSERT_CODE, ...lines.slice(11)].join('\n');
      assert.equal(String(proposed.newText), inserted, 'Apply did not insert at the cursor');
      await rejectInTitleBar(mark);
      assert.equal(h().readFile('main.py'), MAIN_PY);
      log(`Apply (tooltip "${title2}") proposed an insert at the cursor`);
    });
  });

  it('item 4: Accept or Reject in the diff title bar closes the "proposes an edit" notification too', { timeout: 120_000 }, async () => {
    await h().recorded('proposal-notification', async () => {
      // Apply with a selection (lines 1-2, add()): a proposal whichever way Apply picks its target.
      const propose = async () => {
        await cleanMain();
        await h().focusEditor();
        await h().gotoLine(1);
        await h().page.keyboard.press('Shift+ArrowDown');
        await h().page.keyboard.press('Shift+ArrowDown');
        await openChatView();
        await stopAnyAnswer();
        let blocks = turns('assistant').last().locator('.code-block');
        if ((await blocks.count()) < 2) blocks = (await askAndWait(CODE_QUESTION)).locator('.code-block');
        const mark = h().trace.count();
        await blocks.nth(0).locator('[data-action="apply"]').click();
        await waitProposal(mark);
        await diffEditor().waitFor({ state: 'visible', timeout: 20_000 });
        await proposalToasts().first().waitFor({ state: 'visible', timeout: 15_000 });
        return mark;
      };
      const toastGone = (after: string) =>
        waitFor(`the "proposes an edit" notification to close after ${after}`, 10_000, async () => (await proposalToasts().count()) === 0, async () => `toasts: ${JSON.stringify(await proposalToasts().allInnerTexts())}`);

      let mark = await propose();
      await editorTitleAction('Switchyard: Accept Proposed Edit').click();
      const accepted = await h().trace.waitEvent('edit-result', mark, 15_000);
      assert.equal(accepted.accepted, true);
      await toastGone('Accept in the title bar');
      await waitFor('main.py to hold the accepted edit (unsaved)', 10_000, async () => (await mainTabDirty()) > 0);

      mark = await propose();
      await editorTitleAction('Switchyard: Reject Proposed Edit').click();
      const rejected = await h().trace.waitEvent('edit-result', mark, 15_000);
      assert.equal(rejected.accepted, false);
      await toastGone('Reject in the title bar');
      await sleep(500);
      assert.equal(await mainTabDirty(), 0, 'main.py changed after Reject');
      assert.equal(h().readFile('main.py'), MAIN_PY);
      log('a decision in the title bar closed the notification, both ways');
    });
  });

  it('item 5: a remote endpoint that is down or failing shows in the status bar and the chat view, with the fix', { timeout: 180_000 }, async () => {
    await h().recorded('remote-down', async () => {
      await openChatView();
      // A port nothing listens on: every request is refused.
      const closed = `http://127.0.0.1:${await freePort()}/v1`;
      await useEndpoint(closed, 'remote-down');
      const line = await chat().locator('#engine-state .engine-message').innerText();
      assert.match(line, /Cannot reach the remote endpoint .*connection refused/, `the chat view says: ${line}`);
      const fixes = await chat().locator('#engine-state button[data-fix]').evaluateAll((bs) => bs.map((b) => b.getAttribute('data-fix')));
      assert.deepEqual(fixes, ['remoteSettings', 'retryRemote']);
      const down = await waitFor('the status bar to say the endpoint is failing', 15_000, async () => (await switchyardStatus()).find((t) => t.startsWith('Switchyard: remote endpoint failing')), async () => JSON.stringify(await switchyardStatus()));
      assert.match(down, /connection refused.*click to check the switchyard\.remote settings/);
      assert.ok(!(await switchyardStatus()).some((t) => t.startsWith('Switchyard: remote —')), 'the status bar still shows a healthy remote');
      log(`down: status "${down}"`);

      // Reachable, GET /v1/models fine, but every completion fails with a 500: completions used to fail silently.
      await useEndpoint(broken!.url, 'remote');
      const completionsBefore = broken!.requests.filter((r) => r.path === '/v1/completions').length;
      await cleanMain();
      await h().gotoLine(15); // print(total, numbers)
      await h().page.keyboard.press('End');
      await h().page.keyboard.type('\n    total = ');
      await waitFor('a completion request to reach the failing server', 20_000, () => broken!.requests.filter((r) => r.path === '/v1/completions').length > completionsBefore);
      const failing = await waitFor('the status bar to say the endpoint is failing (500)', 15_000, async () => (await switchyardStatus()).find((t) => t.startsWith('Switchyard: remote endpoint failing')), async () => JSON.stringify(await switchyardStatus()));
      assert.match(failing, /answered 500.*the model worker crashed/);
      await waitFor('the chat view to show the failing endpoint', 10_000, async () => (await engineKind()) === 'remote-down');
      log(`failing: status "${failing}"`);

      // Fixed: the endpoint pointed at a working server, the state clears.
      await useEndpoint(good!.url, 'remote');
      await waitFor('the status bar to show a working remote again', 15_000, async () => {
        const s = await switchyardStatus();
        return s.some((t) => t.startsWith('Switchyard: remote —')) && !s.some((t) => t.includes('failing'));
      }, async () => JSON.stringify(await switchyardStatus()));
      await cleanMain();
    });
  });
});
