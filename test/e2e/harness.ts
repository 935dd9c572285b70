/**
 * The end-to-end harness: the extension inside a real VS Code (code-server, installed by
 * scripts/e2e/setup.mjs) driven by playwright-core and Debian's chromium. One `startVsCode()` per
 * test file (its `stop()` sweeps every process of this run that is still alive):
 *
 *   const h = await startVsCode({ files: { 'main.py': '...' }, workspaceSettings: {...}, userSettings: {...} });
 *   await h.recorded('my-test', async () => { await h.openFile('main.py'); await h.runCommand('Switchyard: New Chat'); ... });
 *   await h.stop();
 *
 * It builds the extension (npm run build) unless SWITCHYARD_E2E_EXTENSION names a folder to install,
 * makes a scratch world (workspace, user data, extensions, XDG dirs and TMPDIR for code-server and
 * chromium, the trace file), starts code-server and chromium in their own process groups and opens
 * the workspace. The extension appends JSON lines to $SWITCHYARD_TRACE_FILE (extension/trace.ts);
 * `h.trace` reads them. On failure (`h.recorded`, a failed start, SIGINT/SIGTERM/SIGHUP) a
 * screenshot, the trace, code-server's log, the browser console, VS Code's logs and the workspace
 * files go under .cache/e2e/artifacts/<time>/ (the paths are printed). The scratch folder goes when
 * the process exits.
 *
 * Env: SWITCHYARD_E2E_EXTENSION  an extension folder to install instead of the repository (no build)
 *      SWITCHYARD_E2E_CODE_SERVER code-server binary (default .cache/e2e/code-server/node_modules/.bin/code-server)
 *      SWITCHYARD_E2E_CHROMIUM    browser binary (default /usr/bin/chromium)
 *      SWITCHYARD_E2E_KEEP=1      keep the scratch folder
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserServer, type FrameLocator, type Locator, type Page } from 'playwright-core';
import { repoDir } from '../helpers/paths.ts';
import { tinyModel } from '../helpers/tiny-model.ts';
import { killGroup, ownGroup, RUN_MARKER, sweepMarked } from './procs.ts';


/** Workspace settings that run the local engine on the tiny random-weight model, fp32 on the CPU (fast and exact). */
export function tinyModelSettings(): Record<string, unknown> {
  return {
    'switchyard.model.path': tinyModel('deepseek-coder-v1'),
    'switchyard.engine.executionProviders': ['cpu'],
    'switchyard.model.quantization': 'none',
  };
}

/** The demo workspace's main.py that both end-to-end files open (their line numbers refer to it). */
export const MAIN_PY = `def add(a, b):
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

export const REPO = repoDir();
const CODE_SERVER = process.env.SWITCHYARD_E2E_CODE_SERVER ?? path.join(REPO, '.cache/e2e/code-server/node_modules/.bin/code-server');
const CHROMIUM = process.env.SWITCHYARD_E2E_CHROMIUM ?? '/usr/bin/chromium';
const EXTENSION = path.resolve(process.env.SWITCHYARD_E2E_EXTENSION ?? REPO);
const ARTIFACTS = path.join(REPO, '.cache/e2e/artifacts');
export const RUN_ID = process.env[RUN_MARKER] ?? `${process.pid}-${randomBytes(4).toString('hex')}`;
const T0 = Date.now();

// --- small helpers ------------------------------------------------------------------------------------

export function log(msg: string): void {
  console.log(`[e2e ${((Date.now() - T0) / 1000).toFixed(1)}s] ${msg}`);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A string for the log, cut to `n` characters. */
export const short = (t: string, n = 100) => JSON.stringify(t.length > n ? `${t.slice(0, n)}…` : t);

/** Polls `probe` until it returns a truthy value; every wait is bounded and says what it waited for. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => T | Promise<T>,
  detail?: () => string | Promise<string>,
  intervalMs = 150,
): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) {
      const more = detail ? `\n${await detail()}` : '';
      throw new Error(`timed out after ${(timeoutMs / 1000).toFixed(0)} s waiting for ${what}${more}`);
    }
    await sleep(intervalMs);
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A RegExp that matches exactly `s` (after trimming). */
export const exactly = (s: string) => new RegExp(`^\\s*${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`);

// --- the trace ---------------------------------------------------------------------------------------

export interface TraceEvent {
  event: string;
  pid?: number;
  text?: string;
  ms?: number;
  [k: string]: unknown;
}

export class TraceReader {
  constructor(readonly file: string) {}

  /** Every complete line of the trace so far, parsed. */
  events(): TraceEvent[] {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
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

  /** How many events there are now: a mark for `since`. */
  count(): number {
    return this.events().length;
  }

  /** Events after the mark `from` (an earlier `count()`). */
  since(from: number): TraceEvent[] {
    return this.events().slice(from);
  }

  ofKind(kind: string, events = this.events()): TraceEvent[] {
    return events.filter((e) => e.event === kind);
  }

  /** The last `n` events, one JSON line each, for error messages. */
  tail(n = 12): string {
    const lines = this.events().slice(-n).map((e) => '  ' + JSON.stringify(e).slice(0, 300));
    return `trace (${this.file}), last ${lines.length} events:\n${lines.join('\n') || '  (empty)'}`;
  }

  /** Waits for an event of `kind` after the mark `from` that `match` accepts; returns the first such. */
  async waitEvent(kind: string, from: number, timeoutMs: number, match: (e: TraceEvent) => boolean = () => true): Promise<TraceEvent> {
    return waitFor(
      `a "${kind}" event in the trace`,
      timeoutMs,
      () => this.ofKind(kind, this.since(from)).find(match),
      () => this.tail(),
    );
  }
}

// --- settings the harness writes ----------------------------------------------------------------------

/** User settings for a quiet, predictable workbench (the caller's userSettings go over these). */
export const DEFAULT_USER_SETTINGS: Record<string, unknown> = {
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
};

export interface StartOptions {
  /** Workspace files, by path relative to the workspace folder. */
  files?: Record<string, string>;
  /** .vscode/settings.json of the workspace; `writeWorkspaceSettings(extra)` writes these plus `extra`. */
  workspaceSettings?: Record<string, unknown>;
  /** The user's settings.json, over DEFAULT_USER_SETTINGS; `writeUserSettings(extra)` writes these plus `extra`. */
  userSettings?: Record<string, unknown>;
  /** Browser viewport (default 1400 x 900). */
  viewport?: { width: number; height: number };
  /** Build the extension first (default: yes, unless SWITCHYARD_E2E_EXTENSION names one). */
  build?: boolean;
}

export interface Dirs {
  scratch: string;
  ws: string;
  userData: string;
  extensions: string;
  tmp: string;
  xdg: string;
}

export interface VsCode {
  page: Page;
  port: number;
  dirs: Dirs;
  trace: TraceReader;
  /** Extension id (publisher.name) as installed. */
  extensionId: string;
  /** Absolute path of a workspace file. */
  file(rel: string): string;
  /** A workspace file's text on disk. */
  readFile(rel: string): string;
  writeWorkspaceSettings(extra?: Record<string, unknown>): void;
  writeUserSettings(extra?: Record<string, unknown>): void;
  /** Quick Open (Control+P) a workspace file; waits for its tab and clicks into the editor. */
  openFile(name: string): Promise<void>;
  /** Runs a command by its palette title (F1, type, pick the row whose label is exactly `title`). */
  runCommand(title: string): Promise<void>;
  /** Go to Line (Control+G): the cursor at the start of the 1-based `line` of the active editor. */
  gotoLine(line: number): Promise<void>;
  /** Moves keyboard focus to the active editor (View: Focus Active Editor Group), cursor kept. */
  focusEditor(): Promise<void>;
  /**
   * The text of the active editor as drawn (its rendered lines top to bottom, U+00A0 as space): the
   * whole document only when all of it fits on screen.
   */
  editorText(): Promise<string>;
  /** Reloads the page (the window: a new extension host) and waits for the workbench. */
  reload(): Promise<void>;
  /** The toast of a notification holding `text` (a Locator; it may not exist yet). */
  notification(text: string | RegExp): Locator;
  /** Waits for a notification holding `text`, then clicks its button labelled `button`. */
  clickNotificationButton(text: string | RegExp, button: string, timeoutMs?: number): Promise<void>;
  /** Each status bar item's aria-label and visible text. */
  statusBarTexts(): Promise<string[]>;
  /** Waits for the extension's status bar item ("Switchyard: ..."); returns its text. */
  waitActivated(timeoutMs?: number): Promise<string>;
  /** The document inside the (single visible) webview: `iframe.webview.ready` > `#active-frame`. */
  webview(): FrameLocator;
  /** Saves screenshot, trace and logs under .cache/e2e/artifacts/<time>/ and prints the paths. */
  saveArtifacts(label: string): Promise<void>;
  /** Runs a test body; on failure saves artifacts before the error goes to the runner. */
  recorded(label: string, body: () => Promise<void>): Promise<void>;
  /** Closes the browser, stops code-server's group and sweeps this run's leftovers. Idempotent. */
  stop(): Promise<void>;
}

// --- process bookkeeping shared by every instance of this process -------------------------------------

const live = new Set<Instance>();
let handlersInstalled = false;

function installProcessHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
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
        for (const inst of live) await capped(inst.saveArtifacts(`interrupted-${sig}`), 8000);
        for (const inst of live) await capped(inst.stop(), 5000);
        process.exit(130);
      })();
    });
  }
  process.on('exit', () => {
    for (const inst of allInstances) inst.killNow();
    // What explains a failure is under .cache/e2e/artifacts/ by now.
    for (const inst of allInstances) {
      if (process.env.SWITCHYARD_E2E_KEEP === '1') console.log(`scratch kept: ${inst.dirs.scratch}`);
      else fs.rmSync(inst.dirs.scratch, { recursive: true, force: true });
    }
  });
}
const allInstances: Instance[] = [];

/** Keep socket paths short (108 bytes): a scratch folder directly under a short temp dir. */
function makeScratch(): string {
  const base = os.tmpdir().length <= 40 ? os.tmpdir() : '/tmp';
  return fs.mkdtempSync(path.join(base, 'sy-e2e-'));
}

let built = false;
function build(): void {
  if (built) return;
  log('npm run build');
  const r = spawnSync('npm', ['run', '-s', 'build'], { cwd: REPO, encoding: 'utf8', timeout: 180_000 });
  if (r.status !== 0) {
    throw new Error(`npm run build failed (${r.error?.message ?? r.signal ?? `exit ${r.status}`}):\n${(r.stdout + r.stderr).slice(-4000)}`);
  }
  for (const f of ['dist/extension.cjs', 'dist/engine.cjs']) assert.ok(fs.existsSync(path.join(REPO, f)), `npm run build did not produce ${f}`);
  built = true;
}

class Instance {
  readonly dirs: Dirs;
  readonly trace: TraceReader;
  readonly traceFile: string;
  readonly csLogFile: string;
  readonly consoleLogFile: string;
  readonly wsSettingsFile: string;
  readonly userSettingsFile: string;
  port = 0;
  extensionId = '';
  private codeServer: ChildProcess | undefined;
  private browserServer: BrowserServer | undefined;
  private browser: Browser | undefined;
  private thePage: Page | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly opts: StartOptions) {
    const scratch = makeScratch();
    this.dirs = {
      scratch,
      ws: path.join(scratch, 'ws'),
      userData: path.join(scratch, 'ud'),
      extensions: path.join(scratch, 'ext'),
      tmp: path.join(scratch, 'tmp'),
      xdg: path.join(scratch, 'xdg'),
    };
    this.traceFile = path.join(scratch, 'trace.jsonl');
    this.trace = new TraceReader(this.traceFile);
    this.csLogFile = path.join(scratch, 'code-server.log');
    this.consoleLogFile = path.join(scratch, 'browser-console.log');
    this.wsSettingsFile = path.join(this.dirs.ws, '.vscode', 'settings.json');
    this.userSettingsFile = path.join(this.dirs.userData, 'User', 'settings.json');
  }

  get page(): Page {
    assert.ok(this.thePage, 'no browser page (start-up failed)');
    return this.thePage;
  }

  file(rel: string): string {
    return path.join(this.dirs.ws, rel);
  }

  readFile(rel: string): string {
    return fs.readFileSync(this.file(rel), 'utf8');
  }

  writeWorkspaceSettings(extra: Record<string, unknown> = {}): void {
    fs.mkdirSync(path.dirname(this.wsSettingsFile), { recursive: true });
    fs.writeFileSync(this.wsSettingsFile, JSON.stringify({ ...this.opts.workspaceSettings, ...extra }, null, 2) + '\n');
  }

  writeUserSettings(extra: Record<string, unknown> = {}): void {
    fs.mkdirSync(path.dirname(this.userSettingsFile), { recursive: true });
    fs.writeFileSync(this.userSettingsFile, JSON.stringify({ ...DEFAULT_USER_SETTINGS, ...this.opts.userSettings, ...extra }, null, 2));
  }

  private prepareWorld(): void {
    for (const [k, d] of Object.entries(this.dirs)) if (k !== 'scratch') fs.mkdirSync(d, { recursive: true });
    this.writeUserSettings();
    for (const [rel, text] of Object.entries(this.opts.files ?? {})) {
      fs.mkdirSync(path.dirname(this.file(rel)), { recursive: true });
      fs.writeFileSync(this.file(rel), text);
    }
    this.writeWorkspaceSettings();
    fs.writeFileSync(this.traceFile, '');
  }

  /** Installs the extension by symlinking its folder into the (empty) extensions dir. */
  private installExtension(): string {
    const pkg = JSON.parse(fs.readFileSync(path.join(EXTENSION, 'package.json'), 'utf8')) as { publisher: string; name: string; version: string; main?: string };
    const main = path.join(EXTENSION, pkg.main ?? 'extension.js');
    assert.ok(fs.existsSync(main), `the extension's main ${main} does not exist (build failed?)`);
    const id = `${pkg.publisher}.${pkg.name}`;
    fs.symlinkSync(EXTENSION, path.join(this.dirs.extensions, `${id}-${pkg.version}`), 'dir');
    return id;
  }

  /** Environment for code-server and chromium: scratch XDG dirs, the trace file, this run's marker. */
  private childEnv(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) {
      // Inside a VS Code terminal VSCODE_IPC_HOOK_CLI & co. would make code-server hand the folder to that
      // window; NODE_TEST_CONTEXT would make node:test in any child report to us.
      if (k.startsWith('VSCODE_') || k === 'NODE_TEST_CONTEXT' || k === 'NODE_OPTIONS') continue;
      env[k] = v;
    }
    return {
      ...env,
      XDG_CONFIG_HOME: path.join(this.dirs.xdg, 'config'),
      XDG_DATA_HOME: path.join(this.dirs.xdg, 'data'),
      XDG_CACHE_HOME: path.join(this.dirs.xdg, 'cache'),
      TMPDIR: this.dirs.tmp,
      SWITCHYARD_TRACE_FILE: this.traceFile,
      [RUN_MARKER]: RUN_ID,
    };
  }

  private async startCodeServer(): Promise<void> {
    this.port = await freePort();
    const out = fs.openSync(this.csLogFile, 'w');
    const cs = spawn(
      CODE_SERVER,
      [
        '--bind-addr', `127.0.0.1:${this.port}`,
        '--auth', 'none',
        '--user-data-dir', this.dirs.userData,
        '--extensions-dir', this.dirs.extensions,
        '--disable-telemetry',
        '--disable-update-check',
        '--disable-workspace-trust',
        '--disable-getting-started-override',
        '--log', 'info',
        this.dirs.ws,
      ],
      { env: this.childEnv(), stdio: ['ignore', out, out], detached: true }, // its own process group
    );
    this.codeServer = cs;
    fs.closeSync(out);
    let exited = '';
    cs.on('exit', (code, signal) => (exited = `code-server exited (${signal ?? `code ${code}`})`));
    cs.on('error', (e) => (exited = `code-server did not start: ${e.message}`));
    const csTail = () => `code-server log (${this.csLogFile}):\n${fs.readFileSync(this.csLogFile, 'utf8').split('\n').slice(-25).join('\n')}`;
    await waitFor(
      'code-server to answer /healthz',
      60_000,
      async () => {
        if (exited) throw new Error(`${exited}\n${csTail()}`);
        try {
          return (await fetch(`http://127.0.0.1:${this.port}/healthz`)).ok;
        } catch {
          return false;
        }
      },
      csTail,
    );
  }

  private async startBrowser(): Promise<Page> {
    // playwright puts its temporary profile in os.tmpdir(): inside the scratch folder, it goes with it
    // even when chromium is killed rather than closed.
    process.env.TMPDIR = this.dirs.tmp;
    this.browserServer = await chromium.launchServer({
      executablePath: CHROMIUM,
      headless: true,
      env: this.childEnv(),
      // playwright adds --headless and a fresh temporary --user-data-dir (under TMPDIR).
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
      timeout: 60_000,
      // Our own signal handlers save a screenshot first, then stop the browser.
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
    this.browser = await chromium.connect(this.browserServer.wsEndpoint(), { timeout: 30_000 });
    const context = await this.browser.newContext({ viewport: this.opts.viewport ?? { width: 1400, height: 900 } });
    const p = await context.newPage();
    p.setDefaultTimeout(20_000);
    const consoleLog = fs.openSync(this.consoleLogFile, 'a');
    const write = (line: string) => {
      try {
        fs.writeSync(consoleLog, line);
      } catch {
        // closed at shutdown
      }
    };
    p.on('console', (m) => write(`[${m.type()}] ${m.text()}\n`));
    p.on('pageerror', (e) => write(`[pageerror] ${e.message}\n`));
    return p;
  }

  async start(): Promise<void> {
    assert.ok(fs.existsSync(CODE_SERVER), `no code-server at ${CODE_SERVER}: run \`node scripts/e2e/setup.mjs\` first`);
    assert.ok(fs.existsSync(CHROMIUM), `no browser at ${CHROMIUM}: run \`node scripts/e2e/setup.mjs\` first`);
    log(`scratch ${this.dirs.scratch}, run ${RUN_ID}`);
    if (process.env.SWITCHYARD_E2E_EXTENSION) log(`extension under test: ${EXTENSION} (no build)`);
    else if (this.opts.build !== false) build();
    this.prepareWorld();
    this.extensionId = this.installExtension();
    log(`installed ${this.extensionId} from ${EXTENSION}`);
    await this.startCodeServer();
    log(`code-server up on port ${this.port}`);
    this.thePage = await this.startBrowser();
    await this.thePage.goto(`http://127.0.0.1:${this.port}/?folder=${encodeURIComponent(this.dirs.ws)}`, { timeout: 60_000 });
    await this.thePage.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    log('workbench loaded');
  }

  /** SIGKILLs the process groups now (the synchronous last resort in the exit handler). */
  killNow(): void {
    for (const pid of [this.browserServer?.process().pid, this.codeServer?.pid]) {
      try {
        if (pid) process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.browser?.close().catch(() => {});
      const chromePid = this.browserServer?.process().pid;
      await this.browserServer?.close().catch(() => {});
      if (chromePid) await killGroup(chromePid); // playwright starts chromium as a group leader
      if (this.codeServer?.pid) await killGroup(this.codeServer.pid);
      const left = await sweepMarked(RUN_ID, ownGroup());
      if (left.length > 0) {
        log(`warning: killed ${left.length} process(es) left after their groups were stopped: ${left.map((p) => `${p.pid} ${p.comm}`).join(', ')}`);
      }
      live.delete(this);
    })();
    return this.stopping;
  }

  async saveArtifacts(label: string): Promise<void> {
    const stamp = new Date(T0).toISOString().replace(/[:.]/g, '-');
    const dir = path.join(ARTIFACTS, stamp);
    fs.mkdirSync(dir, { recursive: true });
    const saved: string[] = [];
    const safe = label.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
    if (this.thePage && !this.thePage.isClosed()) {
      const shot = path.join(dir, `${safe}.png`);
      try {
        await this.thePage.screenshot({ path: shot, timeout: 10_000 });
        saved.push(shot);
      } catch (e) {
        log(`no screenshot: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    if (this.thePage && !this.thePage.isClosed()) {
      // The webviews' documents (the chat view's DOM says more than its screenshot).
      const frames = this.thePage.frames().filter((f) => f !== this.thePage?.mainFrame());
      let n = 0;
      for (const f of frames.slice(0, 8)) {
        try {
          const html = await Promise.race([f.content(), sleep(3000).then(() => '')]);
          if (!html) continue;
          const dst = path.join(dir, `${safe}-frame-${++n}.html`);
          fs.writeFileSync(dst, `<!-- ${f.url()} -->\n${html}`);
          saved.push(dst);
        } catch {
          // detached meanwhile
        }
      }
    }
    const copy = (src: string, name: string) => {
      if (!fs.existsSync(src)) return;
      const dst = path.join(dir, name);
      fs.cpSync(src, dst, { recursive: true, dereference: true });
      saved.push(dst);
    };
    copy(this.traceFile, 'trace.jsonl');
    copy(this.csLogFile, 'code-server.log');
    copy(this.consoleLogFile, 'browser-console.log');
    copy(path.join(this.dirs.userData, 'logs'), 'vscode-logs');
    for (const rel of Object.keys(this.opts.files ?? {})) copy(this.file(rel), path.basename(rel));
    copy(this.wsSettingsFile, 'settings.json');
    copy(this.userSettingsFile, 'user-settings.json');
    console.log(`e2e artifacts for "${label}":\n${saved.map((s) => '  ' + s).join('\n')}`);
  }

  async recorded(label: string, body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (e) {
      await this.saveArtifacts(label).catch((err) => log(`saving artifacts failed: ${err}`));
      throw e;
    }
  }

  // --- the workbench ----------------------------------------------------------------------------------

  async openFile(name: string): Promise<void> {
    const p = this.page;
    await p.keyboard.press('Control+P');
    await p.locator('.quick-input-widget input.input').waitFor({ state: 'visible', timeout: 15_000 });
    await p.keyboard.type(name);
    await p.locator('.quick-input-list .monaco-list-row', { hasText: name }).first().waitFor({ timeout: 15_000 });
    await p.keyboard.press('Enter');
    await p.locator(`.tabs-container .tab.active[aria-label*="${name}"]`).waitFor({ timeout: 15_000 });
    await p.locator('.editor-instance .monaco-editor .view-lines').first().click();
  }

  async runCommand(title: string): Promise<void> {
    const p = this.page;
    const input = p.locator('.quick-input-widget input.input');
    for (let attempt = 1; ; attempt++) {
      await p.keyboard.press('F1');
      try {
        await input.waitFor({ state: 'visible', timeout: 15_000 });
        // fill, not typing: keys typed while something else takes the focus would land there.
        await input.fill(`>${title}`, { timeout: 5_000 });
        break;
      } catch (e) {
        // The workbench can close the palette right after it opens (a view or notification taking
        // the focus on a loaded machine): open it again rather than fail.
        if (attempt === 3) throw e;
        log(`the command palette closed before "${title}" could be entered; opening it again`);
        await p.keyboard.press('Escape').catch(() => {});
      }
    }
    const row = p.locator('.quick-input-list .monaco-list-row').filter({ has: p.locator('.label-name', { hasText: exactly(title) }) }).first();
    try {
      await row.waitFor({ timeout: 15_000 });
    } catch {
      const rows = await p.locator('.quick-input-list .monaco-list-row').allInnerTexts().catch(() => []);
      await p.keyboard.press('Escape');
      throw new Error(`the command palette lists no command "${title}" (rows: ${JSON.stringify(rows.slice(0, 8))})`);
    }
    await row.click();
    await p.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 10_000 }).catch(() => {});
  }

  async gotoLine(line: number): Promise<void> {
    const p = this.page;
    await p.keyboard.press('Control+G');
    const input = p.locator('.quick-input-widget input.input');
    await input.waitFor({ state: 'visible', timeout: 15_000 });
    await input.fill(`:${line}`);
    await p.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: `${line}` }).first().waitFor({ timeout: 10_000 }).catch(() => {});
    await input.press('Enter');
    await p.locator('.quick-input-widget').waitFor({ state: 'hidden', timeout: 10_000 });
  }

  async focusEditor(): Promise<void> {
    const focused = () =>
      this.page.evaluate(() => !!document.activeElement?.closest('.part.editor .editor-group-container.active .editor-instance .monaco-editor'));
    if (await focused()) return;
    await this.runCommand('View: Focus Active Editor Group');
    await waitFor('the keyboard focus in the active editor', 10_000, focused);
  }

  async editorText(): Promise<string> {
    return this.page.evaluate(() => {
      const group = document.querySelector('.part.editor .editor-group-container.active') ?? document;
      const lines = Array.from(group.querySelectorAll('.editor-instance .monaco-editor .view-lines .view-line')) as HTMLElement[];
      return lines
        .map((l) => ({ top: parseFloat(l.style.top) || l.offsetTop, text: l.textContent ?? '' }))
        .sort((a, b) => a.top - b.top)
        .map((l) => l.text.replace(/\u00a0/g, ' '))
        .join('\n');
    });
  }

  async reload(): Promise<void> {
    const p = this.page;
    await p.reload({ timeout: 60_000 });
    await p.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    log('workbench reloaded');
  }

  notification(text: string | RegExp): Locator {
    return this.page.locator('.notifications-toasts .notification-toast', { hasText: text });
  }

  async clickNotificationButton(text: string | RegExp, button: string, timeoutMs = 20_000): Promise<void> {
    const toast = this.notification(text).first();
    try {
      await toast.waitFor({ state: 'visible', timeout: timeoutMs });
    } catch {
      const shown = await this.page.locator('.notifications-toasts .notification-toast').allInnerTexts().catch(() => []);
      throw new Error(`no notification ${text} within ${timeoutMs / 1000} s (shown: ${JSON.stringify(shown)})`);
    }
    await toast.locator('.monaco-button', { hasText: exactly(button) }).first().click({ timeout: 10_000 });
  }

  async statusBarTexts(): Promise<string[]> {
    return this.page.evaluate(() => {
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

  async waitActivated(timeoutMs = 90_000): Promise<string> {
    return waitFor(
      'the extension to activate (a status bar item labelled "Switchyard: ...")',
      timeoutMs,
      async () => (await this.statusBarTexts()).find((t) => t.includes('Switchyard:')),
      async () => `status bar: ${JSON.stringify(await this.statusBarTexts())}\n${this.trace.tail()}`,
    );
  }

  webview(): FrameLocator {
    return this.page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
  }
}

/**
 * Builds (unless told not to), makes the scratch world, starts code-server and chromium and opens the
 * workspace. A failure on the way saves artifacts ("startup"), stops what started, and throws.
 */
export async function startVsCode(opts: StartOptions = {}): Promise<VsCode> {
  installProcessHandlers();
  const inst = new Instance(opts);
  allInstances.push(inst);
  live.add(inst);
  try {
    await inst.start();
  } catch (e) {
    await inst.saveArtifacts('startup').catch((err) => log(`saving artifacts failed: ${err}`));
    await inst.stop().catch(() => {});
    throw e;
  }
  return {
    get page() {
      return inst.page;
    },
    port: inst.port,
    dirs: inst.dirs,
    trace: inst.trace,
    extensionId: inst.extensionId,
    file: (rel) => inst.file(rel),
    readFile: (rel) => inst.readFile(rel),
    writeWorkspaceSettings: (extra) => inst.writeWorkspaceSettings(extra),
    writeUserSettings: (extra) => inst.writeUserSettings(extra),
    openFile: (name) => inst.openFile(name),
    runCommand: (title) => inst.runCommand(title),
    gotoLine: (line) => inst.gotoLine(line),
    focusEditor: () => inst.focusEditor(),
    editorText: () => inst.editorText(),
    reload: () => inst.reload(),
    notification: (text) => inst.notification(text),
    clickNotificationButton: (text, button, ms) => inst.clickNotificationButton(text, button, ms),
    statusBarTexts: () => inst.statusBarTexts(),
    waitActivated: (ms) => inst.waitActivated(ms),
    webview: () => inst.webview(),
    saveArtifacts: (label) => inst.saveArtifacts(label),
    recorded: (label, body) => inst.recorded(label, body),
    stop: () => inst.stop(),
  };
}
