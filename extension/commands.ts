/**
 * The palette commands. Each one that needs the engine starts it if it has not started (the engine
 * starts on first use: a completion or one of these).
 */
import * as vscode from 'vscode';
import type { Settings } from './config.ts';
import type { EngineHost } from './engine/engine-host.ts';
import type { Logger } from './log.ts';
import { updateSetting } from './settings.ts';
import { statusView } from './status-view.ts';

export interface CommandDeps {
  host: EngineHost;
  log: Logger;
  settings: () => Settings;
  /** Switches to a model folder after the engine's memory fit check (extension/models/commands.ts). */
  useModel?: (dir: string) => Promise<void>;
}

const gib = (b: number) => `${(b / 1024 ** 3).toFixed(2)} GiB`;

export function registerCommands(d: CommandDeps): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand('switchyard.selectModelFolder', async () => {
      const current = d.settings().modelPath;
      const picked = await vscode.window.showOpenDialog({
        title: 'Switchyard: select a Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer.json)',
        openLabel: 'Use This Model',
        canSelectFolders: true,
        canSelectFiles: false,
        canSelectMany: false,
        defaultUri: current ? vscode.Uri.file(current) : undefined,
      });
      if (!picked?.[0]) return;
      if (d.useModel) return d.useModel(picked[0].fsPath);
      // The settings listener restarts an engine that was in use; an idle one starts here, since
      // choosing a model is a request to load it.
      await updateSetting('model.path', picked[0].fsPath);
      d.host.startIfIdle();
    }),
    vscode.commands.registerCommand('switchyard.toggleCompletions', async () => {
      const on = !d.settings().completionsEnabled;
      await updateSetting('completions.enabled', on);
      vscode.window.setStatusBarMessage(`Switchyard: completions ${on ? 'on' : 'off'}`, 3000);
    }),
    vscode.commands.registerCommand('switchyard.showEngineLog', () => d.log.show()),
    vscode.commands.registerCommand('switchyard.restartEngine', async () => {
      d.log.info('restart requested');
      await d.host.restart();
    }),
    vscode.commands.registerCommand('switchyard.showEngineStatus', async () => {
      d.host.startIfIdle();
      const s = d.host.state;
      const st = await d.host.status();
      const settings = d.settings();
      let text = statusView({ state: s, completionsEnabled: settings.completionsEnabled, modelConfigured: !!settings.modelPath }).tooltip;
      if (st?.model) {
        const c = st.cache;
        text +=
          ` | memory: RSS ${gib(st.memory.rssBytes)}; prefix cache ${c.entries} entries, ${gib(c.bytes)} of ${gib(c.budgetBytes)},` +
          ` ${c.hits} hits / ${c.misses} misses, ${c.reusedTokens} tokens reused, ${c.prefilledTokens} prefilled;` +
          ` requests ${st.requests.completed} completed, ${st.requests.cancelled} cancelled, ${st.requests.failed} failed`;
      }
      d.log.info(text);
      const buttons = s.kind === 'error' ? ['Show Engine Log', 'Restart Engine'] : s.kind === 'no-model' ? ['Select Model Folder'] : ['Show Engine Log'];
      const picked = await vscode.window.showInformationMessage(text, ...buttons);
      if (picked === 'Show Engine Log') d.log.show();
      else if (picked === 'Restart Engine') await d.host.restart();
      else if (picked === 'Select Model Folder') await vscode.commands.executeCommand('switchyard.selectModelFolder');
    }),
  ];
}
