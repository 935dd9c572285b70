/**
 * Problems the user must act on, as notifications with buttons that do the fix (never silence, and
 * never a dead-end message): no model -> select one; a bad folder -> the engine's own one-line reason
 * and select another; too large -> the engine's memory estimate and a smaller quantisation; crash
 * loop -> the log and a restart.
 */
import * as vscode from 'vscode';
import type { Problem } from './errors.ts';

interface Action {
  title: string;
  run: () => Thenable<unknown> | void;
}

const command = (id: string, ...args: unknown[]) => () => vscode.commands.executeCommand(id, ...args);
const selectModel: Action = { title: 'Select Model Folder', run: command('switchyard.selectModelFolder') };
const showLog: Action = { title: 'Show Engine Log', run: command('switchyard.showEngineLog') };
const restart: Action = { title: 'Restart Engine', run: command('switchyard.restartEngine') };
const settings = (query: string): Action => ({ title: 'Open Settings', run: command('workbench.action.openSettings', query) });

export function problemMessage(p: Problem, quantization: string): { text: string; actions: Action[]; severity: 'warning' | 'error' } {
  switch (p.kind) {
    case 'no-model':
      return {
        text: 'Switchyard: no model is configured. Select a Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer.json) to enable local completions.',
        actions: [selectModel],
        severity: 'warning',
      };
    case 'cancelled':
      return { text: 'Switchyard: loading the model was cancelled. Completions and chat are off until the engine is restarted.', actions: [{ ...restart, title: 'Load Model' }], severity: 'warning' };
    case 'load-failed':
      return { text: `Switchyard: cannot load the model: ${p.message}`, actions: [selectModel, showLog], severity: 'error' };
    case 'too-large': {
      const smaller = quantization === 'none' ? 'int8' : quantization === 'int8' ? 'int4' : undefined;
      const actions: Action[] = [];
      if (smaller) {
        actions.push({
          title: `Use ${smaller}`,
          run: () => vscode.workspace.getConfiguration('switchyard').update('model.quantization', smaller, vscode.ConfigurationTarget.Global),
        });
      }
      actions.push(selectModel, showLog);
      return { text: `Switchyard: the model does not fit in memory: ${p.message}`, actions, severity: 'error' };
    }
    case 'crashed':
      return { text: `Switchyard: ${p.message}. Completions are off until the engine is restarted.`, actions: [showLog, restart], severity: 'error' };
    case 'spawn-failed':
      return { text: `Switchyard: ${p.message}. Check switchyard.engine.nodePath (empty = VS Code's own runtime).`, actions: [settings('switchyard.engine.nodePath'), showLog], severity: 'error' };
    case 'incompatible':
    case 'other':
      return { text: `Switchyard: ${p.message}`, actions: [showLog, restart], severity: 'error' };
  }
}

/** Shows the notification; the chosen button's action runs. */
export async function notifyProblem(p: Problem, quantization: string): Promise<void> {
  const m = problemMessage(p, quantization);
  const show = m.severity === 'warning' ? vscode.window.showWarningMessage : vscode.window.showErrorMessage;
  const picked = await show(m.text, ...m.actions.map((a) => a.title));
  await m.actions.find((a) => a.title === picked)?.run();
}
