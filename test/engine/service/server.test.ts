/**
 * The engine service through its real protocol: a child process spawned by EngineClient, JSON-RPC
 * over stdio, a real session on a small DeepSeek-V2 checkpoint with the real DeepSeek-Coder
 * tokenizer (random weights: the text is nonsense, so tests compare paths with each other).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ResponseError } from 'vscode-jsonrpc/node';
import { EngineClient } from '../../../engine/protocol/client.ts';
import { ErrorCodes, type ChatDeltaParams, type ProgressParams } from '../../../engine/protocol/protocol.ts';
import { loadTokenizer } from '../../../engine/tokenizer/tokenizer.ts';
import { buildFimPrompt, detectFimFormat } from '../../../engine/prompt/fim.ts';
import { repoDir } from '../../helpers/paths.ts';
import { tinyModel } from '../../helpers/tiny-model.ts';
import { rpcError } from '../../helpers/rpc.ts';

const MAIN = path.join(repoDir(), 'engine', 'service', 'main.ts');
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-service-'));
const model = tinyModel('deepseek-coder-v1');
const clients: EngineClient[] = [];

function start(): EngineClient {
  const c = EngineClient.spawn({ args: ['--import', 'tsx', MAIN], cwd: repoDir() });
  clients.push(c);
  return c;
}

after(async () => {
  for (const c of clients) c.kill();
  fs.rmSync(cacheDir, { recursive: true, force: true });
});


const CODE = 'def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n\n';

describe('engine service over JSON-RPC', () => {
  let engine: EngineClient;
  before(async () => {
    engine = start();
    const init = await engine.initialize('test');
    assert.equal(init.protocolVersion, 1);
  });

  test('requests before loadModel fail with NoModel; the engine keeps serving', async () => {
    const e = await rpcError(engine.complete({ prefix: 'a', suffix: '' }));
    assert.equal(e.code, ErrorCodes.NoModel);
    assert.match(e.message, /loadModel/);
    assert.equal((await engine.status()).model, null);
  });

  test('a bad checkpoint fails to load with a message naming it', async () => {
    const missing = path.join(cacheDir, 'nope');
    const e = await rpcError(engine.loadModel({ model: missing, cacheDir }));
    assert.equal(e.code, ErrorCodes.LoadFailed);
    assert.ok(e.message.includes(missing));
  });

  test('a missing model folder is an ordinary error: the engine logs no stack trace for it', async () => {
    const logs: string[] = [];
    const c = EngineClient.spawn({ args: ['--import', 'tsx', MAIN], cwd: repoDir(), onLog: (level, m) => void logs.push(`${level}: ${m}`) });
    clients.push(c);
    await c.initialize('test');
    const missing = path.join(cacheDir, 'no-such-model');
    const e = await rpcError(c.loadModel({ model: missing, cacheDir }));
    assert.equal(e.code, ErrorCodes.LoadFailed);
    assert.ok(e.message.includes(missing));
    await c.status(); // log notifications sent before a reply arrive before it
    assert.deepEqual(logs.filter((l) => /\n\s+at /.test(l)), [], 'a stack trace was logged');
    await c.shutdown(2000);
  });

  test('a model over the memory budget is refused with the numbers', async () => {
    const e = await rpcError(engine.loadModel({ model, cacheDir, memoryBudgetBytes: 1024 * 1024 }));
    assert.equal(e.code, ErrorCodes.LoadFailed);
    assert.match(e.message, /too large for the memory budget: needs .* but the budget is 1\.0 MiB \(weights .* at none, KV cache .* for \d+ tokens, activations .*, prefix cache .*\); /);
  });

  test('loadModel reports progress through to done', async () => {
    const events: ProgressParams[] = [];
    const info = await engine.loadModel({ model, cacheDir, providers: ['cpu'], contextLength: 2048 }, (p) => events.push(p));
    assert.equal(info.modelType, 'deepseek_v2');
    assert.equal(info.provider, 'cpu');
    assert.equal(info.fimFormat, 'deepseek-coder');
    assert.equal(info.contextLength, 2048);
    const phases = events.map((e) => e.phase);
    assert.equal(phases[0], 'reading');
    assert.ok(phases.includes('creating session'));
    assert.equal(phases.at(-1), 'done');
  });

  test('countTokens counts with the model tokenizer', async () => {
    const tok = await loadTokenizer(model);
    assert.equal(await engine.countTokens(CODE), tok.encode(CODE).length);
  });

  test('a FIM completion uses the family layout, and repeating it reuses the prefix cache', async () => {
    const tok = await loadTokenizer(model);
    const fim = buildFimPrompt(detectFimFormat(tok)!, { prefix: CODE, suffix: '\nprint(x)\n' });
    const a = await engine.complete({ prefix: CODE, suffix: '\nprint(x)\n', maxTokens: 12 });
    assert.equal(a.usage.promptTokens, fim.ids.length);
    assert.ok(a.usage.completionTokens > 0);
    const before = (await engine.status()).cache;
    const b = await engine.complete({ prefix: CODE, suffix: '\nprint(x)\n', maxTokens: 12 });
    assert.equal(b.text, a.text, 'greedy is deterministic');
    assert.equal(b.usage.cachedTokens, fim.ids.length - 1);
    const afterStats = (await engine.status()).cache;
    assert.equal(afterStats.prefilledTokens - before.prefilledTokens, 1);
  });

  test('typing at the end of a long window re-prefills only the changed tail; outputs equal a cache-less engine', async () => {
    const window = CODE.repeat(12); // ~600 tokens
    const keystrokes = ['x', 'x =', 'x = fib', 'x = fibonacci(1'];
    const warm: string[] = [];
    const prefilled: number[] = [];
    for (const k of keystrokes) {
      const s0 = (await engine.status()).cache.prefilledTokens;
      const r = await engine.complete({ prefix: window + k, suffix: '', maxTokens: 8 });
      prefilled.push((await engine.status()).cache.prefilledTokens - s0);
      warm.push(r.text);
    }
    for (const n of prefilled.slice(1)) assert.ok(n < 20, `re-prefilled ${n} tokens after a keystroke`);

    const cold = start();
    await cold.loadModel({ model, cacheDir, providers: ['cpu'], contextLength: 2048, prefixCacheBytes: 0 });
    for (const [i, k] of keystrokes.entries()) {
      const r = await cold.complete({ prefix: window + k, suffix: '', maxTokens: 8 });
      assert.equal(r.text, warm[i], `keystroke ${i}`);
      assert.equal(r.usage.cachedTokens, 0);
    }
    await cold.shutdown();
  });

  test('chat streams deltas that add up to the result', async () => {
    const deltas: ChatDeltaParams[] = [];
    const r = await engine.chat({ messages: [{ role: 'user', content: 'Write a sort function.' }], maxTokens: 24 }, (d) => deltas.push(d));
    assert.ok(deltas.length > 1);
    assert.equal(deltas.map((d) => d.content ?? '').join(''), r.text);
    assert.ok(r.usage.completionTokens > 0 && r.usage.completionTokens <= 24);
  });

  test('stop strings that straddle tokens end the output before them', async () => {
    const deltas: string[] = [];
    const params = { messages: [{ role: 'user' as const, content: 'Explain recursion.' }], maxTokens: 32 };
    const full = await engine.chat(params, (d) => d.content && deltas.push(d.content));
    const i = deltas.findIndex((d, j) => j > 2 && d.length >= 2 && (deltas[j + 1]?.length ?? 0) >= 2);
    assert.ok(i > 0, 'need two multi-character deltas in a row');
    const stop = deltas[i]!.slice(-2) + deltas[i + 1]!.slice(0, 2);
    const cut = full.text.indexOf(stop);
    const r = await engine.chat({ ...params, stop: [stop] });
    assert.equal(r.text, full.text.slice(0, cut));
    assert.equal(r.finishReason, 'stop');
  });

  test('sampling options: a seed repeats, options reach the sampler, bad values are named', async () => {
    const p = { messages: [{ role: 'user' as const, content: 'hi' }], maxTokens: 16, temperature: 1.5, topK: 50, topP: 0.95, minP: 0.01, repetitionPenalty: 1.1, presencePenalty: 0.5, frequencyPenalty: 0.5 };
    const a = await engine.chat({ ...p, seed: 1 });
    const b = await engine.chat({ ...p, seed: 1 });
    assert.equal(a.text, b.text);
    const others = await Promise.all([2, 3, 4].map((seed) => engine.chat({ ...p, seed })));
    assert.ok(others.some((o) => o.text !== a.text), 'different seeds give different samples');
    const e = await rpcError(engine.chat({ ...p, topP: 2 }));
    assert.equal(e.code, -32602);
    assert.match(e.message, /topP/);
  });

  test('prompt lookup gives the same output as plain greedy', async () => {
    const content = `Rewrite this with type hints:\n${CODE}`;
    const plain = await engine.chat({ messages: [{ role: 'user', content }], maxTokens: 40 });
    const fast = await engine.chat({ messages: [{ role: 'user', content }], maxTokens: 40, promptLookup: true });
    assert.equal(fast.text, plain.text);
  });

  test('cancelling mid-generation stops within a step and frees the engine', async () => {
    const ac = new AbortController();
    let seen = 0;
    let atAbort = -1;
    const r = await engine.chat({ messages: [{ role: 'user', content: 'Tell a long story.' }], maxTokens: 1500 }, () => {
      seen++;
      if (seen === 5) {
        atAbort = seen;
        ac.abort();
      }
    }, ac.signal);
    assert.equal(r.finishReason, 'cancelled');
    assert.ok(r.usage.completionTokens < atAbort + 4, `${r.usage.completionTokens} tokens after cancelling at ${atAbort}`);
    const next = await engine.complete({ prefix: 'x = ', suffix: '', maxTokens: 4 });
    assert.ok(next.usage.completionTokens > 0);
    assert.ok((await engine.status()).requests.cancelled >= 1);
  });

  test('a completion pre-empts a running chat, which then carries on', async () => {
    const events: string[] = [];
    let completionAsked = false;
    let completion: Promise<unknown> | null = null;
    const chat = engine.chat({ messages: [{ role: 'user', content: 'Tell a long story.' }], maxTokens: 120, stop: [] }, () => {
      events.push('chat');
      if (!completionAsked && events.length === 3) {
        completionAsked = true;
        completion = engine.complete({ prefix: CODE, suffix: '', maxTokens: 10 }).then(() => events.push('completion done'));
      }
    });
    const r = await chat;
    await completion;
    const done = events.indexOf('completion done');
    assert.ok(done > 0, 'the completion finished');
    assert.ok(events.slice(done + 1).includes('chat'), 'chat went on streaming after the completion finished');
    assert.ok(r.usage.completionTokens > 10);
    assert.notEqual(r.finishReason, 'cancelled');
  });

  test('a prompt longer than the context is refused with the numbers', async () => {
    const e = await rpcError(engine.complete({ prefix: CODE.repeat(60), suffix: '' }));
    assert.equal(e.code, ErrorCodes.PromptTooLong);
    assert.match(e.message, /the context holds 2048/);
  });

  test('wrong parameter types and unknown methods get JSON-RPC errors', async () => {
    const e1 = await rpcError(engine.conn.sendRequest('complete', { prefix: 42, suffix: '' }));
    assert.equal(e1.code, -32602);
    assert.match(e1.message, /prefix must be a string/);
    const e2 = await rpcError(engine.conn.sendRequest('doMagic', {}));
    assert.equal(e2.code, -32601);
    assert.ok((await engine.status()).model !== null, 'still serving');
  });
});

describe('reasoning models', () => {
  test('a template that opens <think> streams reasoning apart from the answer', async () => {
    // The tiny model with a chat template that ends its prompt inside a think block, as
    // DeepSeek-R1-style templates do: everything generated until </think> is reasoning.
    const dir = path.join(cacheDir, 'reasoning-model');
    fs.mkdirSync(dir, { recursive: true });
    for (const f of fs.readdirSync(model)) if (!f.startsWith('tokenizer_config')) fs.copyFileSync(path.join(model, f), path.join(dir, f));
    const cfg = JSON.parse(fs.readFileSync(path.join(model, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    cfg.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}assistant: <think>\n{% endif %}";
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(cfg));
    const c = start();
    await c.loadModel({ model: dir, cacheDir, providers: ['cpu'] });
    const deltas: ChatDeltaParams[] = [];
    const r = await c.chat({ messages: [{ role: 'user', content: 'Why is the sky blue?' }], maxTokens: 20 }, (d) => deltas.push(d));
    const streamed = deltas.map((d) => d.reasoning ?? '').join('');
    assert.ok(r.reasoning.length > 0, 'the output went to reasoning');
    assert.equal(streamed, r.reasoning);
    assert.equal(deltas.map((d) => d.content ?? '').join(''), r.text);
    assert.ok(deltas.every((d) => (d.reasoning === undefined) !== (d.content === undefined)), 'each delta is one kind');
    await c.shutdown();
  });
});

describe('engine process faults', () => {
  test('malformed JSON gets a Parse error and the next message is served', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN], { cwd: repoDir(), stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (out += d));
    const frame = (s: string) => `Content-Length: ${Buffer.byteLength(s)}\r\n\r\n${s}`;
    child.stdin.write(frame('{"jsonrpc":"2.0","id":1,"method":"status", oops'));
    child.stdin.write(frame('{"jsonrpc":"2.0","id":2,"method":"status"}'));
    const deadline = Date.now() + 20_000;
    while (!out.includes('"id":2') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    child.kill();
    assert.match(out, /"id":null,"error":\{"code":-32700,"message":"Parse error/);
    assert.match(out, /"id":2,"result":\{"model":null/);
  });

  test('the engine dying mid-stream fails the request with a clear error', async () => {
    const c = start();
    await c.initialize();
    await c.loadModel({ model, cacheDir, providers: ['cpu'] });
    let killed = false;
    const p = c.chat({ messages: [{ role: 'user', content: 'Tell a long story.' }], maxTokens: 1500 }, () => {
      if (!killed) {
        killed = true;
        c.kill();
      }
    });
    await assert.rejects(p, /connection|closed|disposed|exit/i);
    assert.ok(killed);
  });
});
