/**
 * End to end: the chat view, the refactor commands with their diff review, and the remote
 * (OpenAI-compatible) endpoint, in a real VS Code (code-server + chromium, test/e2e/harness.ts).
 * One VS Code for the file; the tests run in order and build on each other's state:
 *  1. a question in the chat view, answered by the local engine (tiny random-weight model): the
 *     answer streams into the view and ends as the engine's own text (the chat-result trace event);
 *  2. Insert at Cursor from a code block, with switchyard.remote.endpoint pointed at a scripted
 *     OpenAI-compatible server started here (real HTTP, streamed SSE);
 *  3. Rewrite with Instruction on a selection: diff review, Accept, the file is the proposed text,
 *     one undo step takes it back (screenshot refactor-diff.png);
 *  4. Fix Selection, Reject: nothing written
 *     (3 and 4 answered by the scripted server too: the tiny model never finishes an answer within
 *     switchyard.chat.maxTokens, and a cut-off answer is never proposed);
 *  5. a window reload keeps the conversation;
 *  6. screenshots of the chat view in the dark and light themes (chat-*.png).
 * The screenshots go to .cache/e2e/screenshots/, or with SWITCHYARD_UPDATE_SCREENSHOTS=1 (npm run
 * screenshots) to the README's docs/screenshots/ (test/e2e/screenshots.ts).
 *
 * Run: node --import tsx --test test/e2e/chat.e2e.ts  (after node scripts/e2e/setup.mjs), or with
 * the others through node scripts/e2e/run.mjs. On failure: screenshot, trace, logs and the webviews'
 * HTML under .cache/e2e/artifacts/<time>/.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { screenshotDir } from './screenshots.ts';
import { SCRIPTED_MODEL, startScriptedEndpoint, type ScriptedEndpoint } from './scripted-endpoint.ts';
import path from 'node:path';
import type { FrameLocator, Locator } from 'playwright-core';
import { exactly, log, MAIN_PY, REPO, short, sleep, startVsCode, tinyModelSettings, waitFor, type TraceEvent, type VsCode } from './harness.ts';

const SCREENSHOTS = screenshotDir(REPO); // .cache/e2e/screenshots/; docs/screenshots/ only with npm run screenshots

// The workspace file is the harness's MAIN_PY; line numbers below are 1-based and refer to it.
const INSERT_LINE = 11; // a blank line between scale() and main(): test 2 inserts the code block there

const QUESTION_LOCAL = 'What does scale() in main.py return?';
const QUESTION_REMOTE = 'Write a function that doubles every value in a list.';
const CHAT_MAX_TOKENS = 48;

// --- a scripted OpenAI-compatible server ------------------------------------------------------------
//
// It stands in for a model that writes code: a random-weight model never writes a fenced block, and
// Insert at Cursor needs one. Being a real HTTP server (GET /v1/models, streamed SSE from
// POST /v1/chat/completions, POST /v1/completions), it also exercises the extension's remote path
// end to end.

const SCRIPTED_CODE = 'def double_all(values):\n    return [value * 2 for value in values]\n';
const SCRIPTED_ANSWER = `Here is a helper that doubles every value:\n\n\`\`\`python\n${SCRIPTED_CODE}\`\`\`\n\nCall it as \`double_all(numbers)\`.\n`;
// Refactors (the extension asks for the whole rewritten selection in one fenced block):
const REWRITE_INSTRUCTION = 'Use a list comprehension.';
const REWRITE_CODE = '    result = [value * factor for value in values]\n';
const FIX_CODE = 'def add(a, b):\n    return int(a) + int(b)\n';
const fenced = (code: string) => `\`\`\`python\n${code}\`\`\`\n`;

/** What the scripted model says to a chat request: by the task in its last user message. */
function scriptedAnswer(body: Record<string, unknown> | undefined): string {
  const messages = Array.isArray(body?.messages) ? (body.messages as { role?: string; content?: string }[]) : [];
  const last = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
  if (last.includes(`as follows: ${REWRITE_INSTRUCTION}`)) return fenced(REWRITE_CODE);
  if (last.includes('Fix the bugs in')) return fenced(FIX_CODE);
  return SCRIPTED_ANSWER;
}


// --- the world --------------------------------------------------------------------------------------

let vscode: VsCode | undefined;
let scripted: ScriptedEndpoint | undefined;

function h(): VsCode {
  assert.ok(vscode, 'VS Code did not start (see the startup error)');
  return vscode;
}

const norm = (t: string) => t.replace(/\s+/g, ' ').trim();
/** Text without whitespace and the ASCII characters markdown may consume or add. */
const unmarked = (t: string) => t.replace(/[\s\\*_`#>~|[\]()!<-]/g, '');

/** The chat webview's document. */
const chat = (): FrameLocator => h().webview();
const turns = (role: 'user' | 'assistant'): Locator => chat().locator(`.turn[data-role="${role}"]`);

/** Opens the Switchyard side bar (if it is not open) and waits for the chat view's prompt. */
async function openChatView(): Promise<void> {
  const p = h().page;
  const item = p.locator('.part.activitybar .action-item').filter({ has: p.locator('a[aria-label^="Switchyard"]') }).first();
  await waitFor('the "Switchyard" item in the activity bar', 30_000, () => item.isVisible().catch(() => false));
  const open = ((await item.getAttribute('class')) ?? '').split(/\s+/).includes('checked');
  if (!open) await item.locator('a').first().click();
  await waitFor(
    'the chat view (#prompt in the Switchyard webview)',
    60_000,
    () => chat().locator('#prompt').isVisible().catch(() => false),
    async () => `webview iframes: ${await p.locator('iframe.webview').count()}; activity bar item class: ${await item.getAttribute('class').catch(() => '?')}`,
  );
}

/** Makes the side bar wide enough to read the chat (drags the sash on its right edge). */
async function widenSideBar(width = 600): Promise<void> {
  const p = h().page;
  const bar = p.locator('.part.sidebar').first();
  const box = await bar.boundingBox();
  assert.ok(box, 'the side bar has no bounding box');
  if (box.width >= width - 40) return;
  await p.mouse.move(box.x + box.width + 1, box.y + box.height / 2);
  await p.mouse.down();
  await p.mouse.move(box.x + width, box.y + box.height / 2, { steps: 8 });
  await p.mouse.up();
  await waitFor(`the side bar to widen to ${width} px`, 5000, async () => ((await bar.boundingBox())?.width ?? 0) >= width - 40, async () => `width ${(await bar.boundingBox())?.width}`);
  await p.mouse.move(box.x + width + 300, box.y + box.height - 100);
}

/**
 * No selection in the editor (the chat view shows one as a context chip): Go to Line moves the
 * cursor to an empty line, which drops the selection whatever has the focus (a bare Escape only
 * works when the editor has it, and a reload can leave it elsewhere).
 */
async function clearSelection(): Promise<void> {
  const gone = async () => (await chat().locator('.chip[data-kind="selection"]').count()) === 0;
  for (let i = 0; i < 3 && !(await gone()); i++) {
    await h().gotoLine(17);
    await waitFor('the selection chip to leave the chat view', 5000, gone).catch(() => {});
  }
  await waitFor('the selection chip to leave the chat view after Go to Line 17', 5000, gone);
}

/** The engine state the chat view shows (#engine-state[data-kind]). */
const engineKind = () => chat().locator('#engine-state').getAttribute('data-kind', { timeout: 5000 }).catch(() => null);

/** Sends `text` from the chat view's prompt (filled in, then Enter). */
async function ask(text: string): Promise<void> {
  const prompt = chat().locator('#prompt');
  await prompt.click();
  await prompt.fill(text);
  await prompt.press('Enter');
}

/** Waits until the last assistant turn after `before` assistant turns exists and has finished streaming. */
async function waitAnswer(before: number, timeoutMs: number): Promise<Locator> {
  const all = turns('assistant');
  await waitFor(`assistant turn #${before + 1} in the chat view`, timeoutMs, async () => (await all.count()) > before, () => h().trace.tail());
  const turn = all.nth(before);
  await waitFor(
    'the assistant turn to finish streaming (data-streaming="false")',
    timeoutMs,
    async () => (await turn.getAttribute('data-streaming', { timeout: 5000 }).catch(() => null)) === 'false',
    async () => `data-streaming=${await turn.getAttribute('data-streaming').catch(() => '?')}; text ${short(await turn.innerText().catch(() => ''))}\n${h().trace.tail()}`,
  );
  // A failed request ends the turn too, with the error under it.
  const error = (await turn.locator('.turn-error').allInnerTexts()).join(' ');
  assert.ok(!error, `the answer ended with an error: ${error}\n${h().trace.tail()}`);
  return turn;
}

/** Saves the active editor (focus moved there first) and waits for `rel` on disk to differ from `previous`. */
async function saveAndRead(rel: string, previous: string): Promise<string> {
  await h().focusEditor();
  await h().page.keyboard.press('Control+S');
  return waitFor(`${rel} to be saved (its text on disk to change)`, 15_000, () => {
    const now = h().readFile(rel);
    return now !== previous ? now : '';
  });
}

/** Clears switchyard.remote.endpoint and waits for the chat view to leave the "remote" state. */
async function useLocalEngine(): Promise<void> {
  h().writeWorkspaceSettings({ 'switchyard.remote.endpoint': '' });
  await waitFor('the chat view to leave the remote state (endpoint set back to "")', 20_000, async () => {
    const k = await engineKind();
    return k !== null && k !== 'remote';
  });
  log(`endpoint cleared: engine state ${await engineKind()}`);
}

/** Points switchyard.remote.endpoint at the scripted server and waits for the chat view to say "remote". */
async function useScriptedEndpoint(): Promise<void> {
  const url = scripted!.url;
  h().writeWorkspaceSettings({ 'switchyard.remote.endpoint': url });
  await waitFor('the chat view to show the remote endpoint (#engine-state[data-kind="remote"])', 20_000, async () => (await engineKind()) === 'remote', async () => `engine state: ${await engineKind()}`);
  log(`endpoint ${url}: the chat view says remote`);
}

/**
 * main.py open in the editor with no unsaved changes: what the refactor tests start from even when
 * an earlier test failed half-way.
 */
async function cleanStart(): Promise<void> {
  await h().openFile('main.py');
  if ((await activeTabDirty()) > 0) {
    log('main.py has unsaved changes left by an earlier test: reverting them');
    await h().runCommand('File: Revert File');
    await waitFor('main.py to be reverted', 10_000, async () => (await activeTabDirty()) === 0);
  }
}

/** Selects whole lines [from, to] (1-based) of the active editor: Go to Line, then Shift+Down. */
async function selectLines(from: number, to: number): Promise<void> {
  await h().focusEditor();
  await h().gotoLine(from);
  for (let i = from; i <= to; i++) await h().page.keyboard.press('Shift+ArrowDown');
}

/** 1-based line numbers of the first line holding `needle`. */
function lineOf(text: string, needle: string): number {
  const i = text.split('\n').findIndex((l) => l.includes(needle));
  assert.ok(i >= 0, `no line with ${JSON.stringify(needle)} in:\n${text}`);
  return i + 1;
}

const editorTitleAction = (title: string) => h().page.locator(`.part.editor .editor-actions a.action-label[aria-label^="${title}"]`).first();
const diffEditor = () => h().page.locator('.part.editor .monaco-diff-editor').first();
const activeTabDirty = () => h().page.locator('.tabs-container .tab.active.dirty').count();

async function screenshot(name: string): Promise<string> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, name);
  await h().page.screenshot({ path: file, timeout: 15_000 });
  log(`screenshot ${path.relative(REPO, file)}`);
  return file;
}

interface Observation {
  streaming: string | null;
  len: number;
  t: number;
}

/**
 * Installed in the chat webview: records (data-streaming, text length) of the newest assistant turn
 * on every DOM change, in window.__syObs. A tiny model streams 48 tokens faster than polling from the
 * test could see; an observer inside the page sees every render. (A string, not a function: tsx
 * would add helper calls that do not exist in the page.)
 */
const OBSERVE_STREAM = `(() => {
  if (window.__syMo) window.__syMo.disconnect();
  const obs = [];
  window.__syObs = obs;
  window.__syMo = new MutationObserver(() => {
    const all = document.querySelectorAll('.turn[data-role="assistant"]');
    const last = all[all.length - 1];
    if (!last) return;
    const body = last.querySelector('.turn-body');
    const len = body ? body.textContent.length : 0;
    const streaming = last.getAttribute('data-streaming');
    const prev = obs[obs.length - 1];
    if (!prev || prev.len !== len || prev.streaming !== streaming) obs.push({ streaming, len, t: performance.now() });
  });
  window.__syMo.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
})()`;

/** Waits for an edit-proposed event for main.py after the mark `from`. */
async function waitProposal(from: number, timeoutMs = 60_000): Promise<TraceEvent> {
  const match = (e: TraceEvent) => String(e.uri).endsWith('main.py');
  return waitFor(
    'an "edit-proposed" event for main.py in the trace',
    timeoutMs,
    () => h().trace.ofKind('edit-proposed', h().trace.since(from)).find(match),
    async () => {
      const toasts = await h().page.locator('.notifications-toasts .notification-toast').allInnerTexts().catch(() => []);
      return `notifications: ${JSON.stringify(toasts)}\n${h().trace.tail()}`;
    },
  );
}

// --- the tests -------------------------------------------------------------------------------------

describe('Switchyard chat, refactors and remote endpoint in VS Code', { timeout: 600_000 }, () => {
  before(
    async () => {
      scripted = await startScriptedEndpoint({ answer: (body) => ({ text: scriptedAnswer(body), delayMs: 25 }) });
      log(`scripted OpenAI-compatible server at ${scripted.url}`);
      vscode = await startVsCode({
        files: { 'main.py': MAIN_PY },
        workspaceSettings: {
          ...tinyModelSettings(),
          'switchyard.chat.maxTokens': CHAT_MAX_TOKENS,
          'switchyard.remote.timeoutSeconds': 30,
        },
        userSettings: { 'workbench.colorTheme': 'Default Dark Modern' },
      });
      await h().recorded('startup', async () => {
        await h().openFile('main.py');
        const item = await h().waitActivated(90_000);
        log(`extension active: "${item}"`);
      });
    },
    { timeout: 420_000 },
  );

  after(
    async () => {
      await vscode?.stop();
      await scripted?.close();
    },
    { timeout: 60_000 },
  );

  it('answers a question in the chat view with the local engine, streaming', { timeout: 150_000 }, async () => {
    await h().recorded('chat-local', async () => {
      await openChatView();
      log(`chat view open; engine state ${await engineKind()}`);
      const mark = h().trace.count();
      const assistantBefore = await turns('assistant').count();
      // Watch the view from inside: every DOM change is an observation of the newest assistant turn
      // (a tiny model streams 48 tokens faster than polling from here could see).
      await chat().locator('body').evaluate(OBSERVE_STREAM);
      await ask(QUESTION_LOCAL);
      await waitFor(
        'the question as a user turn in the chat view',
        10_000,
        async () => (await turns('user').allInnerTexts()).some((t) => norm(t).includes(QUESTION_LOCAL)),
      );
      // The first chat request may start the engine and load the model.
      const turn = await waitAnswer(assistantBefore, 120_000);
      const obs = (await chat().locator('body').evaluate('window.__syObs')) as Observation[];
      const streamingLens = obs.filter((o) => o.streaming === 'true' && o.len > 0).map((o) => o.len);
      const growing = streamingLens.filter((len, i) => i === 0 || len > streamingLens[i - 1]);
      assert.ok(
        growing.length >= 2,
        `the answer did not grow while data-streaming was "true" (observations: ${JSON.stringify(obs.slice(0, 40))})`,
      );
      assert.ok(obs.some((o) => o.streaming === 'true'), 'never saw data-streaming="true"');
      assert.equal(obs.at(-1)?.streaming, 'false', 'the last observation is not data-streaming="false"');

      const result = await h().trace.waitEvent('chat-result', mark, 10_000);
      const req = h().trace.ofKind('chat-request', h().trace.since(mark));
      assert.ok(req.length > 0 && req.every((r) => r.backend === 'local'), `expected chat-request events with backend "local": ${JSON.stringify(req)}`);
      assert.equal(result.backend, 'local');
      assert.ok(!result.error, `chat-result has an error: ${String(result.error)}`);
      const shown = await turn.locator('.turn-body').innerText();
      assert.ok(norm(String(result.text)).length > 0, `the engine answered nothing: ${JSON.stringify(result)}`);
      // The view renders markdown: a random-weight model's text can hold backslash escapes (`\\;`
      // shows as `;`), emphasis marks and the like, so compare what is left without markdown syntax.
      assert.equal(unmarked(shown), unmarked(String(result.text)), 'the answer shown differs from the engine\'s (chat-result text)');
      log(`answer (${result.finishReason}), ${growing.length} growing observations of ${obs.length}: ${short(shown)}`);
    });
  });

  it('inserts a code block from a remote answer at the cursor (scripted OpenAI-compatible server)', { timeout: 120_000 }, async () => {
    await h().recorded('insert-at-cursor-remote', async () => {
      const s = scripted!;
      await useScriptedEndpoint();

      // The cursor at the start of a known line of main.py.
      const before = h().readFile('main.py');
      await h().openFile('main.py');
      await h().gotoLine(INSERT_LINE);
      const head = before.split('\n').slice(0, INSERT_LINE - 1).join('\n') + '\n';
      const tail = before.slice(head.length);

      const mark = h().trace.count();
      const assistantBefore = await turns('assistant').count();
      await openChatView();
      await ask(QUESTION_REMOTE);
      const turn = await waitAnswer(assistantBefore, 60_000);
      const result = await h().trace.waitEvent('chat-result', mark, 10_000);
      assert.equal(result.backend, 'remote', `chat-result: ${JSON.stringify(result)}`);
      assert.equal(String(result.text).trimEnd(), SCRIPTED_ANSWER.trimEnd(), 'the remote answer in the trace is not what the server sent');
      const chats = s.requests.filter((r) => r.path === '/v1/chat/completions');
      assert.ok(chats.length > 0 && chats.at(-1)?.body?.stream === true, `no streamed POST /v1/chat/completions reached the server: ${JSON.stringify(s.requests.map((r) => `${r.method} ${r.path}`))}`);
      assert.equal(chats.at(-1)?.body?.model, SCRIPTED_MODEL, 'the request did not name the model GET /v1/models listed');

      const block = turn.locator('.code-block').first();
      await block.waitFor({ state: 'visible', timeout: 10_000 });
      assert.equal((await block.locator('pre code').innerText()).trimEnd(), SCRIPTED_CODE.trimEnd(), 'the code block shows other code');
      await block.locator('[data-action="insert"]').click();
      // The extension edits main.py and moves the focus back to it.
      await waitFor('main.py to have unsaved changes after Insert at Cursor', 15_000, async () => (await activeTabDirty()) > 0);
      const after = await saveAndRead('main.py', before);
      assert.ok(after.startsWith(head) && after.endsWith(tail), `the text around the cursor changed:\n${after}`);
      const inserted = after.slice(head.length, after.length - tail.length);
      assert.equal(inserted.trimEnd(), SCRIPTED_CODE.trimEnd(), `Insert at Cursor put ${JSON.stringify(inserted)} at line ${INSERT_LINE}`);
      log(`inserted ${JSON.stringify(inserted)} at line ${INSERT_LINE}`);

      await useLocalEngine();
    });
  });

  // The refactor tests use the scripted server too: an answer that reaches switchyard.chat.maxTokens
  // inside its code is never proposed (extension/refactor/run.ts, "cut off"), and the tiny
  // random-weight model never stops before the limit. The server stands in for a model that writes
  // the code asked for; the diff review, Accept / Reject and the edit are the extension's own.

  it('rewrites a selection with an instruction: diff, Accept, the proposed text on disk, one undo step', { timeout: 120_000 }, async () => {
    await h().recorded('rewrite-accept', async () => {
      const p = h().page;
      await useScriptedEndpoint();
      await cleanStart();
      const before = h().readFile('main.py');
      const from = lineOf(before, 'result = []');
      await selectLines(from, from + 2); // the three lines that build `result` in a loop
      const lines = before.split('\n');
      const expected = [...lines.slice(0, from - 1), REWRITE_CODE.trimEnd(), ...lines.slice(from + 2)].join('\n');

      const mark = h().trace.count();
      const requestsBefore = scripted!.requests.length;
      await h().runCommand('Switchyard: Rewrite with Instruction');
      const input = p.locator('.quick-input-widget input.input');
      await input.waitFor({ state: 'visible', timeout: 15_000 });
      await input.fill(REWRITE_INSTRUCTION);
      await input.press('Enter');
      const proposed = await waitProposal(mark);
      const newText = String(proposed.newText);
      log(`edit proposed (${short(String(proposed.title))}): ${newText.length} chars`);
      const sent = scripted!.requests.slice(requestsBefore).find((r) => r.path === '/v1/chat/completions');
      assert.ok(JSON.stringify(sent?.body?.messages ?? []).includes(REWRITE_INSTRUCTION), 'the instruction did not reach the model');
      assert.equal(newText, expected, 'the proposal is not main.py with the selected lines replaced by the answer\'s code');

      await diffEditor().waitFor({ state: 'visible', timeout: 20_000 });
      const accept = editorTitleAction('Switchyard: Accept Proposed Edit');
      await accept.waitFor({ state: 'visible', timeout: 15_000 });
      await h().notification(/Switchyard proposes an edit to/).first().waitFor({ state: 'visible', timeout: 15_000 });
      assert.equal(h().readFile('main.py'), before, 'main.py changed on disk before Accept');
      await sleep(500); // let the diff finish laying out
      await screenshot('refactor-diff.png');
      await accept.click();
      const result = await h().trace.waitEvent('edit-result', mark, 15_000);
      assert.equal(result.accepted, true, `edit-result: ${JSON.stringify(result)}`);
      await waitFor('the diff editor to close after Accept', 15_000, async () => !(await diffEditor().isVisible().catch(() => false)));
      await p.locator('.tabs-container .tab.active[aria-label*="main.py"]').waitFor({ timeout: 10_000 });
      const after = await saveAndRead('main.py', before);
      assert.equal(after, newText, 'main.py on disk is not the proposed text');

      // One undo step restores the text from before the edit.
      await h().focusEditor();
      await p.keyboard.press('Control+Z');
      const undone = await saveAndRead('main.py', after);
      assert.equal(undone, before, 'one Control+Z did not restore the text from before the edit');
      log('accepted: main.py is the proposed text; one undo step restored the previous text');
    });
  });

  it('writes nothing when a proposed fix is rejected', { timeout: 120_000 }, async () => {
    await h().recorded('fix-reject', async () => {
      const p = h().page;
      await useScriptedEndpoint();
      await cleanStart();
      const before = h().readFile('main.py');
      const shownBefore = await h().editorText();
      const from = lineOf(before, 'def add(');
      await selectLines(from, from + 1);
      const mark = h().trace.count();
      await h().runCommand('Switchyard: Fix Selection');
      const proposed = await waitProposal(mark);
      assert.ok(String(proposed.newText).includes(FIX_CODE), `the proposal does not hold the fix: ${short(String(proposed.newText), 300)}`);
      await diffEditor().waitFor({ state: 'visible', timeout: 20_000 });
      // Reject from the notification this time (test 3 used the editor title button): a link there.
      const toast = h().notification(/Switchyard proposes an edit to .*main\.py/).first();
      await toast.waitFor({ state: 'visible', timeout: 20_000 });
      await toast.locator('a', { hasText: exactly('Reject') }).first().click();
      const result = await h().trace.waitEvent('edit-result', mark, 15_000);
      assert.equal(result.accepted, false, `edit-result: ${JSON.stringify(result)}`);
      await waitFor('the diff editor to close after Reject', 15_000, async () => !(await diffEditor().isVisible().catch(() => false)));
      await p.locator('.tabs-container .tab.active[aria-label*="main.py"]').waitFor({ timeout: 10_000 });
      await sleep(1000); // anything written late would show by now
      assert.equal(h().readFile('main.py'), before, 'main.py changed on disk after Reject');
      assert.equal(await activeTabDirty(), 0, 'main.py has unsaved changes after Reject');
      assert.equal(await h().editorText(), shownBefore, 'the editor text changed after Reject');
      assert.equal(shownBefore.trimEnd(), before.trimEnd(), 'the editor did not show all of main.py');
      log('rejected: main.py unchanged on disk and in the editor');
      await useLocalEngine();
    });
  });

  it('shows the conversation again after the window reloads', { timeout: 120_000 }, async () => {
    await h().recorded('reload-history', async () => {
      const userBefore = (await turns('user').allInnerTexts()).map(norm);
      assert.ok(userBefore.length >= 2, `expected the two questions in the view before the reload: ${JSON.stringify(userBefore)}`);
      await h().reload();
      await h().waitActivated(60_000);
      await openChatView();
      const shown = await waitFor(
        'the earlier questions in the chat view after the reload',
        30_000,
        async () => {
          const texts = (await turns('user').allInnerTexts()).map(norm);
          return [QUESTION_LOCAL, QUESTION_REMOTE].every((q) => texts.some((t) => t.includes(q))) ? texts : undefined;
        },
        async () => `user turns: ${JSON.stringify(await turns('user').allInnerTexts().catch(() => []))}`,
      );
      assert.deepEqual(shown, userBefore, 'the user turns after the reload differ from those before');
      assert.ok((await turns('assistant').count()) >= 2, 'the answers are missing after the reload');
      log(`after the reload: ${shown.length} user turns, ${await turns('assistant').count()} answers`);
    });
  });

  it('renders the conversation in the dark and light themes (screenshots)', { timeout: 90_000 }, async () => {
    await h().recorded('theme-screenshots', async () => {
      const p = h().page;
      await openChatView();
      await widenSideBar();
      await clearSelection();
      await p.mouse.move(900, 600);
      // The theme's own class on the workbench (a bare "vs" shows for a moment while a window loads).
      const theme = (name: string) => p.locator(`.monaco-workbench.vscode-theme-defaults-themes-${name}_modern-json`).count();
      const webviewTheme = () => chat().locator('body').getAttribute('class', { timeout: 5000 }).catch(() => '');

      await waitFor('the dark theme (Default Dark Modern)', 15_000, async () => (await theme('dark')) > 0);
      await waitFor('the chat view in the dark theme (body.vscode-dark)', 15_000, async () => /vscode-dark/.test((await webviewTheme()) ?? ''));
      await sleep(500);
      await screenshot('chat-dark.png');

      // code-server does not notice an outside change to the user's settings.json while a window is
      // open (its workspace settings it does): the window reads it again on reload.
      h().writeUserSettings({ 'workbench.colorTheme': 'Default Light Modern' });
      await h().reload();
      await waitFor('the light theme (Default Light Modern, from the user settings.json)', 30_000, async () => (await theme('light')) > 0);
      await openChatView();
      await widenSideBar();
      await clearSelection(); // a reload restores the editor's last saved view state
      await waitFor('the chat view in the light theme (body.vscode-light)', 15_000, async () => /vscode-light/.test((await webviewTheme()) ?? ''));
      await waitFor('the conversation in the chat view', 15_000, async () => (await turns('assistant').count()) >= 2);
      await p.mouse.move(900, 600);
      await sleep(500);
      await screenshot('chat-light.png');
    });
  });
});
