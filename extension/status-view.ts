/**
 * What the status bar item shows for an engine state: text, tooltip, screen-reader label and click
 * command. Pure, so the exact strings (which the end-to-end tests match) are unit-tested:
 * - loading: `$(sync~spin) Switchyard <pct>%`
 * - ready: text starts `$(check) Switchyard`, with the execution provider and the last completion
 *   latency; tooltip/label contain `Switchyard: ready`
 * - error: tooltip/label contain `Switchyard: error` and the message
 * - no model: tooltip/label contain `Switchyard: no model`
 * - remote endpoint failing: tooltip/label contain `Switchyard: remote endpoint failing` and the message
 */
import type { EngineState } from './engine/engine-host.ts';

export interface StatusInput {
  state: EngineState;
  completionsEnabled: boolean;
  /** switchyard.model.path is set (before the engine starts, "idle" shows as "no model" without it). */
  modelConfigured: boolean;
  /** The last completion's latency (request sent -> result), if any yet. */
  lastLatencyMs?: number;
  /** switchyard.remote.endpoint when set: requests go there and the local engine is not used. */
  remoteEndpoint?: string;
  /** The remote endpoint does not work (remote-health.ts): what went wrong and what fixes it. */
  remoteProblem?: { message: string; fix: 'settings' | 'apiKey' };
  /** Why remote completions continue the prefix only (no fill-in-the-middle way found), with the fix. */
  remoteFimWarning?: string;
}

/** A status bar click: a command id, or a command with arguments. */
export type StatusCommand = string | { title: string; command: string; arguments?: unknown[] };

export interface StatusView {
  text: string;
  tooltip: string;
  label: string;
  command: StatusCommand;
  /** Show the item in the error colours. */
  error: boolean;
}

export function statusView(i: StatusInput): StatusView {
  if (i.remoteEndpoint && i.remoteProblem) {
    const p = i.remoteProblem;
    const fix = p.fix === 'apiKey' ? 'click to set the API key' : 'click to check the switchyard.remote settings';
    const t = `Switchyard: remote endpoint failing — ${p.message} (${fix})`;
    const command: StatusCommand =
      p.fix === 'apiKey'
        ? 'switchyard.setRemoteApiKey'
        : { title: 'Open the remote endpoint settings', command: 'workbench.action.openSettings', arguments: ['switchyard.remote'] };
    return { text: '$(error) Switchyard remote', tooltip: t, label: t, command, error: true };
  }
  if (i.remoteEndpoint) {
    const latency = i.lastLatencyMs === undefined ? '' : ` ${Math.round(i.lastLatencyMs)} ms`;
    const t =
      `Switchyard: remote — ${i.remoteEndpoint} serves chat, refactors and completions${i.completionsEnabled ? '' : ' (completions off)'}` +
      (i.remoteFimWarning ? `. ${i.remoteFimWarning}` : '');
    const warn = i.remoteFimWarning ? ' $(warning)' : '';
    return { text: `$(cloud) Switchyard remote${warn}${latency}${i.completionsEnabled ? '' : ' (off)'}`, tooltip: t, label: t, command: 'switchyard.showEngineStatus', error: false };
  }
  const s: EngineState = i.state.kind === 'idle' && !i.modelConfigured ? { kind: 'no-model' } : i.state;
  const off = i.completionsEnabled ? '' : ' (completions off)';
  switch (s.kind) {
    case 'idle': {
      const t = `Switchyard: idle — the engine starts on the first completion${off}`;
      return { text: '$(circle-outline) Switchyard', tooltip: t, label: t, command: 'switchyard.showEngineStatus', error: false };
    }
    case 'no-model': {
      const t = 'Switchyard: no model — click to select a model folder (switchyard.model.path)';
      return { text: '$(circle-slash) Switchyard', tooltip: t, label: t, command: 'switchyard.selectModelFolder', error: false };
    }
    case 'starting': {
      const t = 'Switchyard: starting the engine';
      return { text: '$(sync~spin) Switchyard 0%', tooltip: t, label: t, command: 'switchyard.showEngineLog', error: false };
    }
    case 'loading': {
      const t = `Switchyard: loading the model, ${s.percent}% — ${s.message}`;
      return { text: `$(sync~spin) Switchyard ${s.percent}%`, tooltip: t, label: t, command: 'switchyard.showEngineLog', error: false };
    }
    case 'restarting': {
      const t = `Switchyard: restarting the engine after a crash (${s.crashes} recently), in ${Math.round(s.delayMs / 1000)} s`;
      return { text: '$(sync~spin) Switchyard restarting', tooltip: t, label: t, command: 'switchyard.showEngineLog', error: false };
    }
    case 'ready': {
      const latency = i.lastLatencyMs === undefined ? '' : ` ${Math.round(i.lastLatencyMs)} ms`;
      const name = s.info.model.split(/[\\/]/).filter(Boolean).pop() ?? s.info.model;
      const t =
        `Switchyard: ready — ${name} (${s.info.architecture}, ${s.info.quant}) on ${s.info.provider}` +
        (s.info.kvCache === 'gpu-buffer' ? ' (KV cache on the GPU)' : '') +
        (s.info.experts && s.info.experts.mode !== 'none' ? `; ${s.info.experts.summary}` : '') +
        (i.lastLatencyMs === undefined ? '' : `, last completion ${Math.round(i.lastLatencyMs)} ms`) +
        (i.completionsEnabled ? '' : '; completions are off (click to turn on)');
      return {
        text: `$(check) Switchyard ${s.info.provider}${latency}${i.completionsEnabled ? '' : ' (off)'}`,
        tooltip: t,
        label: t,
        command: 'switchyard.toggleCompletions',
        error: false,
      };
    }
    case 'error': {
      const t = `Switchyard: error — ${s.problem.message}`;
      return { text: '$(error) Switchyard', tooltip: t, label: t, command: 'switchyard.showEngineStatus', error: true };
    }
  }
}
