/**
 * How RemoteBackend's completions reach servers that treat `suffix` differently, against local
 * node:http servers written here that imitate vLLM, SGLang, llama.cpp's llama-server and
 * DeepSeek's API (those cannot run on this machine: no GPU, no network). Each imitation tokenizes
 * with a real tokenizer from ../shared/tokenizers the way the real server does (special-token texts
 * in a prompt become their tokens; BOS added where the tokenizer adds it) and answers the routes
 * and error shapes the real one has. Each test asserts the exact prompt the server received: the
 * suffix is there, in the model's layout (or sent as `suffix` where the server honours it), or, when
 * no way is found, the fallback is announced once with the setting that fixes it.
 * `engine serve` itself is in remote-fim-serve.test.ts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { CompleteParams } from '../../../engine/protocol/protocol.ts';
import { buildFimPrompt, detectFimFormat } from '../../../engine/prompt/fim.ts';
import { encodePlainText } from '../../../engine/prompt/plain-text.ts';
import { loadTokenizer, type EngineTokenizer } from '../../../engine/tokenizer/tokenizer.ts';
import { RemoteBackend } from '../../../extension/backend/remote.ts';
import { Backends } from '../../../extension/backend/select.ts';
import { DEFAULT_SETTINGS, type Settings } from '../../../extension/config.ts';
import type { RemoteFim, RemoteFimSetting } from '../../../extension/backend/remote-fim.ts';
import { sharedDir } from '../../helpers/paths.ts';

const T = { timeout: 20_000 };
type Json = Record<string, unknown>;

const REQ: CompleteParams = {
  prefix: 'from util import clamp\n\ndef f(x):\n    ',
  suffix: '\n    return y\n',
  relatedFiles: [{ path: 'util.py', text: 'def clamp(x, lo, hi):\n    return max(lo, min(hi, x))\n' }],
  repoName: 'demo',
  filePath: 'main.py',
  maxTokens: 16,
  temperature: 0,
  stop: ['\n\n'],
};
const UTIL = REQ.relatedFiles![0]!.text;

interface Seen {
  url: string;
  body: Json | undefined;
}

let qwen: EngineTokenizer;
let deepseek: EngineTokenizer;
let server: http.Server;
let port = 0;
const seen: Seen[] = [];

const json = (res: http.ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const completion = (text: string, promptTokens: number) => ({
  id: 'cmpl-1',
  object: 'text_completion',
  choices: [{ index: 0, text, finish_reason: 'stop', logprobs: null }],
  usage: { prompt_tokens: promptTokens, completion_tokens: 3, total_tokens: promptTokens + 3 },
});
/** How vLLM / SGLang / llama.cpp read a prompt: special-token texts are the tokens, BOS where the tokenizer adds it. */
const served = (tok: EngineTokenizer, text: string) => tok.encode(text, { addSpecialTokens: true });
/** A model without FIM tokens: the same texts are ordinary text to it. */
const servedNoFim = (tok: EngineTokenizer, text: string) => [...(tok.addBos ? [tok.bosId!] : []), ...encodePlainText(tok, text)];

/** The imitations; the first path segment picks one: http://127.0.0.1:P/<server>/v1. */
function handle(kind: string, route: string, method: string, body: Json | undefined, res: http.ServerResponse): void {
  const notFound = () => json(res, 404, { detail: 'Not Found' });
  switch (kind) {
    // DeepSeek's API (base https://api.deepseek.com/beta): honours suffix, no /tokenize or /props.
    case 'deepseek': {
      if (method === 'GET' && route === '/beta/models') return json(res, 200, { object: 'list', data: [{ id: 'deepseek-chat', object: 'model', owned_by: 'deepseek' }] });
      if (method === 'POST' && route === '/beta/completions') {
        const p = body!.prompt as string;
        const s = body!.suffix as string | undefined;
        const n = s === undefined ? servedNoFim(deepseek, p).length : buildFimPrompt(detectFimFormat(deepseek)!, { prefix: p, suffix: s }).ids.length;
        return json(res, 200, completion('max(lo, x)', n));
      }
      return json(res, 404, { error: { message: 'Not Found', type: 'invalid_request_error' } });
    }
    // llama.cpp's llama-server (b10587) with a Qwen2.5-Coder GGUF: /props, /tokenize, /infill;
    // /v1/completions takes `suffix` and drops it.
    case 'llamacpp': {
      if (method === 'GET' && route === '/props') return json(res, 200, { default_generation_settings: { n_ctx: 8192 }, build_info: 'b10587-0000000', model_path: '/models/coder.gguf', total_slots: 1 });
      if (method === 'GET' && route === '/v1/models') return json(res, 200, { object: 'list', data: [{ id: 'coder.gguf', object: 'model', owned_by: 'llamacpp' }] });
      if (method === 'POST' && route === '/tokenize') {
        const text = body!.content as string;
        return json(res, 200, { tokens: body!.parse_special === false ? encodePlainText(qwen, text) : qwen.encode(text) });
      }
      if (method === 'POST' && route === '/v1/completions') return json(res, 200, completion('clamp(x, 0, 1)', served(qwen, body!.prompt as string).length));
      if (method === 'POST' && route === '/infill') {
        // llama.cpp's repo-level infill layout (server README): extra files, then the FIM tokens.
        const extra = (body!.input_extra as { filename: string; text: string }[]).map((c) => `<|file_sep|>${c.filename}\n${c.text}`).join('');
        const prompt = `<|repo_name|>myproject\n${extra}<|file_sep|>filename\n<|fim_prefix|>${body!.input_prefix}<|fim_suffix|>${body!.input_suffix}<|fim_middle|>`;
        return json(res, 200, { content: 'clamp(x, 0, 1)', tokens_evaluated: served(qwen, prompt).length, tokens_predicted: 5, tokens_cached: 0, stop_type: 'eos', timings: {} });
      }
      return json(res, 404, { error: { code: 404, message: 'File Not Found', type: 'not_found_error' } });
    }
    // vLLM (0.9+) with DeepSeek-Coder: /tokenize at the root; `suffix` refused with a 400.
    // 'vllm-nofim': the same server with a model that has no FIM tokens.
    case 'vllm':
    case 'vllm-nofim': {
      const enc = kind === 'vllm' ? (t: string) => served(deepseek, t) : (t: string) => servedNoFim(deepseek, t);
      if (method === 'GET' && route === '/v1/models') return json(res, 200, { object: 'list', data: [{ id: 'coder', object: 'model', owned_by: 'vllm', root: '/models/coder', max_model_len: 16384 }] });
      if (method === 'POST' && route === '/tokenize') {
        const ids = enc(body!.prompt as string).slice(body!.add_special_tokens === false && deepseek.addBos ? 1 : 0);
        return json(res, 200, { count: ids.length, max_model_len: 16384, tokens: ids, token_strs: null });
      }
      if (method === 'POST' && route === '/v1/completions') {
        if (body!.suffix !== undefined) return json(res, 400, { object: 'error', message: 'suffix is not currently supported', type: 'BadRequestError', param: null, code: 400 });
        return json(res, 200, completion('max(lo, x)', enc(body!.prompt as string).length));
      }
      return notFound();
    }
    // A minimal OpenAI-compatible server: no /tokenize, no usage counts.
    case 'bare': {
      if (method === 'GET' && route === '/v1/models') return json(res, 200, { object: 'list', data: [{ id: 'm', object: 'model' }] });
      if (method === 'POST' && route === '/v1/completions') return json(res, 200, { id: 'c', object: 'text_completion', choices: [{ index: 0, text: 'y', finish_reason: 'stop' }] });
      return notFound();
    }
    // SGLang with Qwen2.5-Coder, a version without /tokenize: `suffix` accepted and ignored.
    case 'sglang': {
      if (method === 'GET' && route === '/v1/models') return json(res, 200, { object: 'list', data: [{ id: 'coder', object: 'model', owned_by: 'sglang', root: 'coder' }] });
      if (method === 'POST' && route === '/v1/completions') return json(res, 200, completion('clamp(x, 0, 1)', served(qwen, body!.prompt as string).length));
      return notFound();
    }
  }
  notFound();
}

before(async () => {
  const dir = path.join(sharedDir(), 'tokenizers');
  [qwen, deepseek] = await Promise.all([loadTokenizer(path.join(dir, 'qwen2.5-coder')), loadTokenizer(path.join(dir, 'deepseek-coder-v1'))]);
  server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const body = text ? (JSON.parse(text) as Json) : undefined;
    const url = req.url ?? '/';
    seen.push({ url, body });
    const m = /^\/([^/]+)(\/.*)$/.exec(url);
    handle(m?.[1] ?? '', m?.[2] ?? url, req.method ?? 'GET', body, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

/** A backend on imitation `kind` (base path `base`), with the resolutions it announced. */
function make(kind: string, fimFormat: RemoteFimSetting = 'auto', base = 'v1') {
  const told: RemoteFim[] = [];
  const backend = new RemoteBackend({ endpoint: `http://127.0.0.1:${port}/${kind}/${base}`, timeoutMs: 5000, contextLength: 8192, fimFormat, onFim: (f) => told.push(f) });
  return { backend, told };
}
/** The requests to `kind` since `from`, by route. */
const requests = (kind: string, from: number, route: string) => seen.slice(from).filter((s) => s.url === `/${kind}${route}`);
const qwenRepoPrompt =
  `<|repo_name|>demo\n<|file_sep|>util.py\n${UTIL}\n<|file_sep|>main.py\n` + `<|fim_prefix|>${REQ.prefix}<|fim_suffix|>${REQ.suffix}<|fim_middle|>`;

describe('remote fill-in-the-middle, per server', () => {
  test('DeepSeek API (honours suffix): prefix as prompt, the suffix as suffix', T, async () => {
    const from = seen.length;
    const { backend, told } = make('deepseek', 'auto', 'beta');
    const r = await backend.complete(REQ);
    assert.equal(r.text, 'max(lo, x)');
    assert.equal(told.length, 1);
    assert.equal(told[0]!.mode, 'suffix');
    assert.match(told[0]!.why, /counts it in the prompt/);
    const last = requests('deepseek', from, '/beta/completions').at(-1)!;
    assert.deepEqual(last.body, { model: 'deepseek-chat', max_tokens: 16, temperature: 0, stop: ['\n\n'], prompt: REQ.prefix, suffix: REQ.suffix, stream: false });
  });

  test("llama.cpp's server (drops suffix): the Qwen repo-level layout as the prompt, found through /tokenize", T, async () => {
    const from = seen.length;
    const { backend, told } = make('llamacpp');
    const r = await backend.complete(REQ);
    assert.equal(r.text, 'clamp(x, 0, 1)');
    assert.equal(told.length, 1);
    const fim = told[0]!;
    assert.equal(fim.mode, 'layout');
    assert.ok(fim.mode === 'layout' && fim.layout.family === 'qwen-coder');
    assert.match(fim.why, /llama\.cpp's server's \/tokenize/);
    const body = requests('llamacpp', from, '/v1/completions').at(-1)!.body!;
    assert.equal(body.prompt, qwenRepoPrompt);
    assert.equal(body.suffix, undefined);
    assert.deepEqual(body.stop, ['\n\n', '<|fim_prefix|>', '<|fim_suffix|>', '<|fim_middle|>', '<|repo_name|>', '<|file_sep|>', '<|endoftext|>', '<|fim_pad|>', '<|im_end|>']);
    assert.deepEqual(body.stop_token_ids, [151659, 151661, 151660, 151664, 151663]);
    // The server counted exactly the engine's own layout: the suffix is in the prompt.
    assert.equal(r.usage.promptTokens, buildFimPrompt(detectFimFormat(qwen)!, REQ).ids.length);
    // It was never sent `suffix` (it would have dropped it), and detection never sent the user's code.
    assert.ok(seen.slice(from).every((s) => s.body?.suffix === undefined));
    assert.ok(seen.slice(from, -1).every((s) => !JSON.stringify(s.body ?? {}).includes('clamp')));
    // Detection is asked once per backend.
    const before = seen.length;
    await backend.complete(REQ);
    assert.equal(seen.length - before, 1);
    assert.equal(told.length, 1);
  });

  test("llama.cpp's /infill when fimFormat is \"infill\": input_prefix, input_suffix, input_extra", T, async () => {
    const from = seen.length;
    const { backend, told } = make('llamacpp', 'infill');
    const r = await backend.complete(REQ);
    assert.equal(told[0]!.mode, 'infill');
    assert.equal(r.text, 'clamp(x, 0, 1)');
    assert.equal(r.finishReason, 'stop');
    assert.deepEqual(requests('llamacpp', from, '/infill').map((s) => s.body), [
      { input_prefix: REQ.prefix, input_suffix: REQ.suffix, input_extra: [{ filename: 'util.py', text: UTIL }], n_predict: 16, temperature: 0, stop: ['\n\n'], stream: false, cache_prompt: true },
    ]);
    assert.ok(r.usage.promptTokens > served(qwen, REQ.prefix + REQ.suffix).length);
    assert.equal(r.usage.completionTokens, 5);
    // An explicit setting sends no detection requests.
    assert.deepEqual(seen.slice(from).map((s) => s.url), ['/llamacpp/v1/models', '/llamacpp/infill']);
    // A server without /infill: the message names the setting, not just the endpoint.
    await assert.rejects(make('vllm', 'infill').backend.complete(REQ), /has no \/infill .*only llama\.cpp's server has it\. Set switchyard\.remote\.fimFormat/);
  });

  test('vLLM (refuses suffix with a 400): the DeepSeek-Coder layout as the prompt, its FIM ids as stop_token_ids', T, async () => {
    const from = seen.length;
    const { backend, told } = make('vllm');
    const r = await backend.complete(REQ);
    assert.equal(told[0]!.mode, 'layout');
    const body = requests('vllm', from, '/v1/completions').at(-1)!.body!;
    assert.equal(body.prompt, `<｜fim▁begin｜># util.py\n${UTIL}\n# main.py\n${REQ.prefix}<｜fim▁hole｜>${REQ.suffix}<｜fim▁end｜>`);
    assert.equal(body.suffix, undefined);
    assert.deepEqual(body.stop_token_ids, [32016, 32015, 32017]);
    assert.equal(r.usage.promptTokens, buildFimPrompt(detectFimFormat(deepseek)!, REQ).ids.length, 'BOS from the server + the engine layout');
  });

  test('SGLang (no /tokenize, ignores suffix): FIM tokens found by prompt token counts, the Qwen layout as the prompt', T, async () => {
    const from = seen.length;
    const { backend, told } = make('sglang');
    const r = await backend.complete(REQ);
    assert.equal(told.length, 1);
    assert.equal(told[0]!.mode, 'layout');
    assert.match(told[0]!.why, /counts its FIM tokens as one token each; it ignores "suffix"/);
    assert.equal(requests('sglang', from, '/v1/completions').at(-1)!.body!.prompt, qwenRepoPrompt);
    assert.equal(r.usage.promptTokens, buildFimPrompt(detectFimFormat(qwen)!, REQ).ids.length);
  });

  test('fimFormat names a layout: sent as the prompt with no detection at all', T, async () => {
    const from = seen.length;
    const { backend, told } = make('sglang', 'starcoder');
    await backend.complete({ ...REQ, relatedFiles: [], repoName: undefined, filePath: undefined });
    assert.equal(told[0]!.mode, 'layout');
    assert.deepEqual(seen.slice(from).map((s) => s.url), ['/sglang/v1/models', '/sglang/v1/completions']);
    assert.equal(seen.at(-1)!.body!.prompt, `<fim_prefix>${REQ.prefix}<fim_suffix>${REQ.suffix}<fim_middle>`);
  });

  test('a model without FIM tokens: plain continuation, said once with the setting that fixes it', T, async () => {
    const from = seen.length;
    const { backend, told } = make('vllm-nofim');
    const r = await backend.complete(REQ);
    assert.equal(r.text, 'max(lo, x)');
    await backend.complete(REQ);
    assert.equal(told.length, 1, 'said once');
    const fim = told[0]!;
    assert.equal(fim.mode, 'plain');
    assert.match(fim.why, /continue the text before the cursor only/);
    assert.match(fim.why, /\/tokenize knows none of the FIM tokens/);
    assert.match(fim.why, /refused "suffix" \(.*suffix is not currently supported/);
    assert.match(fim.why, /Set switchyard\.remote\.fimFormat/);
    assert.ok(!fim.why.includes(REQ.prefix.trim()), 'no user code in the message');
    const body = requests('vllm-nofim', from, '/v1/completions').at(-1)!.body!;
    assert.equal(body.prompt, REQ.prefix);
    assert.equal(body.suffix, undefined);
  });

  test('a server with neither /tokenize nor usage counts: suffix, said to be unverified', T, async () => {
    const from = seen.length;
    const { backend, told } = make('bare');
    await backend.complete(REQ);
    assert.equal(told[0]!.mode, 'suffix');
    assert.match(told[0]!.why, /unverified: the server reports no token counts/);
    const body = requests('bare', from, '/v1/completions').at(-1)!.body!;
    assert.deepEqual([body.prompt, body.suffix], [REQ.prefix, REQ.suffix]);
  });

  test('raw completions skip detection and send the prefix alone', T, async () => {
    const from = seen.length;
    const { backend, told } = make('llamacpp');
    await backend.complete({ prefix: 'x = ', suffix: 'ignored', raw: true });
    assert.equal(told.length, 0);
    assert.deepEqual(seen.slice(from).map((s) => [s.url, s.body?.prompt]), [['/llamacpp/v1/models', undefined], ['/llamacpp/v1/completions', 'x = ']]);
  });

  test('Backends passes fimFormat through and reports the way once per remote configuration', T, async () => {
    let settings: Settings = { ...DEFAULT_SETTINGS, remoteEndpoint: `http://127.0.0.1:${port}/vllm-nofim/v1` };
    const told: (RemoteFim | undefined)[] = [];
    // The local engine is never started while an endpoint is set: a stand-in that fails if asked.
    const engine = { ensureReady: () => Promise.reject(new Error('the local engine was started')), state: { kind: 'idle' as const } };
    const backends = new Backends({ settings: () => settings, engine, apiKey: async () => undefined, onRemoteFim: (f) => told.push(f) });
    const b = await backends.get();
    await b!.complete(REQ);
    await (await backends.get())!.complete(REQ);
    assert.deepEqual(told.map((f) => f?.mode), [undefined, 'plain']);
    settings = { ...settings, remoteFimFormat: 'deepseek-coder' };
    const from = seen.length;
    await (await backends.get())!.complete(REQ);
    assert.deepEqual(told.map((f) => f?.mode), [undefined, 'plain', undefined, 'layout']);
    assert.match(seen.slice(from).at(-1)!.body!.prompt as string, /^<｜fim▁begin｜>/);
  });
});
