/**
 * The engine service on WebGPU through its real protocol (a child engine, JSON-RPC over stdio): the
 * KV cache stays on the device (loadModel reports 'gpu-buffer'), the prefix cache reuses it across
 * keystrokes (prefilled token counts from status), and every answer equals a CPU engine's. In CI the
 * adapter is Mesa's lavapipe (see test/helpers/webgpu.ts); on a machine with a GPU, the GPU.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineClient } from '../../../engine/protocol/client.ts';
import { repoDir } from '../../helpers/paths.ts';
import { tinyModel } from '../../helpers/tiny-model.ts';
import { assertProvider, WEBGPU_SKIPPED } from '../../helpers/webgpu.ts';

const MAIN = path.join(repoDir(), 'engine', 'service', 'main.ts');
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-service-webgpu-'));
const model = tinyModel('deepseek-coder-v1');
const CODE = 'def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n\n';

describe('engine service on WebGPU', { skip: WEBGPU_SKIPPED && 'SWITCHYARD_SKIP_WEBGPU=1' }, () => {
  // The children inherit SWITCHYARD_WEBGPU_SOFTWARE=1 from the helper.
  const gpu = EngineClient.spawn({ args: ['--import', 'tsx', MAIN], cwd: repoDir() });
  const cpu = EngineClient.spawn({ args: ['--import', 'tsx', MAIN], cwd: repoDir() });
  before(async () => {
    await gpu.initialize('test');
    await cpu.initialize('test');
    const info = await gpu.loadModel({ model, cacheDir, providers: ['webgpu'], quant: 'none', contextLength: 2048 });
    assertProvider(info.provider, 'webgpu', info.providerAttempts);
    assert.equal(info.kvCache, 'gpu-buffer');
    const ref = await cpu.loadModel({ model, cacheDir, providers: ['cpu'], quant: 'none', contextLength: 2048 });
    assert.equal(ref.kvCache, 'cpu');
  });
  after(async () => {
    gpu.kill();
    cpu.kill();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });

  test('keystrokes at the end of a window re-prefill only the tail; completions equal the CPU engine', async () => {
    const window = CODE.repeat(8);
    for (const [i, k] of ['x', 'x =', 'x = fib', 'x = fibonacci(1'].entries()) {
      const s0 = (await gpu.status()).cache;
      const r = await gpu.complete({ prefix: window + k, suffix: '\n', maxTokens: 12 });
      const s1 = (await gpu.status()).cache;
      const ref = await cpu.complete({ prefix: window + k, suffix: '\n', maxTokens: 12 });
      assert.equal(r.text, ref.text, `keystroke ${i}`);
      if (i > 0) {
        assert.ok(r.usage.cachedTokens > 0, 'the prefix cache on the device was not reused');
        assert.ok(s1.prefilledTokens - s0.prefilledTokens < 20, `re-prefilled ${s1.prefilledTokens - s0.prefilledTokens} tokens`);
      }
    }
    const st = (await gpu.status()).cache;
    assert.ok(st.entries > 0 && st.bytes > 0 && st.bytes <= st.budgetBytes);
  });

  test('chat and prompt-lookup answers equal the CPU engine', async () => {
    const code = 'function total(items) {\n  let sum = 0;\n  for (const item of items) sum += item.price;\n  return sum;\n}\n';
    const messages = [{ role: 'user' as const, content: `Rewrite with reduce:\n${code}` }];
    const deltas: string[] = [];
    const r = await gpu.chat({ messages, maxTokens: 24 }, (d) => d.content && deltas.push(d.content));
    const ref = await cpu.chat({ messages, maxTokens: 24 });
    assert.equal(r.text, ref.text);
    assert.equal(deltas.join(''), r.text);
    const spec = await gpu.chat({ messages, maxTokens: 24, promptLookup: true });
    assert.equal(spec.text, ref.text);
  });

  test('a request cancelled mid-stream leaves the device cache usable', async () => {
    const ac = new AbortController();
    let n = 0;
    const p = gpu.chat({ messages: [{ role: 'user', content: 'Explain recursion.' }], maxTokens: 200 }, () => {
      if (++n === 3) ac.abort();
    }, ac.signal);
    await p.then(
      (r) => assert.equal(r.finishReason, 'cancelled'),
      (e: Error) => assert.match(e.message, /cancel/i),
    );
    const r = await gpu.complete({ prefix: CODE + 'x = ', suffix: '', maxTokens: 8 });
    const ref = await cpu.complete({ prefix: CODE + 'x = ', suffix: '', maxTokens: 8 });
    assert.equal(r.text, ref.text);
  });
});
