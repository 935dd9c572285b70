/**
 * End to end: the extension inside a real VS Code (code-server, installed by scripts/e2e/setup.mjs)
 * driven by playwright-core and Debian's chromium, with the real engine and a tiny random-weight
 * DeepSeek-Coder model (the text is nonsense, but it is the engine's own output).
 *
 * Run: node scripts/e2e/run.mjs (installs, builds, runs this file, sweeps leftovers), or directly
 *      node --import tsx --test test/e2e/completions.e2e.ts  after  node scripts/e2e/setup.mjs.
 * Env: SWITCHYARD_E2E_EXTENSION  an extension folder to install instead of the repository (no build)
 *      SWITCHYARD_E2E_CODE_SERVER code-server binary (default .cache/e2e/code-server/node_modules/.bin/code-server)
 *      SWITCHYARD_E2E_CHROMIUM    browser binary (default /usr/bin/chromium)
 *      SWITCHYARD_E2E_KEEP=1      keep the scratch folder
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
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserServer, type Page } from 'playwright-core';
import { repoDir } from '../helpers/paths.ts';
import { tinyModel } from '../helpers/tiny-model.ts';
import { isAlive, killGroup, ownGroup, RUN_MARKER, sweepMarked } from './procs.ts';

const REPO = repoDir();
const CODE_SERVER = process.env.SWITCHYARD_E2E_CODE_SERVER ?? path.join(REPO, '.cache/e2e/code-server/node_modules/.bin/code-server');
const CHROMIUM = process.env.SWITCHYARD_E2E_CHROMIUM ?? '/usr/bin/chromium';
const EXTENSION = path.resolve(process.env.SWITCHYARD_E2E_EXTENSION ?? REPO);
const ARTIFACTS = path.join(REPO, '.cache/e2e/artifacts');
const RUN_ID = process.env[RUN_MARKER] ?? `${process.pid}-${randomBytes(4).toString('hex')}`;
const T0 = Date.now();

const READY_LABEL = 'Switchyard: ready';
const GHOST = '.editor-instance .monaco-editor .ghost-text-decoration, .editor-instance .monaco-editor .ghost-text-decoration-preview, .editor-instance .monaco-editor .ghost-text';

// The workspace file. Line numbers below are 1-based and refer to this text.
const MAIN_PY = `def add(a, b):
    return a + b


def scale(values, factor):
    result = []
    for value in values:
        result.append(value * factor)
    return result


def main():
    total = add(1, 2)
    numbers = scale([1, 2, 3], total)
    print(total, numbers)


if __name__ == "__main__":
    main()
`;
const LINE_IN_MAIN = 14; // `    numbers = scale([1, 2, 3], total)`: test 1 opens a new line below it

function log(msg: string): void {
  console.log(`[e2e ${((Date.now() - T0) / 1000).toFixed(1)}s] ${msg}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A string for the log, cut to `n` characters. */
const short = (t: string, n = 100) => JSON.stringify(t.length > n ? `${t.slice(0, n)}…` : t);

/** Polls `probe` until it returns a truthy value; every wait is bounded and says what it waited for. */
async function waitFor<T>(what: string, timeoutMs: number, probe: () => T | Promise<T>, detail?: () => string | Promise<string>): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) {
      const more = detail ? `\n${await detail()}` : '';
      throw new Error(`timed out after ${(timeoutMs / 1000).toFixed(0)} s waiting for ${what}${more}`);
    }
    await sleep(150);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

// --- the scratch world ------------------------------------------------------------------------------

interface TraceEvent {
  event: string;
  pid?: number;
  text?: string;
  ms?: number;
  [k: string]: unknown;
}

/** Keep socket paths short (108 bytes): a scratch folder directly under a short temp dir. */
function makeScratch(): string {
  const base = os.tmpdir().length <= 40 ? os.tmpdir() : '/tmp';
  return fs.mkdtempSync(path.join(base, 'sy-e2e-'));
}

const scratch = makeScratch();
const dirs = {
  ws: path.join(scratch, 'ws'),
  userData: path.join(scratch, 'ud'),
  extensions: path.join(scratch, 'ext'),
  tmp: path.join(scratch, 'tmp'),
  xdg: path.join(scratch, 'xdg'),
};
const traceFile = path.join(scratch, 'trace.jsonl');
const csLogFile = path.join(scratch, 'code-server.log');
const consoleLogFile = path.join(scratch, 'browser-console.log');
const mainPy = path.join(dirs.ws, 'main.py');
const wsSettingsFile = path.join(dirs.ws, '.vscode', 'settings.json');

function traceEvents(): TraceEvent[] {
  let text: string;
  try {
    text = fs.readFileSync(traceFile, 'utf8');
  } catch {
    return [];
  }
  const out: TraceEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as TraceEvent);
    } catch {
      // a line being written right now
    }
  }
  return out;
}

const ofKind = (kind: string, events = traceEvents()) => events.filter((e) => e.event === kind);

function traceTail(n = 12): string {
  const lines = traceEvents().slice(-n).map((e) => '  ' + JSON.stringify(e).slice(0, 300));
  return `trace (${traceFile}), last ${lines.length} events:\n${lines.join('\n') || '  (empty)'}`;
}

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

function writeWorkspaceSettings(extra: Record<string, unknown> = {}): void {
  fs.mkdirSync(path.dirname(wsSettingsFile), { recursive: true });
  const settings = {
    'switchyard.model.path': modelDir,
    'switchyard.engine.executionProviders': ['cpu'],
    'switchyard.model.quantization': 'none',
    ...extra,
  };
  fs.writeFileSync(wsSettingsFile, JSON.stringify(settings, null, 2) + '\n');
}

function prepareWorld(): void {
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  fs.mkdirSync(path.join(dirs.userData, 'User'), { recursive: true });
  fs.writeFileSync(
    path.join(dirs.userData, 'User', 'settings.json'),
    JSON.stringify(
      {
        'workbench.startupEditor': 'none',
        'security.workspace.trust.enabled': false,
        'telemetry.telemetryLevel': 'off',
        'update.mode': 'none',
        'extensions.autoCheckUpdates': false,
        'extensions.autoUpdate': false,
        'extensions.ignoreRecommendations': true,
        'workbench.tips.enabled': false,
        'workbench.enableExperiments': false,
        'editor.inlineSuggest.enabled': true,
        // Only our inline completions: no suggest widget to steal Tab.
        'editor.quickSuggestions': { other: false, comments: false, strings: false },
        'editor.suggestOnTriggerCharacters': false,
        'editor.wordBasedSuggestions': 'off',
        'editor.acceptSuggestionOnEnter': 'off',
        'editor.autoClosingBrackets': 'never',
        'editor.autoClosingQuotes': 'never',
        'files.autoSave': 'off',
        'chat.commandCenter.enabled': false,
        'window.commandCenter': false,
      },
      null,
      2,
    ),
  );
  fs.writeFileSync(mainPy, MAIN_PY);
  writeWorkspaceSettings();
  fs.writeFileSync(traceFile, '');
}

/** Installs the extension by symlinking its folder into the (empty) extensions dir. */
function installExtension(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(EXTENSION, 'package.json'), 'utf8')) as { publisher: string; name: string; version: string; main?: string };
  const main = path.join(EXTENSION, pkg.main ?? 'extension.js');
  assert.ok(fs.existsSync(main), `the extension's main ${main} does not exist (build failed?)`);
  const id = `${pkg.publisher}.${pkg.name}`;
  fs.symlinkSync(EXTENSION, path.join(dirs.extensions, `${id}-${pkg.version}`), 'dir');
  return id;
}

function build(): void {
  log('npm run build');
  const r = spawnSync('npm', ['run', '-s', 'build'], { cwd: REPO, encoding: 'utf8', timeout: 180_000 });
  if (r.status !== 0) {
    throw new Error(`npm run build failed (${r.error?.message ?? r.signal ?? `exit ${r.status}`}):\n${(r.stdout + r.stderr).slice(-4000)}`);
  }
  for (const f of ['dist/extension.cjs', 'dist/engine.cjs']) assert.ok(fs.existsSync(path.join(REPO, f)), `npm run build did not produce ${f}`);
}

// --- the processes ----------------------------------------------------------------------------------

let modelDir = '';
let codeServer: ChildProcess | undefined;
let browserServer: BrowserServer | undefined;
let browser: Browser | undefined;
let page: Page | undefined;
let port = 0;

/** Environment for code-server and chromium: scratch XDG dirs, the trace file, this run's marker. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    // Inside a VS Code terminal VSCODE_IPC_HOOK_CLI & co. would make code-server hand the folder to that
    // window; NODE_TEST_CONTEXT would make node:test in any child report to us.
    if (k.startsWith('VSCODE_') || k === 'NODE_TEST_CONTEXT' || k === 'NODE_OPTIONS') continue;
    env[k] = v;
  }
  return {
    ...env,
    XDG_CONFIG_HOME: path.join(dirs.xdg, 'config'),
    XDG_DATA_HOME: path.join(dirs.xdg, 'data'),
    XDG_CACHE_HOME: path.join(dirs.xdg, 'cache'),
    TMPDIR: dirs.tmp,
    SWITCHYARD_TRACE_FILE: traceFile,
    [RUN_MARKER]: RUN_ID,
  };
}

async function startCodeServer(): Promise<void> {
  port = await freePort();
  const out = fs.openSync(csLogFile, 'w');
  codeServer = spawn(
    CODE_SERVER,
    [
      '--bind-addr', `127.0.0.1:${port}`,
      '--auth', 'none',
      '--user-data-dir', dirs.userData,
      '--extensions-dir', dirs.extensions,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      '--log', 'info',
      dirs.ws,
    ],
    { env: childEnv(), stdio: ['ignore', out, out], detached: true }, // its own process group
  );
  fs.closeSync(out);
  let exited = '';
  codeServer.on('exit', (code, signal) => (exited = `code-server exited (${signal ?? `code ${code}`})`));
  codeServer.on('error', (e) => (exited = `code-server did not start: ${e.message}`));
  const csTail = () => `code-server log (${csLogFile}):\n${fs.readFileSync(csLogFile, 'utf8').split('\n').slice(-25).join('\n')}`;
  await waitFor(
    'code-server to answer /healthz',
    60_000,
    async () => {
      if (exited) throw new Error(`${exited}\n${csTail()}`);
      try {
        return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
      } catch {
        return false;
      }
    },
    csTail,
  );
}

async function startBrowser(): Promise<Page> {
  // playwright puts its temporary profile in os.tmpdir(): inside the scratch folder, it goes with it
  // even when chromium is killed rather than closed.
  process.env.TMPDIR = dirs.tmp;
  browserServer = await chromium.launchServer({
    executablePath: CHROMIUM,
    headless: true,
    env: childEnv(),
    // playwright adds --headless and a fresh temporary --user-data-dir (under TMPDIR).
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
    timeout: 60_000,
    // Our own signal handlers save a screenshot first, then stop the browser.
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
  browser = await chromium.connect(browserServer.wsEndpoint(), { timeout: 30_000 });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const p = await context.newPage();
  p.setDefaultTimeout(20_000);
  const consoleLog = fs.openSync(consoleLogFile, 'a');
  p.on('console', (m) => {
    try {
      fs.writeSync(consoleLog, `[${m.type()}] ${m.text()}\n`);
    } catch {
      // closed at shutdown
    }
  });
  p.on('pageerror', (e) => {
    try {
      fs.writeSync(consoleLog, `[pageerror] ${e.message}\n`);
    } catch {
      // closed at shutdown
    }
  });
  return p;
}

// Stopped from outside (run.mjs's watchdog, Ctrl+C): save what there is to see, stop everything,
// exit. The 'exit' handler is the synchronous last resort (also after a crash).
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  // `on`, not `once`: the runner that spawned us forwards the same signal a moment later, and with
  // no listener left that second one would kill us before the clean-up below.
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    process.stdout.on('error', () => {}); // the runner that read our output may be gone already
    const capped = (work: Promise<unknown>, ms: number) => Promise.race([work.catch(() => {}), sleep(ms)]);
    void (async () => {
      await capped(saveArtifacts(`interrupted-${sig}`), 8000);
      await capped(shutdown(), 5000);
      process.exit(130);
    })();
  });
}
process.on('exit', () => {
  for (const pid of [browserServer?.process().pid, codeServer?.pid]) {
    try {
      if (pid) process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  // What explains a failure is under .cache/e2e/artifacts/ by now.
  if (process.env.SWITCHYARD_E2E_KEEP === '1') console.log(`scratch kept: ${scratch}`);
  else fs.rmSync(scratch, { recursive: true, force: true });
});

async function shutdown(): Promise<void> {
  await browser?.close().catch(() => {});
  const chromePid = browserServer?.process().pid;
  await browserServer?.close().catch(() => {});
  if (chromePid) await killGroup(chromePid); // playwright starts chromium as a group leader
  if (codeServer?.pid) await killGroup(codeServer.pid);
  browser = browserServer = codeServer = undefined; // gone: nothing left for the exit handler
  const left = await sweepMarked(RUN_ID, ownGroup());
  if (left.length > 0) {
    log(`warning: killed ${left.length} process(es) left after their groups were stopped: ${left.map((p) => `${p.pid} ${p.comm}`).join(', ')}`);
  }
}

/** Saves what explains a failure under .cache/e2e/artifacts/<time>/ and prints the paths. */
async function saveArtifacts(label: string): Promise<void> {
  const stamp = new Date(T0).toISOString().replace(/[:.]/g, '-');
  const dir = path.join(ARTIFACTS, stamp);
  fs.mkdirSync(dir, { recursive: true });
  const saved: string[] = [];
  const safe = label.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
  if (page && !page.isClosed()) {
    const shot = path.join(dir, `${safe}.png`);
    try {
      await page.screenshot({ path: shot, timeout: 10_000 });
      saved.push(shot);
    } catch (e) {
      log(`no screenshot: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const copy = (src: string, name: string) => {
    if (!fs.existsSync(src)) return;
    const dst = path.join(dir, name);
    fs.cpSync(src, dst, { recursive: true, dereference: true });
    saved.push(dst);
  };
  copy(traceFile, 'trace.jsonl');
  copy(csLogFile, 'code-server.log');
  copy(consoleLogFile, 'browser-console.log');
  copy(path.join(dirs.userData, 'logs'), 'vscode-logs');
  copy(mainPy, 'main.py');
  copy(wsSettingsFile, 'settings.json');
  console.log(`e2e artifacts for "${label}":\n${saved.map((s) => '  ' + s).join('\n')}`);
}

/** Runs a test body; on failure saves artifacts before the error goes to the runner. */
async function recorded(label: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    await saveArtifacts(label).catch((err) => log(`saving artifacts failed: ${err}`));
    throw e;
  }
}

// --- the workbench ------------------------------------------------------------------------------------

function thePage(): Page {
  assert.ok(page, 'no browser page (start-up failed)');
  return page;
}

/** Texts of the status bar: each item's aria-label and visible text. */
async function statusBarTexts(p: Page): Promise<string[]> {
  return p.evaluate(() => {
    const out: string[] = [];
    for (const el of Array.from(document.querySelectorAll('.part.statusbar .statusbar-item'))) {
      for (const node of [el, ...Array.from(el.querySelectorAll('[aria-label]'))]) {
        const label = node.getAttribute('aria-label');
        if (label) out.push(label);
      }
      const text = (el as HTMLElement).innerText?.trim();
      if (text) out.push(text);
    }
    return out;
  });
}

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

async function openFile(name: string): Promise<void> {
  const p = thePage();
  await p.keyboard.press('Control+P');
  await p.locator('.quick-input-widget input.input').waitFor({ state: 'visible', timeout: 15_000 });
  await p.keyboard.type(name);
  await p.locator('.quick-input-list .monaco-list-row', { hasText: name }).first().waitFor({ timeout: 15_000 });
  await p.keyboard.press('Enter');
  await p.locator(`.tabs-container .tab.active[aria-label*="${name}"]`).waitFor({ timeout: 15_000 });
  await p.locator('.editor-instance .monaco-editor .view-lines').first().click();
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
    const now = fs.readFileSync(mainPy, 'utf8');
    return now !== previous ? now : '';
  });
}

// --- the tests -------------------------------------------------------------------------------------

describe('Switchyard in VS Code (code-server + chromium)', { timeout: 600_000 }, () => {
  before(
    async () => {
      await recorded('startup', async () => {
        assert.ok(fs.existsSync(CODE_SERVER), `no code-server at ${CODE_SERVER}: run \`node scripts/e2e/setup.mjs\` first`);
        assert.ok(fs.existsSync(CHROMIUM), `no browser at ${CHROMIUM}: run \`node scripts/e2e/setup.mjs\` first`);
        log(`scratch ${scratch}, run ${RUN_ID}`);
        if (process.env.SWITCHYARD_E2E_EXTENSION) log(`extension under test: ${EXTENSION} (no build)`);
        else build();
        modelDir = tinyModel('deepseek-coder-v1');
        prepareWorld();
        const id = installExtension();
        log(`installed ${id} from ${EXTENSION}`);
        await startCodeServer();
        log(`code-server up on port ${port}`);
        page = await startBrowser();
        await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(dirs.ws)}`, { timeout: 60_000 });
        await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
        log('workbench loaded');
        await openFile('main.py');
        log('main.py open');
        // Activated: the status bar item is there (the engine itself starts on the first completion).
        const p = thePage();
        const item = await waitFor(
          'the extension to activate (a status bar item labelled "Switchyard: ...")',
          90_000,
          async () => (await statusBarTexts(p)).find((t) => t.includes('Switchyard:')),
          async () => `status bar: ${JSON.stringify(await statusBarTexts(p))}\n${traceTail()}`,
        );
        log(`extension active: "${item}"`);
      });
    },
    { timeout: 420_000 },
  );

  after(() => shutdown(), { timeout: 60_000 }); // the scratch folder goes in the exit handler

  it('shows the engine\'s completion as ghost text, and Tab inserts exactly it', { timeout: 330_000 }, async () => {
    await recorded('ghost-text-accept', async () => {
      const p = thePage();
      const textBefore = fs.readFileSync(mainPy, 'utf8');
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
    await recorded('engine-restart', async () => {
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
    await recorded('completions-disabled', async () => {
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
