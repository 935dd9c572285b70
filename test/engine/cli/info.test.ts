/**
 * `engine info` as a user runs it (a real child process): on a folder holding only V4-Flash's
 * config.json (test/fixtures/deepseek-v4-flash, reconstructed, see its README), on a real V4
 * checkpoint in the released FP8/FP4 layout, and on bad input.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { humanBytes, kvCacheBytesAt } from '../../../engine/model/info.ts';
import { kvBytesPerToken, specFromConfig } from '../../../engine/model/spec.ts';
import { repoDir, sharedDir } from '../../helpers/paths.ts';

const CLI = path.join(repoDir(), 'engine', 'cli', 'main.ts');
const FIXTURE = path.join(repoDir(), 'test', 'fixtures', 'deepseek-v4-flash', 'config.json');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-info-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function cli(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: repoDir(), encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function configOnly(name: string, configFile: string): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  fs.copyFileSync(configFile, path.join(dir, 'config.json'));
  return dir;
}

const line = (out: string, key: string) => {
  const m = new RegExp(`^${key} +(.*)$`, 'm').exec(out);
  assert.ok(m, `no "${key}" line in:\n${out}`);
  return m[1]!;
};

describe('engine info on a folder holding only V4-Flash\'s config.json', () => {
  const dir = configOnly('v4-flash', FIXTURE);
  const spec = specFromConfig(JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as Record<string, unknown>, FIXTURE);

  test('prints about 284B total / 13B active, the KV bytes per token and the cache at 128K and 1M tokens', () => {
    const r = cli(['info', '--model', dir, '--ep', 'cpu', '--quant', 'int4', '--memory-budget', '64GiB']);
    assert.equal(r.code, 0, r.stderr);
    const params = /^([\d.]+)B total, ([\d.]+)B active per token \(([\d.]+)B without the embedding table\); counted from config\.json$/.exec(line(r.stdout, 'parameters'));
    assert.ok(params, line(r.stdout, 'parameters'));
    const [total, active, withoutEmbedding] = params.slice(1).map(Number) as [number, number, number];
    assert.ok(Math.abs(total - 284) < 0.5, `total ${total}B`);
    assert.ok(active >= 13 && active < 14 && withoutEmbedding >= 13 && withoutEmbedding < active, `active ${active}B / ${withoutEmbedding}B`);
    assert.match(line(r.stdout, 'attention'), /64 heads x 512, rope 64; 2 sliding \+ 21 CSA \+ 20 HCA layers, window 128/);
    assert.equal(line(r.stdout, 'layers'), '43 (43 MoE)');
    assert.equal(line(r.stdout, 'experts'), '256 routed, 6 per token');
    const perToken = line(r.stdout, 'KV cache per token');
    assert.ok(perToken.startsWith(`${humanBytes(kvBytesPerToken(spec, 2))} fp16 / ${humanBytes(kvBytesPerToken(spec, 4))} fp32 (average at 128K tokens`), perToken);
    assert.match(perToken, /^\d+\.\d KiB fp16/, 'a few KiB a token');
    assert.equal(
      line(r.stdout, 'KV cache at'),
      `128K tokens ${humanBytes(kvCacheBytesAt(spec, 131072, 2))} fp16 / ${humanBytes(kvCacheBytesAt(spec, 131072, 4))} fp32; ` +
        `1M tokens ${humanBytes(kvCacheBytesAt(spec, 1048576, 2))} fp16 / ${humanBytes(kvCacheBytesAt(spec, 1048576, 4))} fp32`,
    );
    assert.equal(line(r.stdout, 'context length'), '1048576');
    assert.equal(line(r.stdout, 'dtype'), 'bfloat16 (config.json only: no weights here)');
    assert.match(line(r.stdout, 'weights as built'), /^float32 \d+\.\d\d GiB \/ int8 \d+\.\d\d GiB \/ int4 1\d\d\.\d\d GiB$/);
    // 64 GiB cannot hold the int4 weights: refused with the numbers.
    assert.match(
      line(r.stdout, 'fit check'),
      /^at int4, 32768 tokens: does not fit: too large for the memory budget: needs 1\d\d\.\d\d GiB but the budget is 64\.00 GiB \(weights 1\d\d\.\d\d GiB at int4, KV cache 452\.0 MiB for 32768 tokens, its snapshots .*\); the weights alone exceed the budget/,
    );
    assert.match(line(r.stdout, 'routed experts'), /on the CPU, the chosen ones dispatched per expert at int4/);
  });

  test('--context and --memory-budget choose the fit; --json carries the same numbers', () => {
    const r = cli(['info', '--model', dir, '--ep', 'cpu', '--quant', 'int4', '--context', '1048576', '--memory-budget', '400GiB', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as {
      totalParams: number;
      activeParams: number;
      countedFrom: string;
      kvCacheAt: { tokens: number; fp16Bytes: number }[];
      weightsBytesByQuant: Record<string, number>;
      memory: { fits: boolean; contextLength: number; estimate: { kvBytes: number; totalBytes: number }; message: string };
    };
    assert.equal(j.countedFrom, 'config');
    assert.ok(j.totalParams > 283.5e9 && j.totalParams < 284.5e9);
    assert.deepEqual(j.kvCacheAt.map((k) => k.tokens), [131072, 1048576]);
    assert.equal(j.memory.contextLength, 1048576);
    assert.equal(j.memory.estimate.kvBytes, kvCacheBytesAt(spec, 1048576, 4));
    assert.equal(j.memory.fits, true);
    assert.match(j.memory.message, /^fits: needs .* of 400\.00 GiB \(weights/);
    assert.ok(j.weightsBytesByQuant.int4! < j.weightsBytesByQuant.int8! && j.weightsBytesByQuant.int8! < j.weightsBytesByQuant.none!);
  });

  test('bad input is one line naming the problem', () => {
    const over = cli(['info', '--model', dir, '--ep', 'cpu', '--context', '2000000']);
    assert.equal(over.code, 1);
    assert.equal(over.stderr, `error: --context 2000000 exceeds the model's context of 1048576 (max_position_embeddings)\n`);
    const badBudget = cli(['info', '--model', dir, '--ep', 'cpu', '--memory-budget', 'lots']);
    assert.equal(badBudget.code, 1);
    assert.match(badBudget.stderr, /^error: --memory-budget: not a size: 'lots'/);
    // Other architectures still need their weights to be counted.
    const v2 = configOnly('v2-config-only', path.join(sharedDir(), 'oracle', 'deepseek_v2_lite', 'config.json'));
    const r = cli(['info', '--model', v2, '--ep', 'cpu']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`^error: ${path.join(v2, 'config.json').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: no weights beside it: .*model_type deepseek_v2 needs its \\*\\.safetensors`));
  });
});

describe('engine info on a V4 checkpoint in the released layout', () => {
  test('counts from the FP8/FP4 tensors equal the count from its config.json alone', () => {
    const ckpt = path.join(sharedDir(), 'oracle-v4', 'deepseek_v4_fp8');
    const a = cli(['info', '--model', ckpt, '--ep', 'cpu', '--json']);
    const b = cli(['info', '--model', configOnly('fp8-config-only', path.join(ckpt, 'config.json')), '--ep', 'cpu', '--json']);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const ja = JSON.parse(a.stdout) as { totalParams: number; activeParams: number; countedFrom: string; dtype: string; weightsBytesByQuant: unknown };
    const jb = JSON.parse(b.stdout) as typeof ja;
    assert.equal(ja.countedFrom, 'checkpoint');
    assert.match(ja.dtype, /F8_E4M3/);
    assert.equal(ja.totalParams, jb.totalParams);
    assert.equal(ja.activeParams, jb.activeParams);
    assert.deepEqual(ja.weightsBytesByQuant, jb.weightsBytesByQuant);
  });
});
