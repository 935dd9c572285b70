/**
 * What the chat view's engine line shows: the engine host's state (plus whether a remote endpoint
 * replaces it and whether a model is configured) as the protocol's EngineView, with the buttons
 * that fix a broken state, and a note for the demo's random-weight model. No 'vscode' (only the
 * demo marker is read from disk), so every state's exact text is unit-tested.
 */
import type { EngineView, FixAction } from '../../webview/protocol.ts';
import type { EngineState } from '../engine/engine-host.ts';
import { DEMO_CHAT_NOTE, isDemoModel } from '../demo-model.ts';

export interface EngineViewInput {
  state: EngineState;
  /** switchyard.remote.endpoint ('' when the local engine serves). */
  remoteEndpoint: string;
  /** switchyard.model.path ('' when none is set). */
  modelPath: string;
  /** The remote endpoint does not work (extension/backend/remote-health.ts). */
  remoteProblem?: { message: string; fix: 'settings' | 'apiKey' };
}

/** The last path segment: "/models/DeepSeek-Coder-V2-Lite/" -> "DeepSeek-Coder-V2-Lite". */
export function modelName(p: string): string {
  return p.split(/[\\/]/).filter(Boolean).pop() ?? p;
}

const upperFirst = (s: string) => (s ? s[0]!.toUpperCase() + s.slice(1) : s);

export function engineView(i: EngineViewInput): EngineView {
  // A remote endpoint replaces the local engine everywhere, whatever state the local one is in.
  if (i.remoteEndpoint && i.remoteProblem) {
    return { kind: 'remote-down', message: i.remoteProblem.message, fixes: i.remoteProblem.fix === 'apiKey' ? ['setApiKey', 'retryRemote'] : ['remoteSettings', 'retryRemote'] };
  }
  if (i.remoteEndpoint) return { kind: 'remote', message: `remote: ${i.remoteEndpoint}`, fixes: [] };
  const s = i.state;
  const name = i.modelPath ? modelName(i.modelPath) : 'the model';
  switch (s.kind) {
    case 'idle':
      // Before the first start, "idle" without a model path can only end in no-model: say so now.
      if (!i.modelPath) return noModel();
      return withDemoNote(i, { kind: 'idle', message: `${name}: the engine starts with the first message`, fixes: [] });
    case 'no-model':
      return noModel();
    case 'starting':
      return { kind: 'starting', message: 'Starting the engine', fixes: [] };
    case 'restarting':
      return {
        kind: 'starting',
        message: `Restarting the engine after a crash (${s.crashes} recently), in ${Math.max(1, Math.round(s.delayMs / 1000))} s`,
        fixes: ['showLog'],
      };
    case 'loading':
      return { kind: 'loading', message: `Loading ${name}: ${s.message} ${s.percent}%`, percent: s.percent, fixes: [] };
    case 'ready':
      return withDemoNote(i, { kind: 'ready', message: `${modelName(s.info.model)} on ${s.info.provider}`, fixes: [] });
    case 'error': {
      const p = s.problem;
      let message = upperFirst(p.message);
      let fixes: FixAction[] = ['restartEngine', 'showLog'];
      switch (p.kind) {
        case 'no-model':
          return noModel();
        case 'load-failed':
          message = `Cannot load the model: ${p.message}`;
          fixes = ['selectModel', 'restartEngine', 'showLog'];
          break;
        case 'too-large':
          message = `The model does not fit in memory: ${p.message}`;
          fixes = ['selectModel', 'openSettings', 'showLog'];
          break;
        case 'spawn-failed':
          fixes = ['openSettings', 'restartEngine', 'showLog'];
          break;
        default:
          break;
      }
      return { kind: 'down', message, fixes };
    }
  }
}

function noModel(): EngineView {
  return { kind: 'no-model', message: 'No model selected: select a checkpoint folder or download a model', fixes: ['selectModel', 'downloadModel'] };
}

/**
 * The demo's random-weight model (a marker in its folder, extension/demo-model.ts) works, so no
 * error; but a new user must learn early that its answers cannot hold code. The fixes are the ways
 * to a real checkpoint.
 */
function withDemoNote(i: EngineViewInput, v: EngineView): EngineView {
  return isDemoModel(i.modelPath) ? { ...v, note: DEMO_CHAT_NOTE, fixes: ['downloadModel', 'selectModel'] } : v;
}
