/**
 * End to end: the extension inside a real VS Code (code-server, installed by scripts/e2e/setup.mjs)
 * driven by playwright-core and Debian's chromium, with the real engine and a tiny random-weight
 * DeepSeek-Coder model (the text is nonsense, but it is the engine's own output).
 *
 * Run: node scripts/e2e/run.mjs (installs, builds, runs every test/e2e/*.e2e.ts, sweeps leftovers), or
 *      directly  node --import tsx --test test/e2e/completions.e2e.ts  after  node scripts/e2e/setup.mjs.
 * The scratch world, code-server, chromium, trace reading and failure artifacts are test/e2e/harness.ts
 * (its header lists the environment variables: SWITCHYARD_E2E_EXTENSION, _CODE_SERVER, _CHROMIUM, _KEEP).
 *
 * The extension's side of the contract: it appends JSON lines to $SWITCHYARD_TRACE_FILE
 * (engine-start / engine-ready / engine-exit with the engine's pid, completion-request,
 * completion-result with the text), restarts a dead engine by itself, honours
 * switchyard.completions.enabled, and shows a status bar item labelled "Switchyard: ready".
 * On failure: a screenshot, the trace, code-server's log and VS Code's logs go under
 * .cache/e2e/artifacts/<time>/ (the paths are printed).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { log, MAIN_PY, short, sleep, startVsCode, tinyModelSettings, waitFor, type TraceEvent, type VsCode } from './harness.ts';
import { isAlive } from './procs.ts';

const READY_LABEL = 'Switchyard: ready';
const GHOST = '.editor-instance .monaco-editor .ghost-text-decoration, .editor-instance .monaco-editor .ghost-text-decoration-preview, .editor-instance .monaco-editor .ghost-text';

// The workspace file is the harness's MAIN_PY; line numbers below are 1-based and refer to it.
const LINE_IN_MAIN = 14; // `    numbers = scale([1, 2, 3], total)`: test 1 opens a new line below it

// --- the world (test/e2e/harness.ts) -----------------------------------------------------------------

let vscode: VsCode | undefined;

function h(): VsCode {
  assert.ok(vscode, 'VS Code did not start (see the startup error)');
  return vscode;
}

function thePage(): Page {
  return h().page;
}

const traceEvents = () => h().trace.events();
const ofKind = (kind: string, events = traceEvents()) => events.filter((e) => e.event === kind);
const traceTail = (n = 12) => h().trace.tail(n);

function lastEngineReady(): TraceEvent | undefined {
  return ofKind('engine-ready').at(-1);
}

/** An engine has started and is neither ready nor gone yet (the model is loading). */
function engineStarting(events = traceEvents()): boolean {
  const starts = events.map((e, i) => (e.event === 'engine-start' ? i : -1)).filter((i) => i >= 0);
  const i = starts.at(-1);
  if (i === undefined) return false;
  const pid = events[i].pid;
  return !events.slice(i + 1).some((e) => (e.event === 'engine-ready' || e.event === 'engine-exit') && e.pid === pid);
}

const writeWorkspaceSettings = (extra: Record<string, unknown> = {}) => h().writeWorkspaceSettings(extra);
/** Texts of the status bar: each item's aria-label and visible text. */
const statusBarTexts = (_p: Page) => h().statusBarTexts();
const openFile = (name: string) => h().openFile(name);

// --- the workbench ------------------------------------------------------------------------------------

/** Tooltips of the status bar items that mention Switchyard (hovering each one). */
async function statusBarTooltips(p: Page): Promise<string[]> {
  const out: string[] = [];
  const items = p.locator('.part.statusbar .statusbar-item', { hasText: /switchyard/i });
  const n = Math.min(await items.count(), 3);
  for (let i = 0; i < n; i++) {
    await items.nth(i).hover({ timeout: 2000 }).catch(() => {});
    const hover = p.locator('.monaco-hover, .workbench-hover').first();
    if (await hover.isVisible().catch(() => false)) out.push(((await hover.innerText().catch(() => '')) || '').trim());
  }
  if (n > 0) await p.mouse.move(700, 450);
  return out;
}

async function waitStatusReady(timeoutMs: number): Promise<void> {
  const p = thePage();
  let round = 0;
  await waitFor(
    `a status bar item labelled "${READY_LABEL}"`,
    timeoutMs,
    async () => {
      if ((await statusBarTexts(p)).some((t) => t.includes(READY_LABEL))) return true;
      // The tooltip is a hover, not an attribute: look at it now and then.
      if (++round % 15 === 0) return (await statusBarTooltips(p)).some((t) => t.includes(READY_LABEL));
      return false;
    },
    async () => `status bar: ${JSON.stringify((await statusBarTexts(p)).filter((t) => /switchyard/i.test(t)))}\n${traceTail()}`,
  );
}

/**
 * Waits until the extension has seen switchyard.completions.enabled change: its status bar item says
 * "completions are off" / "(off)" while they are. If the item never says so (other wording), it
 * settles for 3 s, long enough for VS Code's settings watcher; the assertions that follow decide.
 */
async function settingsApplied(off: boolean): Promise<void> {
  const p = thePage();
  const saysOff = async () => (await statusBarTexts(p)).some((t) => /Switchyard/.test(t) && /completions (are )?off|\(off\)/.test(t));
  try {
    await waitFor(`the status bar to show completions ${off ? 'off' : 'on'}`, 10_000, async () => (await saysOff()) === off);
    await sleep(300);
  } catch {
    log(`the status bar never showed completions ${off ? 'off' : 'on'}; waiting 3 s for the setting to apply`);
    await sleep(3000);
  }
}

/** Moves the cursor to the end of a 1-based line. */
async function gotoLineEnd(line: number): Promise<void> {
  const p = thePage();
  await p.keyboard.press('Escape');
  await p.keyboard.press('Control+Home');
  for (let i = 1; i < line; i++) await p.keyboard.press('ArrowDown');
  await p.keyboard.press('End');
}

/**
 * The ghost text on screen, as the text it would insert ('' when none): the part after the cursor
 * (`.ghost-text-decoration` spans in the cursor's line) and, for a multi-line suggestion, the lines
 * VS Code renders in a view zone below (`.ghost-text` spans), top to bottom.
 */
async function ghostText(): Promise<string> {
  return thePage().evaluate((selector) => {
    const lines = new Map<Element, { top: number; inline: boolean; text: string }>();
    for (const span of Array.from(document.querySelectorAll(selector))) {
      if (!(span as HTMLElement).offsetParent) continue; // not displayed
      const line = span.closest('.view-line') ?? span.parentElement ?? span;
      const entry = lines.get(line) ?? { top: line.getBoundingClientRect().top, inline: false, text: '' };
      entry.inline ||= span.className.includes('ghost-text-decoration');
      entry.text += span.textContent ?? '';
      lines.set(line, entry);
    }
    const all = [...lines.values()].sort((a, b) => a.top - b.top);
    const inline = all.filter((l) => l.inline).map((l) => l.text).join('');
    const below = all.filter((l) => !l.inline).map((l) => '\n' + l.text).join('');
    return (inline + below).replace(/\u00a0/g, ' ');
  }, GHOST);
}

/**
 * Types `first`, then one more character of `more` at a time until ghost text shows. A random-weight
 * model may well answer a prefix with nothing (an immediate stop), and a request made while the
 * engine restarts may get nothing; the next keystroke asks again. It moves on once the trace has
 * been quiet for 2.5 s after this keystroke's events, or after 30 s without any event; while an
 * engine is starting (engine-start, no engine-ready yet) it waits for it, within `totalMs`.
 */
async function typeUntilGhost(first: string, more: string, totalMs = 120_000): Promise<{ typed: string; ghost: string }> {
  const p = thePage();
  const end = Date.now() + totalMs;
  let typed = '';
  for (const chunk of [first, ...more]) {
    await p.keyboard.type(chunk, { delay: 40 });
    typed += chunk;
    let stepEnd = Math.min(end, Date.now() + 30_000);
    let seen = traceEvents().length;
    let changedAt = 0;
    while (Date.now() < stepEnd) {
      const ghost = await ghostText();
      if (ghost.trim().length > 0) return { typed, ghost };
      const events = traceEvents();
      if (events.length > seen) {
        seen = events.length;
        changedAt = Date.now();
      }
      if (engineStarting(events)) {
        changedAt = Date.now(); // the request may be waiting for the model to load
        stepEnd = Math.min(end, Date.now() + 30_000);
      }
      if (changedAt && Date.now() - changedAt > 2500) break; // answered without a suggestion: next key
      await sleep(150);
    }
    if (Date.now() >= end) break;
  }
  throw new Error(`no ghost text after typing ${JSON.stringify(typed)} (${(totalMs / 1000).toFixed(0)} s)\n${traceTail()}`);
}

/** Completion texts the trace recorded since event index `from`. */
function resultTextsSince(from: number): string[] {
  return traceEvents()
    .slice(from)
    .filter((e) => e.event === 'completion-result' && typeof e.text === 'string')
    .map((e) => e.text as string);
}

async function saveAndRead(previous: string): Promise<string> {
  await thePage().keyboard.press('Control+S');
  return waitFor('the file to be saved', 15_000, () => {
    const now = h().readFile('main.py');
    return now !== previous ? now : '';
  });
}

// --- the tests -------------------------------------------------------------------------------------

describe('Switchyard in VS Code (code-server + chromium)', { timeout: 600_000 }, () => {
  before(
    async () => {
      vscode = await startVsCode({
        files: { 'main.py': MAIN_PY },
        workspaceSettings: {
          ...tinyModelSettings(),
        },
      });
      await h().recorded('startup', async () => {
        await openFile('main.py');
        log('main.py open');
        // Activated: the status bar item is there (the engine itself starts on the first completion).
        const item = await h().waitActivated(90_000);
        log(`extension active: "${item}"`);
      });
    },
    { timeout: 420_000 },
  );

  after(() => vscode?.stop(), { timeout: 60_000 }); // the scratch folder goes in the exit handler

  it('shows the engine\'s completion as ghost text, and Tab inserts exactly it', { timeout: 330_000 }, async () => {
    await h().recorded('ghost-text-accept', async () => {
      const p = thePage();
      const textBefore = h().readFile('main.py');
      const lines = textBefore.split('\n');
      const offset = lines.slice(0, LINE_IN_MAIN).join('\n').length; // end of that line
      const eventsBefore = traceEvents().length;
      await gotoLineEnd(LINE_IN_MAIN);
      await p.keyboard.press('Enter');
      // The first completion starts the engine and loads (builds) the model.
      const { typed, ghost } = await typeUntilGhost('res', 'ult_sum = total + 1', 240_000);
      log(`typed ${JSON.stringify(typed)}, ghost text ${short(ghost)}`);
      const ready = lastEngineReady();
      assert.ok(ready && typeof ready.pid === 'number' && isAlive(ready.pid), `no running engine after a completion\n${traceTail()}`);
      await p.keyboard.press('Tab');
      await waitFor('the ghost text to go after Tab', 10_000, async () => (await ghostText()) === '');
      const textAfter = await saveAndRead(textBefore);

      // textAfter = textBefore with "\n<indent><typed><accepted>" inserted at the end of the line.
      const head = textBefore.slice(0, offset);
      const tail = textBefore.slice(offset);
      assert.ok(textAfter.startsWith(head) && textAfter.endsWith(tail), `the text around the edit changed:\n${textAfter}`);
      const inserted = textAfter.slice(head.length, textAfter.length - tail.length);
      const m = /^\n([ \t]*)([^]*)$/.exec(inserted);
      assert.ok(m && m[2].startsWith(typed), `expected a new line holding ${JSON.stringify(typed)}, inserted ${JSON.stringify(inserted)}`);
      const accepted = m[2].slice(typed.length);
      assert.ok(accepted.trim().length > 0, `Tab inserted nothing after ${JSON.stringify(typed)}: ${JSON.stringify(inserted)}`);

      // The accepted text is one the engine produced (possibly answered for a shorter prefix, of which
      // the editor keeps the part not typed over since).
      const results = resultTextsSince(eventsBefore);
      const norm = (s: string) => s.replace(/\s+$/, '');
      const fromEngine = results.some((r) => [...Array(typed.length + 1).keys()].some((k) => norm(typed.slice(typed.length - k) + accepted) === norm(r)));
      assert.ok(fromEngine, `accepted ${JSON.stringify(accepted)} is no completion-result text in the trace: ${JSON.stringify(results)}`);
      // What was shown is what was inserted (compared with runs of white space squashed, unless the text
      // holds characters the editor draws as symbols).
      const squash = (t: string) => t.replace(/\s+/g, ' ').trim();
      if (!/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028\u2029\ufeff]/.test(accepted)) {
        assert.equal(squash(ghost), squash(accepted), 'the ghost text shown differs from the text Tab inserted');
      }
      const req = ofKind('completion-request', traceEvents().slice(eventsBefore));
      assert.ok(req.length > 0, 'no completion-request event in the trace');
      log(`accepted ${short(accepted)} (${accepted.length} chars); ${req.length} request(s), ${results.length} result(s)`);
      await waitStatusReady(30_000);
      log(`engine ${ready.pid} ready; the status bar says "${READY_LABEL}"`);
    });
  });

  it('restarts the engine after it is killed, and completes again', { timeout: 240_000 }, async () => {
    await h().recorded('engine-restart', async () => {
      const p = thePage();
      await p.keyboard.press('Escape');
      const ready = lastEngineReady();
      assert.ok(ready && typeof ready.pid === 'number', `no engine-ready event with a pid\n${traceTail()}`);
      const oldPid = ready.pid as number;
      assert.ok(isAlive(oldPid), `the engine pid ${oldPid} from the trace is not running`);
      const eventsBefore = traceEvents().length;
      log(`SIGKILL engine ${oldPid}`);
      process.kill(oldPid, 'SIGKILL');
      await waitFor(`engine ${oldPid} to die`, 10_000, () => !isAlive(oldPid));
      await waitFor(
        'an engine-exit event for the killed engine',
        20_000,
        () => ofKind('engine-exit', traceEvents().slice(eventsBefore)).length > 0,
        () => traceTail(),
      );
      // Type at the end of the file; a restart may wait for this request or happen by itself.
      await p.keyboard.press('Control+End');
      await p.keyboard.press('Enter');
      const { typed, ghost } = await typeUntilGhost('val', 'ues = scale([4, 5], 6) + numbers', 180_000);
      const restarted = ofKind('engine-ready', traceEvents().slice(eventsBefore));
      assert.ok(restarted.length > 0, `no engine-ready after the kill\n${traceTail()}`);
      const newPid = restarted.at(-1)?.pid;
      assert.ok(typeof newPid === 'number' && newPid !== oldPid, `the restarted engine has pid ${newPid}, the killed one ${oldPid}`);
      assert.ok(isAlive(newPid), `the restarted engine ${newPid} is not running`);
      assert.ok(resultTextsSince(eventsBefore).length > 0, 'no completion-result after the restart');
      await waitStatusReady(30_000);
      log(`engine ${oldPid} -> ${newPid}; typed ${JSON.stringify(typed)}, ghost text ${short(ghost)}`);
      await p.keyboard.press('Escape');
    });
  });

  it('asks the engine nothing while completions are disabled, and again once re-enabled', { timeout: 180_000 }, async () => {
    await h().recorded('completions-disabled', async () => {
      const p = thePage();
      await p.keyboard.press('Escape');
      writeWorkspaceSettings({ 'switchyard.completions.enabled': false });
      await settingsApplied(true);
      await p.keyboard.press('Control+End');
      await p.keyboard.press('Enter');
      const eventsBefore = traceEvents().length;
      const requestsBefore = ofKind('completion-request').length;
      await p.keyboard.type('total_sum = total', { delay: 60 });
      const quietEnd = Date.now() + 5000;
      while (Date.now() < quietEnd) {
        assert.equal(await ghostText(), '', 'ghost text shown while completions are disabled');
        await sleep(250);
      }
      const requests = ofKind('completion-request').length - requestsBefore;
      assert.equal(requests, 0, `${requests} completion-request event(s) while completions are disabled:\n${traceTail()}`);
      log(`disabled: typed "total_sum = total", no request and no ghost text in 5 s`);

      // Back on: suggestions come back without a reload (the check above would pass for a dead extension).
      writeWorkspaceSettings({ 'switchyard.completions.enabled': true });
      await settingsApplied(false);
      await p.keyboard.press('Enter');
      const { typed } = await typeUntilGhost('num', 'bers_total = total + 2', 120_000);
      assert.ok(ofKind('completion-request', traceEvents().slice(eventsBefore)).length > 0, 'no completion-request once re-enabled');
      log(`re-enabled: ghost text after ${JSON.stringify(typed)}`);
    });
  });
});
