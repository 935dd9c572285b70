/**
 * Engine errors sorted into what the user can do about them. The engine answers a failed
 * loadModel with JSON-RPC error LoadFailed and a one-line message naming the file and the problem
 * (engine/errors.ts); a model over the memory budget says "too large for the memory budget" with
 * its estimate. Everything else is a bug or a crash.
 */
import { ErrorCodes } from '../../engine/protocol/protocol.ts';

export type ProblemKind = 'cancelled' | 'no-model' | 'load-failed' | 'too-large' | 'crashed' | 'spawn-failed' | 'incompatible' | 'other';

export interface Problem {
  kind: ProblemKind;
  message: string;
}

export function classifyLoadError(e: unknown): Problem {
  const code = (e as { code?: unknown })?.code;
  const message = String((e as Error)?.message ?? e).split('\n')[0]!;
  if (code === ErrorCodes.LoadFailed) {
    return { kind: /too large for the memory budget/.test(message) ? 'too-large' : 'load-failed', message };
  }
  return { kind: 'other', message };
}

/** Whether a failed request means the request was cancelled (not worth logging as an error). */
export function isCancellation(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return code === ErrorCodes.Cancelled || /cancel/i.test(String((e as Error)?.message ?? ''));
}
