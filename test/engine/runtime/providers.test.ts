import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { parseProviderList, probeProvider, tidyReason } from '../../../engine/runtime/providers.ts';
import { repoDir } from '../../helpers/paths.ts';

test('provider lists parse, normalise case and reject unknown names', () => {
  assert.deepEqual(parseProviderList('WebGPU, cuda,cpu'), ['webgpu', 'cuda', 'cpu']);
  assert.throws(() => parseProviderList('webgpu,tpu'), /unknown execution provider 'tpu'/);
});

test('ORT reasons are trimmed to the part a user can act on', () => {
  assert.equal(
    tidyReason('webgpu', '/onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:136 f() x == y was false. Failed to get a WebGPU adapter: No supported adapters'),
    'Failed to get a WebGPU adapter: No supported adapters',
  );
  assert.match(tidyReason('cuda', 'OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library'), /CUDA 12, cuDNN 9/);
});

test('the CPU always answers last; every skipped provider has a reason', async () => {
  const r = await probeProvider(['webgpu', 'cuda', 'dml', 'coreml']);
  assert.equal(r.attempts.at(-1)!.provider, r.provider);
  assert.equal(r.attempts.at(-1)!.ok, true);
  for (const a of r.attempts.slice(0, -1)) {
    assert.equal(a.ok, false);
    assert.ok(a.reason && a.reason.length > 0 && !a.reason.includes('\n'));
  }
});

test('probing GPU providers leaves our stderr clean (native warnings stay in the probe process)', () => {
  const script = `import { probeProvider } from ${JSON.stringify(path.join(repoDir(), 'engine', 'runtime', 'providers.ts'))};
const r = await probeProvider(['webgpu', 'cuda', 'cpu']);
process.stdout.write(r.provider);`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', cwd: repoDir(), timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(['webgpu', 'cuda', 'cpu'].includes(r.stdout));
  assert.equal(r.stderr, '');
});
