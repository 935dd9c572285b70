/**
 * RemoteBackend's FIM detection against `engine serve` as a user runs it (child processes on
 * 127.0.0.1, real HTTP; a tiny random-weight model with the real Qwen2.5-Coder tokenizer): the
 * default server honours `suffix`; `--no-suffix` refuses it and reads special tokens in prompts as
 * vLLM does, so the client lays FIM out itself. The client-side layout must give the same tokens,
 * and so the same greedy completion, as the engine's own FIM layout for the same prefix/suffix.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CompleteParams } from '../../../engine/protocol/protocol.ts';
import { buildFimPrompt, detectFimFormat } from '../../../engine/prompt/fim.ts';
import { loadTokenizer } from '../../../engine/tokenizer/tokenizer.ts';
import { RemoteBackend } from '../../../extension/backend/remote.ts';
import type { RemoteFim } from '../../../extension/backend/remote-fim.ts';
import { startServe } from '../../helpers/serve.ts';
import { tinyModel } from '../../helpers/tiny-model.ts';

const T = { timeout: 60_000 };
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-remote-fim-'));
const model = tinyModel('qwen2.5-coder');
const children: ChildProcess[] = [];
let stopping = false;

/** Starts `engine serve` with `extra` flags; resolves with its /v1 base URL. */
async function serve(extra: string[]): Promise<string> {
  const served = await startServe(model, ['--context', '4096', '--cache-dir', cacheDir, '--model-id', 'tiny', ...extra]);
  children.push(served.child);
  // A server that dies under a test says why (the test itself only sees a closed connection).
  served.child.once('exit', (code, signal) => {
    if (!stopping) process.stderr.write(`engine serve ${extra.join(' ')} exited (${code ?? signal}):\n${served.stderr()}\n`);
  });
  return served.base;
}

let withSuffix = '';
let noSuffix = '';

before(async () => {
  // One after the other: the second reuses the first one's build from the cache.
  withSuffix = await serve([]);
  noSuffix = await serve(['--no-suffix']);
});

after(() => {
  stopping = true;
  for (const c of children) c.kill('SIGTERM');
  fs.rmSync(cacheDir, { recursive: true, force: true });
});

/** A backend that records the JSON bodies it posts, and the ways it was told. */
function client(endpoint: string) {
  const bodies: { url: string; body: Record<string, unknown> }[] = [];
  const told: RemoteFim[] = [];
  const recording: typeof fetch = (input, init) => {
    if (typeof init?.body === 'string') bodies.push({ url: String(input), body: JSON.parse(init.body) as Record<string, unknown> });
    return fetch(input, init);
  };
  const backend = new RemoteBackend({ endpoint, timeoutMs: 30_000, contextLength: 4096, fetch: recording, onFim: (f) => told.push(f) });
  return { backend, bodies, told };
}

const PLAIN: CompleteParams = { prefix: 'def add(a, b):\n    ', suffix: '\n\nprint(add(1, 2))\n', maxTokens: 12, temperature: 0 };
const REPO: CompleteParams = {
  ...PLAIN,
  relatedFiles: [{ path: 'util.py', text: 'def clamp(x, lo, hi):\n    return max(lo, min(hi, x))\n' }],
  repoName: 'demo',
  filePath: 'main.py',
};

describe('remote FIM against engine serve, with and without suffix support', () => {
  test('engine serve honours suffix: detected by the prompt token counts, not by its name', T, async () => {
    const { backend, told, bodies } = client(withSuffix);
    await backend.complete(PLAIN);
    assert.equal(told[0]!.mode, 'suffix');
    assert.match(told[0]!.why, /counts it in the prompt/);
    assert.deepEqual(bodies.at(-1)!.body.suffix, PLAIN.suffix);
  });

  test('engine serve --no-suffix refuses suffix with a 400 naming it', T, async () => {
    const r = await fetch(`${noSuffix}/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny', prompt: 'x', suffix: 'y', max_tokens: 1 }) });
    assert.equal(r.status, 400);
    const e = (await r.json()) as { error: { param: string; message: string } };
    assert.equal(e.error.param, 'suffix');
    assert.match(e.error.message, /--no-suffix/);
    // /tokenize reads text as /v1/completions does: a FIM token's text is that token only with --no-suffix.
    const ids = async (url: string) =>
      ((await (await fetch(`${url.replace(/\/v1$/, '')}/tokenize`, { method: 'POST', body: JSON.stringify({ prompt: '<|fim_prefix|>', add_special_tokens: false }) })).json()) as { tokens: number[] }).tokens;
    assert.deepEqual(await ids(noSuffix), [151659]);
    assert.ok((await ids(withSuffix)).length > 1);
  });

  test('against --no-suffix the client-side layout gives the engine layout token for token, and the same completion', T, async () => {
    const tok = await loadTokenizer(model);
    const fmt = detectFimFormat(tok)!;
    const { backend, told, bodies } = client(noSuffix);
    for (const req of [PLAIN, REPO]) {
      const r = await backend.complete(req);
      const sent = bodies.filter((b) => b.url.endsWith('/v1/completions')).at(-1)!.body;
      assert.equal(sent.suffix, undefined);
      // The server's own tokenization of what it was sent (its /tokenize reads prompts as /v1/completions does).
      const t = (await (await fetch(`${noSuffix.replace(/\/v1$/, '')}/tokenize`, { method: 'POST', body: JSON.stringify({ prompt: sent.prompt }) })).json()) as { tokens: number[] };
      const engineIds = buildFimPrompt(fmt, req).ids;
      assert.deepEqual(t.tokens, engineIds, JSON.stringify(sent.prompt));
      assert.equal(r.usage.promptTokens, engineIds.length);
    }
    assert.equal(told.length, 1);
    assert.ok(told[0]!.mode === 'layout' && told[0]!.layout.family === 'qwen-coder' && told[0]!.layout.tokens.fileSep === '<|file_sep|>');
    assert.match(told[0]!.why, /\/tokenize knows its FIM tokens/);

    // The same greedy completion as the engine laying out FIM itself from `suffix`.
    const viaLayout = await backend.complete(PLAIN);
    const viaSuffix = await client(withSuffix).backend.complete(PLAIN);
    assert.ok(viaSuffix.text.length > 0);
    assert.equal(viaLayout.text, viaSuffix.text);
    assert.equal(viaLayout.usage.promptTokens, viaSuffix.usage.promptTokens);
  });
});
