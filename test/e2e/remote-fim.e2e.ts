/**
 * End to end: inline completions from a remote endpoint in a real VS Code (code-server + chromium,
 * test/e2e/harness.ts), against local HTTP servers that imitate vLLM serving a model without FIM
 * tokens and llama.cpp's llama-server serving Qwen2.5-Coder (those servers cannot run here; the
 * imitations tokenize with the real Qwen2.5-Coder tokenizer from ../shared/tokenizers, as
 * test/extension/backend/remote-fim.test.ts's do). No local model: the engine is never started.
 *
 * 1. vLLM, no FIM tokens, `suffix` refused: completions still come (the prefix alone) and the status
 *    bar says why, naming switchyard.remote.fimFormat.
 * 2. The endpoint switched to llama-server: the warning goes, and the request carries the code after
 *    the cursor, in the Qwen layout, as its prompt.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { encodePlainText } from '../../engine/prompt/plain-text.ts';
import { loadTokenizer, type EngineTokenizer } from '../../engine/tokenizer/tokenizer.ts';
import { sharedDir } from '../helpers/paths.ts';
import { log, MAIN_PY, sleep, startVsCode, waitFor, type VsCode } from './harness.ts';

type Json = Record<string, unknown>;
const LINE = 14; // `    numbers = scale([1, 2, 3], total)` in MAIN_PY: a new line is opened below it

let vscode: VsCode | undefined;
let server: http.Server | undefined;
let base = '';
let qwen: EngineTokenizer;
const seen: { url: string; body: Json | undefined }[] = [];

function h(): VsCode {
  assert.ok(vscode, 'VS Code did not start (see the startup error)');
  return vscode;
}

function startImitations(): Promise<void> {
  const json = (res: http.ServerResponse, status: number, o: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(o));
  };
  const completion = (text: string, n: number) => ({ id: 'cmpl-e2e', object: 'text_completion', choices: [{ index: 0, text, finish_reason: 'stop' }], usage: { prompt_tokens: n, completion_tokens: 1, total_tokens: n + 1 } });
  server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const body = raw ? (JSON.parse(raw) as Json) : undefined;
    const url = req.url ?? '/';
    seen.push({ url, body });
    const [, kind, route] = /^\/([^/]+)(\/.*)$/.exec(url) ?? [];
    if (kind === 'vllm') {
      // vLLM with a model that has no FIM tokens: they tokenize as ordinary text.
      if (route === '/v1/models') return json(res, 200, { object: 'list', data: [{ id: 'chat-model', object: 'model', owned_by: 'vllm' }] });
      if (route === '/tokenize') return json(res, 200, { tokens: encodePlainText(qwen, String(body?.prompt)), count: 0, max_model_len: 8192 });
      if (route === '/v1/completions') {
        if (body?.suffix !== undefined) return json(res, 400, { object: 'error', message: 'suffix is not currently supported', type: 'BadRequestError', code: 400 });
        return json(res, 200, completion(' 0', encodePlainText(qwen, String(body?.prompt)).length));
      }
    }
    if (kind === 'llamacpp') {
      if (route === '/props') return json(res, 200, { default_generation_settings: { n_ctx: 8192 }, build_info: 'b10587-0000000' });
      if (route === '/v1/models') return json(res, 200, { object: 'list', data: [{ id: 'coder.gguf', object: 'model', owned_by: 'llamacpp' }] });
      if (route === '/tokenize') return json(res, 200, { tokens: qwen.encode(String(body?.content)) });
      if (route === '/v1/completions') return json(res, 200, completion(' 1', qwen.encode(String(body?.prompt)).length));
    }
    json(res, 404, { error: { message: 'Not Found' } });
  });
  return new Promise((resolve) =>
    server!.listen(0, '127.0.0.1', () => {
      base = `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
      resolve();
    }),
  );
}

const completionsTo = (kind: string) => seen.filter((s) => s.url === `/${kind}/v1/completions` && s.body?.max_tokens !== 1);
const fimWarning = async () => (await h().statusBarTexts()).find((t) => t.includes('switchyard.remote.fimFormat'));

/** Types `text`, then waits for a completion request (not a probe) to `kind` whose prompt passes `match`. */
async function typeThenRequest(kind: string, text: string, match: (prompt: string) => boolean): Promise<Json> {
  await h().page.keyboard.type(text, { delay: 40 });
  return waitFor(
    `a completion request to the ${kind} imitation after typing ${JSON.stringify(text)}`,
    30_000,
    () => completionsTo(kind).find((s) => match(String(s.body?.prompt)))?.body,
    () => `requests: ${JSON.stringify(seen.map((s) => [s.url, typeof s.body?.prompt === 'string' ? s.body.prompt.slice(-60) : undefined]))}\n${h().trace.tail()}`,
  );
}

describe('remote fill-in-the-middle in VS Code', { timeout: 400_000 }, () => {
  before(
    async () => {
      qwen = await loadTokenizer(path.join(sharedDir(), 'tokenizers', 'qwen2.5-coder'));
      await startImitations();
      vscode = await startVsCode({
        files: { 'main.py': MAIN_PY },
        workspaceSettings: { 'switchyard.remote.endpoint': `${base}/vllm/v1`, 'switchyard.remote.timeoutSeconds': 30 },
      });
      await h().recorded('remote-fim-startup', async () => {
        await h().openFile('main.py');
        log(`extension active: "${await h().waitActivated(90_000)}"`);
      });
    },
    { timeout: 300_000 },
  );

  after(
    async () => {
      await vscode?.stop();
      server?.closeAllConnections();
      await new Promise((r) => server?.close(r));
    },
    { timeout: 60_000 },
  );

  it('without a FIM way: the prefix alone, and the status bar says why with the setting', { timeout: 120_000 }, async () => {
    await h().recorded('remote-fim-plain', async () => {
      await h().gotoLine(LINE);
      await h().page.keyboard.press('End');
      await h().page.keyboard.press('Enter');
      const body = await typeThenRequest('vllm', 'count = ', (p) => p.endsWith('numbers = scale([1, 2, 3], total)\n    count = '));
      assert.equal(body.suffix, undefined);
      assert.ok(String(body.prompt).startsWith('def add(a, b):'), JSON.stringify(body.prompt));
      const warning = await waitFor('the status bar to name switchyard.remote.fimFormat', 20_000, fimWarning, async () => JSON.stringify(await h().statusBarTexts()));
      assert.match(warning, /continue the text before the cursor only/);
      assert.match(warning, /refused "suffix"/);
      log(`status bar: ${warning}`);
    });
  });

  it("llama-server: the Qwen layout with the code after the cursor, and no warning", { timeout: 120_000 }, async () => {
    await h().recorded('remote-fim-layout', async () => {
      h().writeWorkspaceSettings({ 'switchyard.remote.endpoint': `${base}/llamacpp/v1`, 'switchyard.remote.timeoutSeconds': 30 });
      await sleep(1500); // the settings file is read by VS Code's watcher
      await h().focusEditor();
      const body = await typeThenRequest('llamacpp', '1 + ', (p) => p.includes('count = 1 + <|fim_suffix|>'));
      const prompt = String(body.prompt);
      assert.equal(body.suffix, undefined);
      // The Qwen repo-level form: this file under its path, then prefix, suffix (the rest of main.py) and middle.
      assert.ok(prompt.includes('<|file_sep|>main.py\n<|fim_prefix|>def add(a, b):\n'), JSON.stringify(prompt.slice(0, 120)));
      assert.ok(prompt.includes('    count = 1 + <|fim_suffix|>\n    print(total, numbers)\n'), JSON.stringify(prompt));
      assert.ok(prompt.endsWith('    main()\n<|fim_middle|>'), JSON.stringify(prompt.slice(-80)));
      await waitFor('the warning to leave the status bar', 20_000, async () => !(await fimWarning()), async () => JSON.stringify(await h().statusBarTexts()));
    });
  });
});
