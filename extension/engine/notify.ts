/**
 * Problems the user must act on, as a notification with the actions that do the fix (never silence,
 * and never a dead-end message): no model -> select or download one; a bad folder -> the engine's
 * own one-line reason and select another; too large -> the engine's memory estimate and a smaller
 * quantisation; crash loop -> the log and a restart.
 *
 * One problem notification at a time, and only while the problem is current: a new problem replaces
 * it, and any other engine state (starting, loading, ready: the user fixed the setting) closes it.
 * VS Code cannot close a message notification (showErrorMessage) once shown, so the problem is a
 * progress notification, which closes when its task ends; such a notification has no buttons but
 * Cancel (here: dismiss), so the actions are command links in its text.
 */
import * as vscode from 'vscode';
import type { Problem } from './errors.ts';

export interface Action {
  title: string;
  /** The command the action runs, and its arguments. */
  command: string;
  args?: unknown[];
}

const selectModel: Action = { title: 'Select Model Folder', command: 'switchyard.selectModelFolder' };
const downloadModel: Action = { title: 'Download Model', command: 'switchyard.downloadModel' };
const showLog: Action = { title: 'Show Engine Log', command: 'switchyard.showEngineLog' };
const restart: Action = { title: 'Restart Engine', command: 'switchyard.restartEngine' };
const settings = (title: string, query: string): Action => ({ title, command: 'workbench.action.openSettings', args: [query] });

export function problemMessage(p: Problem, quantization: string): { text: string; actions: Action[] } {
  switch (p.kind) {
    case 'no-model':
      return {
        text: 'Switchyard: no model is configured. Select a Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer.json) or download a model to enable local completions.',
        actions: [selectModel, downloadModel],
      };
    case 'cancelled':
      return { text: 'Switchyard: loading the model was cancelled. Completions and chat are off until the engine is restarted.', actions: [{ ...restart, title: 'Load Model' }] };
    case 'load-failed':
      return { text: `Switchyard: cannot load the model: ${p.message}`, actions: [selectModel, showLog] };
    case 'too-large': {
      const smaller = quantization === 'none' ? 'int8' : quantization === 'int8' ? 'int4' : undefined;
      const actions: Action[] = smaller ? [settings(`Choose ${smaller} Quantization`, 'switchyard.model.quantization')] : [];
      actions.push(selectModel, showLog);
      return { text: `Switchyard: the model does not fit in memory: ${p.message}`, actions };
    }
    case 'crashed':
      return { text: `Switchyard: ${p.message}. Completions are off until the engine is restarted.`, actions: [showLog, restart] };
    case 'spawn-failed':
      return { text: `Switchyard: ${p.message}. Check switchyard.engine.nodePath (empty = VS Code's own runtime).`, actions: [settings('Open Settings', 'switchyard.engine.nodePath'), showLog] };
    case 'incompatible':
    case 'other':
      return { text: `Switchyard: ${p.message}`, actions: [showLog, restart] };
  }
}

/** A command link a notification renders (and runs when clicked): `[title](command:id?args)`. */
export function commandLink(a: Action): string {
  const args = a.args?.length ? `?${encodeURIComponent(JSON.stringify(a.args))}` : '';
  return `[${a.title}](command:${a.command}${args} "${a.title}")`;
}

/** The problem notification: at most one, open only while its problem is the engine's state. */
export class ProblemNotice implements vscode.Disposable {
  #close: (() => void) | undefined;

  /** Shows `p`, closing the one shown before. */
  show(p: Problem, quantization: string): void {
    this.clear();
    const m = problemMessage(p, quantization);
    const text = `${m.text.replace(/\.?$/, '.')} ${m.actions.map(commandLink).join(' · ')}`;
    let close!: () => void;
    const closed = new Promise<void>((resolve) => (close = resolve));
    this.#close = close;
    // Cancellable: VS Code shows a notification with a button expanded, so the whole text and its
    // links are visible (without one it is a single cut-off line); the button dismisses it.
    void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: text, cancellable: true }, (progress, token) => {
      token.onCancellationRequested(() => {
        if (this.#close === close) this.clear();
      });
      // A fixed, empty bar: the notification reports a state, not work in progress.
      progress.report({ increment: 0 });
      return closed;
    });
  }

  /** The engine moved on (loading, ready, stopped): the problem is no longer current. */
  clear(): void {
    const close = this.#close;
    this.#close = undefined;
    close?.();
  }

  dispose(): void {
    this.clear();
  }
}
