/**
 * End to end: the README's demo, as a new user meets it. Runs `scripts/start.mjs` (what `npm start`
 * runs) with its demo folder in a scratch place (SWITCHYARD_DEMO_DIR) and a free port, opens the URL
 * it prints in chromium, and checks what the user sees:
 *  - main.py open in the editor, no Walkthrough or welcome page, no question about a parent git
 *    repository (the workspace is outside the repository);
 *  - the terminal without code-server's vsda / open-vsx noise;
 *  - the README's walkthrough: (1) ghost text inside main() accepted with Tab; (2) the chat view
 *    saying that the built-in model has random weights, never writes a code block (so refactors show
 *    no diff), and how to see one with a real checkpoint, then answering a question; (3) Fix
 *    Selection on the real random-weight model ending in that explanation, with no diff and main.py
 *    untouched on disk (nothing canned is shown as the model's).
 *
 * Run: node scripts/e2e/run.mjs --test-name-pattern=demo  (installs code-server and chromium first).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { exactly, freePort, log, REPO, RUN_ID, sleep, waitFor } from './harness.ts';
import { killGroup, ownGroup, RUN_MARKER, sweepMarked } from './procs.ts';

const CHROMIUM = process.env.SWITCHYARD_E2E_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO, '.cache/e2e/artifacts');

let scratch = '';
let start: ChildProcess | undefined;
let output = '';
let browser: Browser | undefined;
let page: Page | undefined;
const p = (): Page => {
  assert.ok(page, 'no browser page (start-up failed)');
  return page;
};

const webview = () => p().frameLocator('iframe.webview.ready').frameLocator('#active-frame');
const toasts = () => p().locator('.notifications-toasts .notification-toast').allInnerTexts().catch(() => [] as string[]);

const GHOST = '.editor-instance .monaco-editor .ghost-text-decoration, .editor-instance .monaco-editor .ghost-text-decoration-preview, .editor-instance .monaco-editor .ghost-text';
const ghostText = () => p().evaluate((sel) => Array.from(document.querySelectorAll(sel)).filter((e) => (e as HTMLElement).offsetParent).map((e) => e.textContent ?? '').join(''), GHOST);
/** The active editor's rendered lines, top to bottom (U+00A0 as space). */
const editorLines = () =>
  p().evaluate(() =>
    (Array.from(document.querySelectorAll('.part.editor .editor-group-container.active .editor-instance .monaco-editor .view-lines .view-line')) as HTMLElement[])
      .map((l) => ({ top: parseFloat(l.style.top) || l.offsetTop, text: (l.textContent ?? '').replace(/\u00a0/g, ' ') }))
      .sort((a, b) => a.top - b.top)
      .map((l) => l.text),
  );

async function openChatView(): Promise<void> {
  const item = p().locator('.part.activitybar .action-item').filter({ has: p().locator('a[aria-label^="Switchyard"]') }).first();
  await item.waitFor({ timeout: 30_000 });
  if (!((await item.getAttribute('class')) ?? '').split(/\s+/).includes('checked')) await item.locator('a').first().click();
  await waitFor('the chat view (#prompt)', 60_000, () => webview().locator('#prompt').isVisible().catch(() => false));
}

async function runCommand(title: string): Promise<void> {
  const input = p().locator('.quick-input-widget input.input');
  await p().keyboard.press('F1');
  await input.waitFor({ state: 'visible', timeout: 15_000 });
  await input.fill(`>${title}`);
  const row = p().locator('.quick-input-list .monaco-list-row').filter({ has: p().locator('.label-name', { hasText: exactly(title) }) }).first();
  await row.waitFor({ timeout: 15_000 });
  await row.click();
  await p().locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 10_000 }).catch(() => {});
}

async function saveArtifacts(label: string): Promise<void> {
  const dir = path.join(ARTIFACTS, `${new Date().toISOString().replace(/[:.]/g, '-')}-demo`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'start-output.txt'), output);
  if (page && !page.isClosed()) await page.screenshot({ path: path.join(dir, `${label}.png`), timeout: 10_000 }).catch(() => {});
  const csLog = path.join(scratch, 'code-server.log');
  if (fs.existsSync(csLog)) fs.copyFileSync(csLog, path.join(dir, 'code-server.log'));
  console.log(`e2e artifacts for "${label}": ${dir}`);
}

async function recorded(label: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    await saveArtifacts(label).catch((err) => log(`saving artifacts failed: ${err}`));
    throw e;
  }
}

describe('the demo (npm start)', () => {
  let url = '';

  before(
    async () => {
      scratch = fs.mkdtempSync(path.join(os.tmpdir().length <= 40 ? os.tmpdir() : '/tmp', 'sy-demo-'));
      const port = await freePort();
      const env: NodeJS.ProcessEnv = {};
      for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VSCODE_') && k !== 'NODE_TEST_CONTEXT' && k !== 'NODE_OPTIONS') env[k] = v;
      Object.assign(env, { SWITCHYARD_DEMO_DIR: scratch, SWITCHYARD_PORT: String(port), [RUN_MARKER]: RUN_ID });
      delete env.SWITCHYARD_MODEL;
      log(`node scripts/start.mjs (demo dir ${scratch}, port ${port})`);
      start = spawn(process.execPath, ['scripts/start.mjs'], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      start.stdout!.on('data', (b: Buffer) => (output += b.toString()));
      start.stderr!.on('data', (b: Buffer) => (output += b.toString()));
      let exited = '';
      start.on('exit', (code, signal) => (exited = `start.mjs exited (${signal ?? code})`));
      await recorded('demo-start', async () => {
        url = await waitFor(
          'start.mjs to print the VS Code URL',
          300_000,
          () => {
            if (exited) throw new Error(`${exited}:\n${output.slice(-3000)}`);
            return /VS Code with Switchyard: (\S+)/.exec(output)?.[1];
          },
          () => output.slice(-3000),
          500,
        );
        log(`demo URL ${url}`);
        process.env.TMPDIR = path.join(scratch, 'tmp'); // playwright's profile goes with the scratch folder
        fs.mkdirSync(process.env.TMPDIR, { recursive: true });
        browser = await chromium.launch({
          executablePath: CHROMIUM,
          headless: true,
          env: { ...env, TMPDIR: process.env.TMPDIR },
          args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-dev-shm-usage'],
          timeout: 60_000,
        });
        page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
        page.setDefaultTimeout(20_000);
        await page.goto(url, { timeout: 60_000 });
        await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
      });
    },
    { timeout: 420_000 },
  );

  after(
    async () => {
      await browser?.close().catch(() => {});
      if (start?.pid) await killGroup(start.pid, 15_000); // start.mjs stops code-server's group on SIGTERM
      const left = await sweepMarked(RUN_ID, ownGroup());
      if (left.length) log(`killed ${left.length} leftover process(es)`);
      if (scratch && process.env.SWITCHYARD_E2E_KEEP !== '1') fs.rmSync(scratch, { recursive: true, force: true });
    },
    { timeout: 60_000 },
  );

  it('demo: opens on main.py, no Walkthrough, no git question, no noise in the terminal, the model in the demo folder', { timeout: 180_000 }, async () => {
    await recorded('demo-first-look', async () => {
      await p().locator('.tabs-container .tab.active[aria-label*="main.py"]').waitFor({ timeout: 60_000 });
      const tabs = await p().locator('.tabs-container .tab').allInnerTexts();
      assert.ok(!tabs.some((t) => /walkthrough|welcome/i.test(t)), `tabs: ${JSON.stringify(tabs)}`);
      // The extension activates and starts the engine on the focused Python file.
      await waitFor('the Switchyard status bar item', 120_000, async () => (await p().locator('.part.statusbar').innerText().catch(() => '')).includes('Switchyard'));
      await sleep(3000); // let the git extension look at the folder
      const shown = await toasts();
      assert.ok(!shown.some((t) => /git|repositor/i.test(t)), `notifications: ${JSON.stringify(shown)}`);
      assert.doesNotMatch(output, /vsda|open-vsx/i);
      const model = /\[start\] model: (.+)/.exec(output)?.[1]?.trim();
      assert.equal(model, path.join(scratch, 'random-weight-model'), `start.mjs output:\n${output.slice(-2000)}`);
      assert.ok(fs.existsSync(path.join(scratch, 'random-weight-model', 'switchyard-demo.json')));
    });
  });

  it('demo, step 1: typing inside main() shows ghost text from the model, and Tab accepts it', { timeout: 240_000 }, async () => {
    await recorded('demo-step-1', async () => {
      await p().locator('.editor-instance .monaco-editor .view-lines').first().click();
      await p().keyboard.press('Control+Home');
      for (let i = 0; i < 8; i++) await p().keyboard.press('ArrowDown'); // line 9: "    " inside main()
      await p().keyboard.press('End');
      // The engine starts with the focused Python file; the status bar names its provider once the model is loaded.
      const statusBar = () => p().locator('.part.statusbar').innerText().catch(() => '');
      await waitFor('the engine to load the model (status bar "Switchyard cpu")', 180_000, async () => /Switchyard\s+cpu/.test(await statusBar()), statusBar);
      // A random-weight model may answer a prefix with nothing: type on, a character at a time.
      let typed = '';
      let ghost = '';
      const end = Date.now() + 180_000;
      for (const ch of 'result = fibonacci(10) + 1') {
        await p().keyboard.type(ch, { delay: 40 });
        typed += ch;
        const stepEnd = Math.min(end, Date.now() + 8000);
        while (Date.now() < stepEnd && !(ghost = (await ghostText()).trim())) await sleep(200);
        if (ghost) break;
      }
      assert.ok(ghost, `no ghost text after typing ${JSON.stringify(typed)}`);
      log(`typed ${JSON.stringify(typed)}, ghost text ${JSON.stringify(ghost.slice(0, 60))}`);
      await p().keyboard.press('Tab');
      await waitFor('the ghost text to be inserted', 10_000, async () => (await ghostText()) === '' && (await editorLines()).some((l) => l.startsWith(`    ${typed}`) && l.trim().length > typed.length));
    });
  });

  it('demo, step 2: the chat view says what the random-weight model cannot show, and answers a question', { timeout: 240_000 }, async () => {
    await recorded('demo-step-2', async () => {
      await openChatView();
      const note = webview().locator('#engine-state .engine-note');
      await waitFor('the demo note in the chat view', 60_000, () => note.isVisible().catch(() => false));
      const text = await note.innerText();
      assert.match(text, /random weights/);
      assert.match(text, /never contain a code block/);
      assert.match(text, /refactors show no diff/);
      assert.match(text, /real checkpoint/);
      assert.match(text, /SWITCHYARD_MODEL=/);
      const fixes = await webview().locator('#engine-state button[data-fix]').allInnerTexts();
      assert.deepEqual(fixes.map((f) => f.trim()), ['Download Model', 'Select Model Folder']);
      const prompt = webview().locator('#prompt');
      await prompt.click();
      await prompt.fill('What does fibonacci() return?');
      await prompt.press('Enter');
      const turn = webview().locator('.turn[data-role="assistant"]').first();
      await waitFor('the answer to finish streaming', 180_000, async () => (await turn.getAttribute('data-streaming', { timeout: 2000 }).catch(() => null)) === 'false');
      assert.equal(await turn.locator('.turn-error').count(), 0, `the answer ended with an error: ${await turn.innerText()}`);
      assert.ok((await turn.locator('.turn-body').innerText()).trim().length > 0, 'an empty answer');
    });
  });

  it('demo, step 3: Fix Selection with the random-weight model explains why there is no diff', { timeout: 240_000 }, async () => {
    await recorded('demo-step-3', async () => {
      const mainPy = path.join(scratch, 'workspace', 'main.py');
      const before = fs.readFileSync(mainPy, 'utf8');
      await p().locator('.tabs-container .tab[aria-label*="main.py"]').first().click();
      await p().locator('.editor-instance .monaco-editor .view-lines').first().click();
      await p().keyboard.press('Control+Home');
      for (let i = 0; i < 5; i++) await p().keyboard.press('Shift+ArrowDown'); // fibonacci()
      await runCommand('Switchyard: Fix Selection');
      const toast = p().locator('.notifications-toasts .notification-toast', { hasText: 'the demo model has random weights' }).first();
      await waitFor(
        'the demo explanation after Fix',
        180_000,
        () => toast.isVisible().catch(() => false),
        async () => `notifications: ${JSON.stringify(await toasts())}`,
      );
      const text = await toast.innerText();
      assert.match(text, /nothing to propose for Fix/);
      assert.match(text, /never closes a code block/);
      assert.match(text, /real checkpoint/);
      for (const b of ['Download Model', 'Select Model Folder']) assert.equal(await toast.locator('.monaco-button', { hasText: exactly(b) }).count(), 1, `no ${b} button`);
      assert.equal(await p().locator('.part.editor .monaco-diff-editor').count(), 0, 'a diff editor is open');
      assert.equal(fs.readFileSync(mainPy, 'utf8'), before);
    });
  });
});
