/**
 * Execution-provider choice. onnxruntime-node does not fall back by itself (a WebGPU session on a
 * machine without an adapter throws), so we try each preferred provider in turn and fall back to
 * the CPU, keeping the reason for the log and `info`.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-node';

export const KNOWN_PROVIDERS = ['webgpu', 'cuda', 'dml', 'coreml', 'cpu'] as const;
export type ProviderName = (typeof KNOWN_PROVIDERS)[number];

export const DEFAULT_PREFERENCE: ProviderName[] = ['webgpu', 'cuda', 'dml', 'coreml', 'cpu'];

export interface ProviderAttempt {
  provider: ProviderName;
  ok: boolean;
  reason?: string;
}

export function parseProviderList(s: string): ProviderName[] {
  const out: ProviderName[] = [];
  for (const part of s.split(',').map((p) => p.trim().toLowerCase()).filter(Boolean)) {
    if (!(KNOWN_PROVIDERS as readonly string[]).includes(part)) {
      throw new Error(`unknown execution provider '${part}' (known: ${KNOWN_PROVIDERS.join(', ')})`);
    }
    out.push(part as ProviderName);
  }
  return out;
}

/**
 * Software Vulkan drivers (Mesa's lavapipe, Google's SwiftShader) give WebGPU an adapter on a machine
 * with no GPU, but they emulate the GPU on the CPU and run our graphs several times slower than ORT's
 * own CPU kernels. So WebGPU only counts real adapters unless SWITCHYARD_WEBGPU_SOFTWARE=1, which the
 * tests set to run the WebGPU path (device-resident KV, the prefix cache on it) on a CPU-only
 * machine. The Vulkan loader (1.3.234+) skips drivers whose manifest name matches these globs.
 */
const SOFTWARE_VULKAN_MANIFESTS = ['*lvp_icd*', '*swiftshader*'];

export function softwareGpuAllowed(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.SWITCHYARD_WEBGPU_SOFTWARE === '1';
}

/** `env` with software Vulkan drivers hidden (unless allowed), for this process or a child. */
export function withGpuPolicy(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (softwareGpuAllowed(env)) return env;
  const own = (env.VK_LOADER_DRIVERS_DISABLE ?? '').split(',').filter(Boolean);
  const merged = [...own, ...SOFTWARE_VULKAN_MANIFESTS.filter((g) => !own.includes(g))];
  return { ...env, VK_LOADER_DRIVERS_DISABLE: merged.join(',') };
}

/** Whether a software Vulkan driver is installed where the Linux loader looks (for the skip reason). */
function softwareVulkanInstalled(): boolean {
  if (process.platform !== 'linux') return false;
  for (const dir of ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d']) {
    try {
      if (fs.readdirSync(dir).some((f) => /lvp_icd|swiftshader/.test(f))) return true;
    } catch {
      // no such folder
    }
  }
  return false;
}

let policyApplied = false;
/** Applies the policy to this process before ORT creates its Dawn instance (first WebGPU session). */
function applyGpuPolicy(): void {
  if (policyApplied) return;
  policyApplied = true;
  const v = withGpuPolicy(process.env).VK_LOADER_DRIVERS_DISABLE;
  if (v !== undefined) process.env.VK_LOADER_DRIVERS_DISABLE = v;
}

function availableHere(p: ProviderName): string | null {
  const backends = ort.listSupportedBackends().map((b) => b.name as string);
  if (p === 'cpu') return null;
  if (!backends.includes(p)) return `${p} is not available in onnxruntime-node on ${process.platform}-${process.arch}`;
  return null;
}

/** A one-node model every provider can run, for probing. */
async function probeModel(): Promise<Uint8Array> {
  const { encodeModel } = await import('../graph/onnx-proto.ts');
  return encodeModel({
    irVersion: 8,
    opsets: [{ domain: '', version: 17 }],
    producer: 'switchyard-probe',
    graph: {
      name: 'probe',
      nodes: [{ opType: 'Identity', name: 'id', inputs: ['x'], outputs: ['y'], attributes: [] }],
      initializers: [],
      inputs: [{ name: 'x', dataType: 1, shape: [1] }],
      outputs: [{ name: 'y', dataType: 1, shape: [1] }],
    },
  });
}

// Runs in a throwaway process: argv[1] = onnxruntime-node's path, argv[2..] = providers; the probe
// model arrives base64 on stdin. Prints {"<provider>": null | "<reason>"}.
const PROBE_SCRIPT = `
const ort = require(process.argv[1]);
const bytes = Buffer.from(require('fs').readFileSync(0, 'utf8'), 'base64');
(async () => {
  const out = {};
  for (const p of process.argv.slice(2)) {
    try { const s = await ort.InferenceSession.create(bytes, { executionProviders: [p], logSeverityLevel: 4 }); await s.release(); out[p] = null; }
    catch (e) { out[p] = String((e && e.message) || e).split('\\n')[0]; }
  }
  process.stdout.write(JSON.stringify(out));
})();`;

/** ORT's messages start with a source path and an assertion; keep the part a user can act on. */
export function tidyReason(provider: ProviderName, reason: string): string {
  let r = reason.replace(/^\/\S+:\d+ /, '');
  const m = /\bwas false\. (.+)$/.exec(r);
  if (m) r = m[1]!;
  if (provider === 'cuda' && /load shared library/i.test(r)) {
    r += ' (needs CUDA 12, cuDNN 9 and the onnxruntime-node CUDA provider: see the README, GPU)';
  }
  if (provider === 'webgpu' && /no supported adapters/i.test(r) && !softwareGpuAllowed() && softwareVulkanInstalled()) {
    r += ' (software Vulkan drivers such as llvmpipe are skipped, they are slower than the CPU provider; SWITCHYARD_WEBGPU_SOFTWARE=1 uses them)';
  }
  return r;
}

const isolatedVerdicts = new Map<ProviderName, string | null>();

/**
 * Whether each GPU provider can start here, asked in a child process. A failing WebGPU or CUDA start
 * prints native warnings (Dawn's Vulkan loader, ORT's provider bridge) straight to file descriptor 2,
 * which JavaScript cannot silence; in a child they are captured and only the reason is kept. The
 * verdict is cached for the life of the process. null = it started.
 */
export async function isolatedProviderVerdicts(providers: ProviderName[]): Promise<Map<ProviderName, string | null>> {
  const ask = providers.filter((p) => p !== 'cpu' && !isolatedVerdicts.has(p) && availableHere(p) === null);
  if (ask.length > 0) {
    const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
    const r = spawnSync(process.execPath, ['-e', PROBE_SCRIPT, ortPath, ...ask], {
      input: Buffer.from(await probeModel()).toString('base64'),
      env: withGpuPolicy(process.env),
      encoding: 'utf8',
      timeout: 60_000,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let parsed: Record<string, string | null> = {};
    try {
      parsed = JSON.parse(r.stdout || '{}') as Record<string, string | null>;
    } catch {
      // fall through: every asked provider gets the failure reason below
    }
    const failure = r.error ? r.error.message : r.status !== 0 ? `probe process exited with ${r.status ?? r.signal}` : 'probe gave no answer';
    for (const p of ask) {
      const v = p in parsed ? parsed[p]! : failure;
      isolatedVerdicts.set(p, v === null ? null : tidyReason(p, v));
    }
  }
  const out = new Map<ProviderName, string | null>();
  for (const p of providers) out.set(p, p === 'cpu' ? null : (availableHere(p) ?? isolatedVerdicts.get(p) ?? null));
  return out;
}

export async function createSessionWithFallback(
  modelPath: string,
  preference: ProviderName[],
  base: ort.InferenceSession.SessionOptions,
  log: (line: string) => void = () => {},
  perProvider: Partial<Record<ProviderName, ort.InferenceSession.SessionOptions>> = {},
): Promise<{ session: ort.InferenceSession; provider: ProviderName; attempts: ProviderAttempt[] }> {
  const attempts: ProviderAttempt[] = [];
  const order = preference.includes('cpu') ? preference : [...preference, 'cpu' as const];
  const verdicts = await isolatedProviderVerdicts(order);
  applyGpuPolicy();
  for (const provider of order) {
    const unavailable = verdicts.get(provider);
    if (unavailable) {
      attempts.push({ provider, ok: false, reason: unavailable });
      continue;
    }
    try {
      const extra = perProvider[provider] ?? {};
      const session = await ort.InferenceSession.create(modelPath, { ...base, ...extra, executionProviders: extra.executionProviders ?? [provider] });
      attempts.push({ provider, ok: true });
      for (const a of attempts) if (!a.ok) log(`execution provider ${a.provider} skipped: ${a.reason}`);
      return { session, provider, attempts };
    } catch (e) {
      attempts.push({ provider, ok: false, reason: String((e as Error).message ?? e).split('\n')[0] });
    }
  }
  throw new Error(`no execution provider could run the model: ${attempts.map((a) => `${a.provider}: ${a.reason}`).join('; ')}`);
}

/** Which provider a model would get, without building it (the isolated probe's verdicts). */
export async function probeProvider(preference: ProviderName[]): Promise<{ provider: ProviderName; attempts: ProviderAttempt[] }> {
  const order = preference.includes('cpu') ? preference : [...preference, 'cpu' as const];
  const verdicts = await isolatedProviderVerdicts(order);
  const attempts: ProviderAttempt[] = [];
  for (const provider of order) {
    const reason = verdicts.get(provider);
    if (reason) {
      attempts.push({ provider, ok: false, reason });
      continue;
    }
    attempts.push({ provider, ok: true });
    return { provider, attempts };
  }
  return { provider: 'cpu', attempts };
}
