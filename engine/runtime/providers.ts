/**
 * Execution-provider choice. onnxruntime-node does not fall back by itself (a WebGPU session on a
 * machine without an adapter throws), so we try each preferred provider in turn and fall back to
 * the CPU, keeping the reason for the log and `info`.
 */
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

function availableHere(p: ProviderName): string | null {
  const backends = ort.listSupportedBackends().map((b) => b.name as string);
  if (p === 'cpu') return null;
  if (!backends.includes(p)) return `${p} is not available in onnxruntime-node on ${process.platform}-${process.arch}`;
  return null;
}

export async function createSessionWithFallback(
  modelPath: string,
  preference: ProviderName[],
  base: ort.InferenceSession.SessionOptions,
  log: (line: string) => void = () => {},
): Promise<{ session: ort.InferenceSession; provider: ProviderName; attempts: ProviderAttempt[] }> {
  const attempts: ProviderAttempt[] = [];
  const order = preference.includes('cpu') ? preference : [...preference, 'cpu' as const];
  for (const provider of order) {
    const unavailable = availableHere(provider);
    if (unavailable) {
      attempts.push({ provider, ok: false, reason: unavailable });
      continue;
    }
    try {
      const session = await ort.InferenceSession.create(modelPath, { ...base, executionProviders: [provider] });
      attempts.push({ provider, ok: true });
      for (const a of attempts) if (!a.ok) log(`execution provider ${a.provider} skipped: ${a.reason}`);
      return { session, provider, attempts };
    } catch (e) {
      attempts.push({ provider, ok: false, reason: String((e as Error).message ?? e).split('\n')[0] });
    }
  }
  throw new Error(`no execution provider could run the model: ${attempts.map((a) => `${a.provider}: ${a.reason}`).join('; ')}`);
}

/**
 * Which provider a model would get, without building it: a one-node model is created on each
 * preferred provider in turn.
 */
export async function probeProvider(preference: ProviderName[]): Promise<{ provider: ProviderName; attempts: ProviderAttempt[] }> {
  const { encodeModel } = await import('../graph/onnx-proto.ts');
  const bytes = encodeModel({
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
  const attempts: ProviderAttempt[] = [];
  const order = preference.includes('cpu') ? preference : [...preference, 'cpu' as const];
  for (const provider of order) {
    const unavailable = availableHere(provider);
    if (unavailable) {
      attempts.push({ provider, ok: false, reason: unavailable });
      continue;
    }
    try {
      const s = await ort.InferenceSession.create(bytes, { executionProviders: [provider] });
      await s.release();
      attempts.push({ provider, ok: true });
      return { provider, attempts };
    } catch (e) {
      attempts.push({ provider, ok: false, reason: String((e as Error).message ?? e).split('\n')[0] });
    }
  }
  return { provider: 'cpu', attempts };
}
