/**
 * The WebGPU path in tests. CI has no GPU, so `npm test` installs Mesa's lavapipe (a Vulkan driver
 * that runs on the CPU, see scripts/webgpu/setup.mjs) and the engine is told to accept a software
 * adapter, which it skips by default. The same tests then run on a real GPU where one is present.
 * SWITCHYARD_SKIP_WEBGPU=1 leaves the WebGPU variants out (for a machine that cannot install the
 * driver); otherwise a missing adapter fails them, so CI cannot silently drop them.
 */
import { after, before } from 'node:test';
import * as path from 'node:path';
import { loadModel, type LoadedModel } from '../../engine/runtime/load.ts';
import type { ProviderName } from '../../engine/runtime/providers.ts';
import { sharedDir } from './paths.ts';

// Must be set before this process creates its first WebGPU session (the Vulkan loader reads it then).
process.env.SWITCHYARD_WEBGPU_SOFTWARE = '1';

export const WEBGPU_SKIPPED = process.env.SWITCHYARD_SKIP_WEBGPU === '1';

/** The providers a provider-parameterised test runs on. */
export const TEST_PROVIDERS: ProviderName[] = WEBGPU_SKIPPED ? ['cpu'] : ['cpu', 'webgpu'];

/** Throws a message that says how to get an adapter when a session did not land on `want`. */
export function assertProvider(got: string, want: ProviderName, attempts: { provider: string; reason?: string }[] = []): void {
  if (got === want) return;
  const why = attempts.find((a) => a.provider === want)?.reason ?? 'unknown reason';
  throw new Error(
    `expected the ${want} provider, got ${got} (${why}). For WebGPU without a GPU run \`node scripts/webgpu/setup.mjs\` ` +
      '(installs Mesa lavapipe), or set SWITCHYARD_SKIP_WEBGPU=1 to leave the WebGPU tests out',
  );
}

/**
 * Loads an oracle checkpoint (float32) on `ep` before the enclosing suite's tests and closes it
 * after; call the returned function inside a test for the model.
 */
export function oracleOn(ep: ProviderName, name: string, cacheDir: string): () => LoadedModel {
  let m: LoadedModel | undefined;
  before(async () => {
    m = await loadModel(path.join(sharedDir(), 'oracle', name), { quant: 'none', providers: [ep], cacheDir });
    assertProvider(m.session.provider, ep, m.session.attempts);
  });
  after(async () => {
    await m?.close();
  });
  return () => m!;
}
