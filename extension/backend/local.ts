/**
 * The local engine as a ModelBackend: a pass-through to the engine client once the host has a
 * model loaded (the protocol's shapes are the backend's own).
 */
import path from 'node:path';
import type { EngineClientLike, EngineState } from '../engine/engine-host.ts';
import type { ModelBackend } from './backend.ts';

export function localBackend(client: EngineClientLike, state: Extract<EngineState, { kind: 'ready' }>): ModelBackend {
  const info = state.info;
  return {
    kind: 'local',
    label: `${path.basename(info.model) || info.model} (local, ${info.provider})`,
    contextLength: info.contextLength,
    complete: (p, signal) => client.complete(p, signal),
    chat: (p, onDelta, signal) => client.chat(p, onDelta, signal),
    countTokens: (text) => client.countTokens(text),
  };
}
