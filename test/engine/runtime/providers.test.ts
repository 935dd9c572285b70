import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { parseProviderList, probeProvider, tidyReason, withGpuPolicy } from '../../../engine/runtime/providers.ts';
import { repoDir } from '../../helpers/paths.ts';

test('provider lists parse, normalise case and reject unknown names', () => {
  assert.deepEqual(parseProviderList('WebGPU, cuda,cpu'), ['webgpu', 'cuda', 'cpu']);
  assert.throws(() => parseProviderList('webgpu,tpu'), /unknown execution provider 'tpu'/);
});

test('ORT reasons are trimmed to the part a user can act on', () => {
  assert.match(
    tidyReason('webgpu', '/onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:136 f() x == y was false. Failed to get a WebGPU adapter: No supported adapters'),
    /^Failed to get a WebGPU adapter: No supported adapters/,
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

test('software Vulkan drivers are hidden from WebGPU unless SWITCHYARD_WEBGPU_SOFTWARE=1', () => {
  const hidden = withGpuPolicy({ VK_LOADER_DRIVERS_DISABLE: 'my_icd*' }).VK_LOADER_DRIVERS_DISABLE!.split(',');
  assert.deepEqual(hidden, ['my_icd*', '*lvp_icd*', '*swiftshader*'], "the user's own list is kept");
  assert.equal(withGpuPolicy({ SWITCHYARD_WEBGPU_SOFTWARE: '1' }).VK_LOADER_DRIVERS_DISABLE, undefined);
});

// Needs lavapipe (scripts/webgpu/setup.mjs, run by npm test). Not via helpers/webgpu.ts, which would
// allow software adapters in this process.
const WEBGPU_SKIPPED = process.env.SWITCHYARD_SKIP_WEBGPU === '1';
test('on a machine whose only Vulkan device is lavapipe, WebGPU is skipped with a reason, and used when allowed', { skip: WEBGPU_SKIPPED && 'SWITCHYARD_SKIP_WEBGPU=1' }, () => {
  const script = `import { probeProvider } from ${JSON.stringify(path.join(repoDir(), 'engine', 'runtime', 'providers.ts'))};
process.stdout.write(JSON.stringify(await probeProvider(['webgpu', 'cpu'])));`;
  const probe = (extra: NodeJS.ProcessEnv) => {
    const env = { ...process.env, ...extra };
    delete env.SWITCHYARD_WEBGPU_SOFTWARE;
    Object.assign(env, extra);
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', cwd: repoDir(), timeout: 60_000, env });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { provider: string; attempts: { provider: string; reason?: string }[] };
  };
  const allowed = probe({ SWITCHYARD_WEBGPU_SOFTWARE: '1' });
  assert.equal(allowed.provider, 'webgpu', `no WebGPU adapter even with software drivers allowed: ${JSON.stringify(allowed.attempts)}`);
  const plain = probe({});
  if (plain.provider === 'webgpu') return; // a real GPU is here too: nothing to hide
  assert.equal(plain.provider, 'cpu');
  assert.match(plain.attempts[0]!.reason!, /software Vulkan drivers such as llvmpipe are skipped.*SWITCHYARD_WEBGPU_SOFTWARE=1/);
});
