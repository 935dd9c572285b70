/**
 * `inspectModel` through the real protocol: the engine child process spawned by EngineClient,
 * JSON-RPC over stdio, on the tiny DeepSeek-V2 checkpoint.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ErrorCodes as RpcErrorCodes, ResponseError } from 'vscode-jsonrpc/node';
import { fitMessage } from '../../../engine/models/inspect.ts';
import { EngineClient } from '../../../engine/protocol/client.ts';
import { ErrorCodes, type InspectModelParams } from '../../../engine/protocol/protocol.ts';
import { repoDir } from '../../helpers/paths.ts';
import { tinyModel } from '../../helpers/tiny-model.ts';
import { rpcError } from '../../helpers/rpc.ts';

const MAIN = path.join(repoDir(), 'engine', 'service', 'main.ts');
const model = tinyModel('deepseek-coder-v1');
let engine: EngineClient;

before(async () => {
  engine = EngineClient.spawn({ args: ['--import', 'tsx', MAIN], cwd: repoDir() });
  await engine.initialize('test');
});
after(() => engine.kill());


describe('inspectModel over JSON-RPC', () => {
  test('estimates the model and fits a big budget, without loading it', async () => {
    const r = await engine.inspectModel({ model, providers: ['cpu'], contextLength: 2048, memoryBudgetBytes: 64 * 1024 ** 3 });
    assert.equal(r.model, model);
    assert.equal(r.architecture, 'DeepseekV2ForCausalLM');
    assert.equal(r.modelType, 'deepseek_v2');
    assert.ok(r.parameters > 0 && r.activeParameters > 0 && r.activeParameters < r.parameters, 'MoE: fewer active than total parameters');
    assert.equal(r.contextLength, 2048);
    assert.equal(r.quant, 'none');
    const e = r.estimate;
    assert.ok(e.weightsBytes > 0 && e.kvBytes > 0 && e.activationBytes > 0);
    assert.equal(e.totalBytes, e.weightsBytes + e.kvBytes + e.activationBytes + e.prefixCacheBytes);
    assert.equal(r.availableBytes, 64 * 1024 ** 3);
    assert.equal(r.fits, true);
    assert.equal(r.provider, 'cpu');
    assert.deepEqual(r.providerAttempts, [{ provider: 'cpu', ok: true }]);
    assert.match(r.message, /^fits: needs .* GiB of 64\.00 GiB available \(weights .*\), provider cpu$/);
    assert.ok(r.totalBytesByQuant.int4 < r.totalBytesByQuant.int8 && r.totalBytesByQuant.int8 < r.totalBytesByQuant.none);
    assert.equal((await engine.status()).model, null, 'inspectModel must not load the model');
  });

  test('a tiny budget does not fit, with a clear message', async () => {
    const r = await engine.inspectModel({ model, providers: ['cpu'], contextLength: 2048, memoryBudgetBytes: 1024 * 1024, prefixCacheBytes: 0 });
    assert.equal(r.fits, false);
    assert.ok(r.estimate.totalBytes > r.availableBytes);
    assert.match(r.message, /^does not fit: needs .* but 1\.0 MiB is available \(weights .* KV cache .* for 2048 tokens.*\); no quantisation fits \(int4 needs .*\): it needs a machine with more memory$/);
  });

  test('the budget that fits only a quantised build says so', async () => {
    const big = await engine.inspectModel({ model, providers: ['cpu'], contextLength: 1024, prefixCacheBytes: 0, memoryBudgetBytes: 1 << 40 });
    const budget = Math.floor((big.totalBytesByQuant.int4 + big.totalBytesByQuant.int8) / 2);
    const r = await engine.inspectModel({ model, providers: ['cpu'], contextLength: 1024, prefixCacheBytes: 0, memoryBudgetBytes: budget });
    assert.equal(r.fits, false);
    assert.match(r.message, /; it fits with int4 \(/);
    const q = await engine.inspectModel({ model, quant: 'int4', providers: ['cpu'], contextLength: 1024, prefixCacheBytes: 0, memoryBudgetBytes: budget });
    assert.equal(q.fits, true);
  });

  test('a folder holding only V4-Flash\'s config.json is sized from it: parameters, weights per quantisation, KV at the context', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-inspect-v4-'));
    try {
      fs.copyFileSync(path.join(repoDir(), 'test', 'fixtures', 'deepseek-v4-flash', 'config.json'), path.join(dir, 'config.json'));
      const at = (contextLength: number, memoryBudgetBytes: number) =>
        engine.inspectModel({ model: dir, quant: 'int4', providers: ['cpu'], contextLength, memoryBudgetBytes, prefixCacheBytes: 0 });
      const r = await at(131072, 64 * 1024 ** 3);
      assert.equal(r.modelType, 'deepseek_v4');
      assert.equal(r.countedFrom, 'config');
      assert.ok(Math.abs(r.parameters / 1e9 - 284) < 0.5 && r.activeParameters > 13e9 && r.activeParameters < 14e9);
      assert.ok(r.weightsBytesByQuant!.int4 < r.weightsBytesByQuant!.int8 && r.weightsBytesByQuant!.int8 < r.weightsBytesByQuant!.none);
      assert.equal(r.estimate.weightsBytes, r.weightsBytesByQuant!.int4);
      assert.equal(r.fits, false);
      assert.match(r.message, /^does not fit: needs .* but 64\.00 GiB is available \(weights 1\d\d\.\d\d GiB \(int4\), KV cache 1\.70 GiB for 131072 tokens, its snapshots .*\); the weights alone exceed the budget/);
      // The KV cache follows the context: 1M tokens is a few GB more, not 8x the weights.
      const long = await at(1048576, 1024 ** 4);
      assert.equal(long.fits, true);
      assert.ok(long.estimate.kvBytes > 7 * r.estimate.kvBytes && long.estimate.kvBytes < 20 * 1024 ** 3);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a missing folder and bad params are clear errors', async () => {
    const missing = path.join(path.dirname(model), 'no-such-model');
    const e = await rpcError(engine.inspectModel({ model: missing }));
    assert.equal(e.code, ErrorCodes.LoadFailed);
    assert.ok(e.message.includes(missing));
    const p = await rpcError(engine.inspectModel({ model, quant: 'int3' } as unknown as InspectModelParams));
    assert.equal(p.code, RpcErrorCodes.InvalidParams);
    assert.match(p.message, /inspectModel: quant/);
    const ep = await rpcError(engine.inspectModel({ model, providers: ['tpu'] }));
    assert.equal(ep.code, RpcErrorCodes.InvalidParams);
    assert.match(ep.message, /unknown execution provider 'tpu'/);
  });
});

describe('fitMessage', () => {
  const est = { weightsBytes: 10 * 1024 ** 3, kvBytes: 1024 ** 3, activationBytes: 0.3 * 1024 ** 3, prefixCacheBytes: 1024 ** 3, totalBytes: 12.3 * 1024 ** 3 };
  test('names the need, what is available and the provider', () => {
    const m = fitMessage({ fits: true, estimate: est, availableBytes: 31 * 1024 ** 3, quant: 'int8', contextLength: 8192, totalBytesByQuant: { none: 40e9, int8: est.totalBytes, int4: 5e9 } }, 'cuda');
    assert.match(m, /^fits: needs 12\.30 GiB of 31\.00 GiB available \(weights 10\.00 GiB \(int8\), KV cache 1\.00 GiB for 8192 tokens, .*\), provider cuda$/);
  });
});
