/**
 * The chat webview in a real browser (headless Debian chromium via playwright-core), without VS Code:
 * the built dist/webview.js and dist/webview.css, and the page from extension/chat/html.ts with its
 * CSP, served from a local http server whose origin plays `webview.cspSource`. `acquireVsCodeApi`
 * is a stub that records what the view posts (and keeps setState in sessionStorage, as VS Code keeps
 * it across the view being hidden); host messages are sent with window.postMessage.
 *
 * Shows: the view renders a ViewState (turns, chips, budget, engine banners with their fix buttons)
 * and streams deltas into the growing assistant turn; the CSP blocks injected inline and remote
 * scripts, inline handlers and eval; model markdown carrying script, handlers, javascript: links or
 * HTML in a code fence runs nothing and shows as text; the code-block buttons post the exact code;
 * Enter sends and Shift+Enter does not; Stop posts stop; Tab reaches the send button and the
 * code-block buttons, with a visible focus outline.
 *
 * Run: node --import tsx --test test/e2e/webview-security.e2e.ts (builds the webview itself into a
 *      temporary folder), or with the others via node scripts/e2e/run.mjs.
 * Env: SWITCHYARD_E2E_CHROMIUM  browser binary (default /usr/bin/chromium)
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { chatHtml, makeNonce } from '../../extension/chat/html.ts';
import type { EngineView, HostMessage, Turn, ViewMessage, ViewState } from '../../webview/protocol.ts';
import { repoDir } from '../helpers/paths.ts';

const REPO = repoDir();
const CHROMIUM = process.env.SWITCHYARD_E2E_CHROMIUM ?? '/usr/bin/chromium';

/** What the init script puts on `window` for the test to read. */
interface Probe {
  __posted: ViewMessage[];
  __violations: { directive: string; blocked: string; sample: string }[];
  /** Set by any injected payload that manages to run. */
  __pwned?: string;
}

// --- the page and its servers ---------------------------------------------------------------------

const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-webview-'));
let server: http.Server;
let evil: http.Server;
let origin = '';
let evilOrigin = '';
let evilHits = 0;
let browser: Browser;
const contexts: BrowserContext[] = [];

/** What an attacker's injection into the page's HTML would look like: every one must stay inert. */
function injections(): string {
  return [
    `<script>window.__pwned = 'inline script';</script>`,
    `<script src="${evilOrigin}/x.js"></script>`,
    `<img src="/missing.png" onerror="window.__pwned = 'inline handler'">`,
    `<div id="inline-style-probe" style="color: rgb(1, 2, 3)">styled?</div>`,
    `<iframe src="${evilOrigin}/frame"></iframe>`,
  ].join('\n');
}

function listen(srv: http.Server, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, host, () => resolve(`http://${host}:${(srv.address() as AddressInfo).port}`));
  });
}

function page(pathname: string): string {
  const html = chatHtml({ cspSource: origin, scriptUri: `${origin}/webview.js`, styleUri: `${origin}/webview.css`, nonce: makeNonce() });
  return pathname === '/injected' ? html.replace('</body>', `${injections()}\n</body>`) : html;
}

async function startServers(): Promise<void> {
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', origin);
    const file = { '/webview.js': 'webview.js', '/webview.css': 'webview.css' }[url.pathname];
    if (file) {
      res.writeHead(200, { 'content-type': file.endsWith('.js') ? 'text/javascript' : 'text/css' });
      res.end(fs.readFileSync(path.join(outDir, file)));
    } else if (url.pathname === '/' || url.pathname === '/injected') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(page(url.pathname));
    } else {
      res.writeHead(404).end();
    }
  });
  origin = await listen(server, '127.0.0.1');
  // Another origin (127.0.0.2 is loopback too on Linux): any request reaching it is a CSP failure.
  evil = http.createServer((_req, res) => {
    evilHits++;
    res.writeHead(200, { 'content-type': 'text/javascript' });
    res.end(`window.__pwned = 'remote script';`);
  });
  evilOrigin = await listen(evil, '127.0.0.2');
}

/**
 * Runs before any page script: the VS Code API stub and the CSP violation log. A string, not a
 * function: tsx compiles functions with `__name()` helpers that do not exist in the page.
 */
const INIT_SCRIPT = `(() => {
  const w = window;
  w.__posted = [];
  w.__violations = [];
  document.addEventListener('securitypolicyviolation', (e) => {
    w.__violations.push({ directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample });
  }, true);
  // A few of the theme variables VS Code sets on a webview (through the CSSOM, as VS Code does).
  document.addEventListener('DOMContentLoaded', () => {
    const theme = { '--vscode-foreground': '#cccccc', '--vscode-font-family': 'sans-serif', '--vscode-font-size': '13px',
      '--vscode-editor-font-family': 'monospace', '--vscode-focusBorder': '#0078d4', '--vscode-button-background': '#0078d4',
      '--vscode-button-foreground': '#ffffff', '--vscode-input-background': '#313131', '--vscode-textCodeBlock-background': '#2b2b2b' };
    for (const [k, v] of Object.entries(theme)) document.documentElement.style.setProperty(k, v);
    document.body.classList.add('vscode-dark');
    document.body.dataset.vscodeThemeKind = 'vscode-dark';
  });
  let acquired = false;
  w.acquireVsCodeApi = () => {
    if (acquired) throw new Error('acquireVsCodeApi called twice'); // as in VS Code
    acquired = true;
    return {
      postMessage: (m) => { w.__posted.push(JSON.parse(JSON.stringify(m))); },
      getState: () => JSON.parse(sessionStorage.getItem('vscode-state') ?? 'null'),
      setState: (s) => { sessionStorage.setItem('vscode-state', JSON.stringify(s)); return s; },
    };
  };
})();`;

async function openView(pathname = '/'): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 420, height: 700 } });
  contexts.push(context);
  const p = await context.newPage();
  p.setDefaultTimeout(10_000);
  const errors: string[] = [];
  p.on('pageerror', (e) => errors.push(String(e)));
  await p.addInitScript({ content: INIT_SCRIPT });
  await p.goto(origin + pathname);
  await p.waitForFunction(() => (window as unknown as Probe).__posted.some((m) => m.type === 'ready'));
  assert.deepEqual(errors, [], 'page errors');
  return p;
}

const host = (p: Page, m: HostMessage) => p.evaluate((msg) => window.postMessage(msg, '*'), m);
const posted = (p: Page) => p.evaluate(() => (window as unknown as Probe).__posted);
const violations = (p: Page) => p.evaluate(() => (window as unknown as Probe).__violations);
const pwned = (p: Page) => p.evaluate(() => (window as unknown as Probe).__pwned ?? null);
const clearPosted = (p: Page) => p.evaluate(() => void ((window as unknown as Probe).__posted.length = 0));
const text = (p: Page, selector: string) => p.locator(selector).innerText();
const activeId = (p: Page) =>
  p.evaluate(() => {
    const a = document.activeElement as HTMLElement | null;
    return a?.id || (a?.dataset.action ? `action:${a.dataset.action}` : a?.tagName.toLowerCase() ?? '');
  });
const scrollTop = (p: Page) => p.evaluate(() => document.getElementById('transcript')!.scrollTop);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// --- fixtures --------------------------------------------------------------------------------------

const READY: EngineView = { kind: 'ready', message: 'Ready: tiny-deepseek on cpu', fixes: [] };
const CODE = 'def add(a, b):\n\t"""Sum <a> & <b>."""\n    return a + b  # trailing spaces   \n\nprint(add(1, 2))  # ünïcode ✓';

function state(turns: Turn[], over: Partial<ViewState> = {}): ViewState {
  return {
    turns,
    chips: [
      { id: 'c1', kind: 'selection', label: 'main.py:1-3', tokens: 120 },
      { id: 'c2', kind: 'file', label: 'utils/io.py', tokens: 2400, truncated: true },
      { id: 'c3', kind: 'mention', label: 'README.md', tokens: 400 },
    ],
    budget: { used: 2920, total: 8192 },
    engine: READY,
    busy: false,
    ...over,
  };
}

const CONVERSATION: Turn[] = [
  { id: 'u1', role: 'user', content: 'Explain add()\nplease', context: ['main.py:1-3'] },
  {
    id: 'a1',
    role: 'assistant',
    content: `It **adds** two numbers; see [the docs](https://docs.python.org/3/).\n\n\`\`\`python\n${CODE}\n\`\`\`\n\nDone.`,
    reasoning: 'The user wants an explanation.',
    stats: '57 tokens, 12.3 tok/s',
    finishReason: 'stop',
  },
];

// --- the tests ---------------------------------------------------------------------------------------

describe('chat webview (browser)', () => {
  before(async () => {
    const r = spawnSync(process.execPath, ['scripts/build.mjs', '--only', 'webview', '--outdir', outDir], { cwd: REPO, encoding: 'utf8' });
    assert.equal(r.status, 0, `webview build failed:\n${r.stderr}`);
    await startServers();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
      timeout: 60_000,
    });
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    server?.close();
    evil?.close();
    fs.rmSync(outDir, { recursive: true, force: true });
  });

  it('renders a ViewState: turns, reasoning, chips, budget and engine; the toolkit runs under the CSP', async () => {
    const p = await openView();
    assert.equal(await p.locator('#empty-state').isVisible(), true, 'the empty state shows before any turn');
    assert.match(await text(p, '#empty-state'), /@/);

    await host(p, { type: 'state', state: state(CONVERSATION) });
    const user = p.locator('.turn[data-role="user"][data-id="u1"][data-streaming="false"]');
    assert.equal(await user.locator('.turn-body').innerText(), 'Explain add()\nplease');
    assert.match(await user.innerText(), /main\.py:1-3/);
    const answer = p.locator('.turn[data-role="assistant"][data-id="a1"][data-streaming="false"]');
    assert.match(await answer.locator('.turn-body').innerText(), /It adds two numbers/);
    assert.equal(await answer.locator('.turn-body strong').innerText(), 'adds');
    assert.equal(await answer.locator('.turn-body a').getAttribute('href'), 'https://docs.python.org/3/');
    assert.equal(await answer.locator('.code-block[data-lang="python"] pre code').textContent(), CODE);
    assert.ok((await answer.locator('.code-block pre code span[class^="hljs-"]').count()) > 3, 'highlighted');
    const reasoning = answer.locator('details.reasoning');
    assert.equal(await reasoning.getAttribute('open'), null, 'reasoning starts collapsed');
    assert.equal(await reasoning.locator('summary').innerText(), 'Reasoning');
    assert.match(await answer.locator('.turn-stats').innerText(), /57 tokens/);
    assert.equal(await p.locator('#empty-state').isVisible(), false);

    assert.equal(await p.locator('.chip').count(), 3);
    for (const kind of ['selection', 'file', 'mention']) assert.equal(await p.locator(`.chip[data-kind="${kind}"] button.chip-remove`).count(), 1, kind);
    assert.match((await p.locator('.chip[data-kind="file"]').getAttribute('title')) ?? '', /trimmed/);
    assert.equal(await text(p, '#budget'), '2920 / 8192 tokens');
    assert.equal(await p.locator('#engine-state[data-kind="ready"]').count(), 1);
    assert.match(await text(p, '#engine-state'), /tiny-deepseek/);
    assert.equal(await p.locator('#send').isVisible(), true);
    assert.equal(await p.locator('#stop').isVisible(), false);

    // The toolkit's components are defined and rendered (shadow DOM), with no CSP violation at all.
    assert.ok(await p.evaluate(() => ['vscode-button', 'vscode-progress-ring'].every((n) => customElements.get(n))));
    assert.ok(await p.evaluate(() => Boolean(document.getElementById('send')?.shadowRoot?.querySelector('button'))));
    assert.deepEqual(await violations(p), []);

    // The header and chip buttons post what the host expects.
    await clearPosted(p);
    await p.locator('.chip[data-kind="file"] button.chip-remove').click();
    await p.locator('#new-chat').click();
    await p.locator('#add-file').click();
    assert.deepEqual(await posted(p), [{ type: 'removeChip', id: 'c2' }, { type: 'newChat' }, { type: 'addFile' }]);

    // Budget and chips alone (a `context` message).
    await host(p, { type: 'context', chips: [], budget: { used: 9000, total: 8192 } });
    assert.equal(await p.locator('.chip').count(), 0);
    assert.equal(await text(p, '#budget'), '9000 / 8192 tokens');
    assert.equal(await p.locator('#budget.over').count(), 1);
  });

  it('streams deltas into the growing assistant turn and keeps the scroll pinned unless the user scrolls up', async () => {
    const p = await openView();
    await host(p, { type: 'state', state: state([CONVERSATION[0]!], { busy: true }) });
    await host(p, { type: 'turn', turn: { id: 'a2', role: 'assistant', content: '', streaming: true } });
    const turn = p.locator('.turn[data-role="assistant"][data-id="a2"]');
    assert.equal(await turn.getAttribute('data-streaming'), 'true');
    assert.equal(await p.locator('#stop').isVisible(), true, 'Stop shows while busy');
    assert.equal(await p.locator('#send').isVisible(), false);

    await host(p, { type: 'delta', id: 'a2', reasoning: 'Let me think' });
    await p.locator('.turn[data-id="a2"] details.reasoning summary', { hasText: 'Thinking\u2026' }).waitFor();
    assert.equal(await turn.locator('details.reasoning').getAttribute('open'), null);

    await host(p, { type: 'delta', id: 'a2', content: 'Hello' });
    await p.waitForFunction(() => document.querySelector('.turn[data-id="a2"] .turn-body')?.textContent?.trim() === 'Hello');
    await host(p, { type: 'delta', id: 'a2', content: ' **world**' });
    await p.waitForFunction(() => document.querySelector('.turn[data-id="a2"] .turn-body strong')?.textContent === 'world');
    await host(p, { type: 'delta', id: 'a2', content: '\n\n```js\nlet x' });
    await p.waitForFunction(() => document.querySelector('.turn[data-id="a2"] .code-block[data-lang="js"] code')?.textContent === 'let x');

    // A fast stream: every piece arrives, however the renders are throttled.
    const pieces = Array.from({ length: 400 }, (_, i) => ` = ${i};\nx`);
    await p.evaluate((ps) => {
      for (const content of ps) window.postMessage({ type: 'delta', id: 'a2', content }, '*');
    }, pieces);
    const expected = 'let x' + pieces.join('');
    await p.waitForFunction((exp) => document.querySelector('.turn[data-id="a2"] .code-block code')?.textContent === exp, expected);

    // Pinned to the bottom while streaming...
    const gap = () => p.evaluate(() => {
      const t = document.getElementById('transcript')!;
      return t.scrollHeight - t.scrollTop - t.clientHeight;
    });
    assert.ok((await p.evaluate(() => document.getElementById('transcript')!.scrollHeight)) > 1000, 'long enough to scroll');
    assert.ok((await gap()) <= 2, `pinned to the bottom (gap ${await gap()})`);
    // ...not after the user scrolls up...
    await p.locator('#transcript').hover();
    await p.mouse.wheel(0, -600);
    await p.waitForFunction(() => document.getElementById('transcript')!.scrollTop < document.getElementById('transcript')!.scrollHeight - 1000);
    // Wait for the wheel's scrolling to come to rest.
    let top = -1;
    for (let now = await scrollTop(p); now !== top; now = await scrollTop(p)) {
      top = now;
      await sleep(150);
    }
    await host(p, { type: 'delta', id: 'a2', content: ' = 1;\nmore\nlines\n' });
    await p.waitForFunction(() => document.querySelector('.turn[data-id="a2"] .code-block code')?.textContent?.endsWith('lines'));
    await sleep(100);
    assert.equal(await scrollTop(p), top, 'stays where the user scrolled');
    // ...and again once they are back at the bottom.
    await p.evaluate(() => {
      const t = document.getElementById('transcript')!;
      t.scrollTop = t.scrollHeight;
    });
    await sleep(50);
    await host(p, { type: 'delta', id: 'a2', content: 'x\ny\nz\n' });
    await p.waitForFunction(() => document.querySelector('.turn[data-id="a2"] .code-block code')?.textContent?.endsWith('z'));
    await sleep(50);
    assert.ok((await gap()) <= 2, 'pinned again');

    const final: Turn = { id: 'a2', role: 'assistant', content: 'Hello **world**', reasoning: 'Let me think', streaming: false, stats: '9 tokens', finishReason: 'stop' };
    await host(p, { type: 'done', turn: final, busy: false });
    assert.equal(await turn.getAttribute('data-streaming'), 'false');
    assert.equal(await turn.locator('details.reasoning summary').innerText(), 'Reasoning');
    assert.equal(await turn.locator('.turn-body').innerText(), 'Hello world');
    assert.equal(await turn.locator('.turn-stats').innerText(), '9 tokens');
    assert.equal(await p.locator('#stop').isVisible(), false);
    assert.equal(await p.locator('#send').isVisible(), true);
    assert.deepEqual(await violations(p), []);
  });

  it('shows errors and cancellation under the turn, and notices', async () => {
    const p = await openView();
    await host(p, { type: 'state', state: state([CONVERSATION[0]!]) });
    await host(p, { type: 'done', turn: { id: 'e1', role: 'assistant', content: 'Partial answer', error: 'The engine stopped (exit code 1)' }, busy: false });
    await host(p, { type: 'done', turn: { id: 'e2', role: 'assistant', content: 'Half', finishReason: 'cancelled' }, busy: false });
    assert.match(await text(p, '.turn[data-id="e1"] .turn-error'), /The engine stopped \(exit code 1\)/);
    assert.equal(await text(p, '.turn[data-id="e1"] .turn-body'), 'Partial answer', 'the partial answer is kept');
    assert.equal(await text(p, '.turn[data-id="e2"] .turn-note'), 'Cancelled');
    await host(p, { type: 'notice', level: 'error', text: 'Could not read utils/io.py' });
    assert.equal(await text(p, '#notice'), 'Could not read utils/io.py');
    assert.equal(await p.locator('#notice').getAttribute('role'), 'alert');
  });

  it('blocks injected inline and remote scripts, inline handlers and eval with the CSP', async () => {
    const p = await openView('/injected');
    await p.waitForLoadState('load');
    await sleep(200);
    assert.equal(await pwned(p), null, 'an injected script ran');
    assert.equal(evilHits, 0, 'the page reached another origin');
    const v = await violations(p);
    const blocked = (directive: string, what: (x: (typeof v)[number]) => boolean) => v.some((x) => x.directive === directive && what(x));
    assert.ok(blocked('script-src-elem', (x) => x.blocked === 'inline'), `inline script not reported: ${JSON.stringify(v)}`);
    assert.ok(blocked('script-src-elem', (x) => x.blocked.startsWith(evilOrigin)), `remote script not reported: ${JSON.stringify(v)}`);
    assert.ok(blocked('script-src-attr', (x) => x.blocked === 'inline'), `inline handler not reported: ${JSON.stringify(v)}`);
    assert.ok(blocked('frame-src', (x) => x.blocked.startsWith(evilOrigin)), `iframe not reported: ${JSON.stringify(v)}`);
    // A style attribute is inert too (style-src has no 'unsafe-inline').
    assert.notEqual(await p.evaluate(() => getComputedStyle(document.getElementById('inline-style-probe')!).color), 'rgb(1, 2, 3)');
    // The view itself still works: our nonce-carrying bundle ran.
    await host(p, { type: 'state', state: state(CONVERSATION) });
    assert.equal(await p.locator('.turn').count(), 2);

    // Scripts added at run time (as an XSS through the DOM would) are blocked the same way.
    const dynamic = await p.evaluate(async (evilUrl) => {
      const w = window as unknown as Probe;
      const s1 = document.createElement('script');
      s1.textContent = `window.__pwned = 'dynamic inline';`;
      document.body.append(s1);
      const s2 = document.createElement('script');
      s2.src = `${evilUrl}/x.js`;
      const loaded = new Promise<string>((resolve) => {
        s2.onload = () => resolve('loaded');
        s2.onerror = () => resolve('error');
      });
      document.body.append(s2);
      const div = document.createElement('div');
      div.innerHTML = `<img src="/nope.png" onerror="window.__pwned = 'innerHTML handler'">`;
      document.body.append(div);
      // eval and new Function from page code (in a task of the page's own: code that
      // page.evaluate runs directly is exempt from the CSP's eval check).
      const evalResult = await new Promise<string>((resolve) =>
        setTimeout(() => {
          try {
            window.eval('1');
            resolve('ran');
          } catch {
            resolve('blocked');
          }
        }),
      );
      const fnResult = await new Promise<string>((resolve) =>
        setTimeout(() => {
          try {
            new Function('return 1')();
            resolve('ran');
          } catch {
            resolve('blocked');
          }
        }),
      );
      const remote = await loaded;
      await new Promise((r) => setTimeout(r, 200));
      return { pwned: w.__pwned ?? null, remote, evalResult, fnResult };
    }, evilOrigin);
    assert.deepEqual(dynamic, { pwned: null, remote: 'error', evalResult: 'blocked', fnResult: 'blocked' });
    assert.equal(evilHits, 0);
  });

  it('runs nothing from model markdown: script, handlers, javascript: links and HTML in code show as text', async () => {
    const p = await openView();
    const evilMd = [
      `<script>window.__pwned = 'md script'</script>`,
      '',
      `Look: <img src=x onerror="window.__pwned = 'md img'"> and <iframe src="${evilOrigin}/f"></iframe>`,
      '',
      `[click me](javascript:window.__pwned='md link') and <a href="javascript:window.__pwned='a'">raw</a> and [ok](https://example.com/ok)`,
      '',
      `![pixel](${evilOrigin}/pixel.png)`,
      '',
      '```html',
      `<script>window.__pwned = 'fence'</script><img src=x onerror="window.__pwned = 'fence img'">`,
      '```',
    ].join('\n');
    await host(p, { type: 'state', state: state([{ id: 'm1', role: 'assistant', content: evilMd }]) });
    const body = p.locator('.turn[data-id="m1"] .turn-body');
    await body.waitFor();
    await sleep(300);
    assert.equal(await pwned(p), null);
    assert.equal(evilHits, 0, 'model output made the page fetch from another origin');
    for (const tag of ['script', 'img', 'iframe', 'svg', 'style', 'object']) assert.equal(await body.locator(tag).count(), 0, `<${tag}> in the rendered answer`);
    const shown = await body.innerText();
    assert.ok(shown.includes(`<script>window.__pwned = 'md script'</script>`), shown);
    assert.ok(shown.includes(`<img src=x onerror="window.__pwned = 'md img'">`), shown);
    assert.ok(shown.includes(`[click me](javascript:window.__pwned='md link')`), shown);
    const hrefs = await body.locator('a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    // Only http(s) links: the plain URL in the escaped <iframe> text is linkified, the image is a link.
    assert.deepEqual(hrefs, [`${evilOrigin}/f`, 'https://example.com/ok', `${evilOrigin}/pixel.png`]);
    assert.equal(await body.locator('.code-block[data-lang="html"] pre code').textContent(), `<script>window.__pwned = 'fence'</script><img src=x onerror="window.__pwned = 'fence img'">`);
    // Clicking the would-be link text and the code does nothing.
    await body.getByText('click me', { exact: false }).click();
    await body.locator('pre code').click();
    assert.equal(await pwned(p), null);
    assert.deepEqual(await violations(p), [], 'nothing was even attempted');
  });

  it('posts the exact code from Copy, Insert at Cursor and Apply to File', async () => {
    const p = await openView();
    await host(p, { type: 'state', state: state(CONVERSATION) });
    await clearPosted(p);
    const block = p.locator('.turn[data-id="a1"] .code-block[data-lang="python"]');
    await block.locator('button[data-action="copy"]').click();
    await block.locator('button[data-action="insert"]').click();
    await block.locator('button[data-action="apply"]').click();
    assert.deepEqual(await posted(p), [
      { type: 'copy', code: CODE },
      { type: 'insert', code: CODE },
      { type: 'apply', code: CODE, lang: 'python' },
    ]);
    assert.equal(await block.locator('button[data-action="copy"]').innerText(), 'Copied');
  });

  it('sends on Enter but not on Shift+Enter, keeps focus in the input and keeps the draft across a reload', async () => {
    const p = await openView();
    await host(p, { type: 'state', state: state([]) });
    await clearPosted(p);
    const prompt = p.locator('#prompt');
    await prompt.focus();
    await p.keyboard.press('Enter');
    await p.keyboard.type('hello');
    await p.keyboard.press('Shift+Enter');
    await p.keyboard.type('world');
    assert.equal(await prompt.inputValue(), 'hello\nworld');
    assert.deepEqual(await posted(p), [], 'nothing sent yet (an empty Enter sends nothing)');

    // The draft is in the webview state: a hidden-then-shown view (a reload) gets it back.
    await p.reload();
    await p.waitForFunction(() => (window as unknown as Probe).__posted.some((m) => m.type === 'ready'));
    assert.equal(await prompt.inputValue(), 'hello\nworld');

    await prompt.focus();
    await clearPosted(p);
    await p.keyboard.press('Enter');
    assert.deepEqual(await posted(p), [{ type: 'send', text: 'hello\nworld' }]);
    assert.equal(await prompt.inputValue(), '');
    assert.equal(await activeId(p), 'prompt', 'focus stays in the input');

    // The Send button does the same, and gives focus back to the input.
    await clearPosted(p);
    await p.keyboard.type('again');
    await p.locator('#send').click();
    assert.deepEqual(await posted(p), [{ type: 'send', text: 'again' }]);
    assert.equal(await activeId(p), 'prompt');

    // `@` at the start of a word asks for the file picker; inside a word (an address) it does not.
    await clearPosted(p);
    await p.keyboard.type('look at @');
    await p.keyboard.type('x and me@example.com');
    assert.deepEqual(await posted(p), [{ type: 'addFile' }]);
  });

  it('Stop posts stop while busy (the button and Escape)', async () => {
    const p = await openView();
    await host(p, { type: 'state', state: state([CONVERSATION[0]!, { id: 'a3', role: 'assistant', content: 'Work', streaming: true }], { busy: true }) });
    await clearPosted(p);
    await p.locator('#prompt').focus();
    await p.keyboard.type('next question');
    await p.keyboard.press('Enter');
    assert.deepEqual(await posted(p), [], 'no second request while busy');
    await p.locator('#stop').click();
    await p.locator('#prompt').focus();
    await p.keyboard.press('Escape');
    assert.deepEqual(await posted(p), [{ type: 'stop' }, { type: 'stop' }]);
    assert.equal(await p.locator('#prompt').inputValue(), 'next question', 'the draft is kept');
  });

  it('is keyboard accessible: Tab reaches the send button and the code-block buttons, with a visible focus ring', async () => {
    const p = await openView();
    await host(p, { type: 'state', state: state(CONVERSATION) });
    await clearPosted(p);

    await p.locator('#prompt').focus();
    const fromPrompt: string[] = [];
    for (let i = 0; i < 4 && !fromPrompt.includes('send'); i++) {
      await p.keyboard.press('Tab');
      fromPrompt.push(await activeId(p));
    }
    assert.ok(fromPrompt.includes('send'), `Tab from the input: ${fromPrompt.join(' -> ')}`);

    // From the top of the page, Tab goes through the transcript's code-block buttons.
    await p.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    const order: string[] = [];
    for (let i = 0; i < 20 && !order.includes('action:apply'); i++) {
      await p.keyboard.press('Tab');
      order.push(await activeId(p));
    }
    for (const a of ['action:copy', 'action:insert', 'action:apply']) assert.ok(order.includes(a), `${a} not reached: ${order.join(' -> ')}`);
    const outline = await p.evaluate(() => {
      const s = getComputedStyle(document.activeElement!);
      return { style: s.outlineStyle, width: s.outlineWidth };
    });
    assert.notEqual(outline.style, 'none', 'the focused button shows a focus ring');
    assert.notEqual(outline.width, '0px');
    await p.keyboard.press('Enter');
    assert.deepEqual(await posted(p), [{ type: 'apply', code: CODE, lang: 'python' }], 'keyboard activation');

    // Live region and labels for assistive technology.
    assert.equal(await p.locator('#transcript').getAttribute('aria-live'), 'polite');
    assert.ok(await p.locator('#prompt').getAttribute('aria-label'));
    for (const b of await p.locator('.code-block button').all()) assert.ok(await b.getAttribute('aria-label'));
  });

  it('shows the engine states loading, down and no-model with their fix buttons', async () => {
    const p = await openView();
    await host(p, { type: 'state', state: state([]) });
    const cases: { engine: EngineView; ring: boolean }[] = [
      { engine: { kind: 'loading', message: 'Loading DeepSeek-Coder-V2-Lite: building 40%', percent: 40, fixes: ['showLog'] }, ring: true },
      { engine: { kind: 'down', message: 'Engine stopped after 5 crashes', fixes: ['restartEngine', 'showLog'] }, ring: false },
      { engine: { kind: 'no-model', message: 'No model selected', fixes: ['selectModel', 'downloadModel', 'openSettings'] }, ring: false },
    ];
    for (const { engine, ring } of cases) {
      await host(p, { type: 'engine', engine });
      const banner = p.locator(`#engine-state[data-kind="${engine.kind}"]`);
      assert.equal(await banner.count(), 1, engine.kind);
      assert.equal(await banner.locator('.engine-message').innerText(), engine.message);
      const fixes = await banner.locator('button[data-fix]').evaluateAll((bs) => bs.map((b) => (b as HTMLElement).dataset.fix));
      assert.deepEqual(fixes, engine.fixes, engine.kind);
      assert.equal(await banner.locator('vscode-progress-ring').count(), ring ? 1 : 0, `${engine.kind} ring`);
      if (engine.percent !== undefined) assert.equal(await banner.locator('[role="progressbar"]').getAttribute('aria-valuenow'), String(engine.percent));
      await clearPosted(p);
      for (const fix of engine.fixes) await banner.locator(`button[data-fix="${fix}"]`).click();
      assert.deepEqual(await posted(p), engine.fixes.map((action) => ({ type: 'fix', action })));
    }
    // Progress updates keep a focused fix button focused.
    await host(p, { type: 'engine', engine: cases[0]!.engine });
    await p.locator('button[data-fix="showLog"]').focus();
    await host(p, { type: 'engine', engine: { ...cases[0]!.engine, message: 'Loading: building 41%', percent: 41 } });
    assert.equal(await p.evaluate(() => (document.activeElement as HTMLElement).dataset.fix), 'showLog');
    assert.deepEqual(await violations(p), []);
  });
});
