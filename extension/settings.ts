/**
 * Reads and writes the `switchyard.*` settings through VS Code (the typed view and defaults live in
 * config.ts, which tests use without an editor).
 */
import * as vscode from 'vscode';
import { normalizeSettings, type RawSettings, type Settings } from './config.ts';

const KEYS = [
  'model.path',
  'model.quantization',
  'engine.executionProviders',
  'engine.nodePath',
  'engine.gpuMemoryBudget',
  'completions.enabled',
  'completions.languages',
  'completions.debounceMs',
  'completions.maxTokens',
  'context.budgetTokens',
  'chat.maxTokens',
  'chat.budgetTokens',
  'chat.thinking',
  'remote.endpoint',
  'remote.model',
  'remote.timeoutSeconds',
  'remote.contextLength',
  'remote.fimFormat',
  'models.folder',
  'models.hubUrl',
] as const satisfies readonly (keyof RawSettings)[];

/** Settings whose change needs a new engine (another model, build or process). */
export const ENGINE_KEYS = ['model.path', 'model.quantization', 'engine.executionProviders', 'engine.gpuMemoryBudget', 'engine.nodePath'] as const;

export function readSettings(): Settings {
  const c = vscode.workspace.getConfiguration('switchyard');
  const raw: RawSettings = {};
  for (const k of KEYS) raw[k] = c.get(k);
  return normalizeSettings(raw);
}

/** Calls `onChange` with whether the engine must restart, whenever a switchyard.* setting changes. */
export function onSettingsChanged(onChange: (engineAffected: boolean) => void): vscode.Disposable {
  return vscode.workspace.onDidChangeConfiguration((e) => {
    if (!e.affectsConfiguration('switchyard')) return;
    onChange(ENGINE_KEYS.some((k) => e.affectsConfiguration(`switchyard.${k}`)));
  });
}

/** Writes a setting where it currently takes effect (workspace folder/workspace if set there, else user). */
export async function updateSetting(key: (typeof KEYS)[number], value: unknown): Promise<void> {
  const c = vscode.workspace.getConfiguration('switchyard');
  const i = c.inspect(key);
  const target =
    i?.workspaceFolderValue !== undefined
      ? vscode.ConfigurationTarget.WorkspaceFolder
      : i?.workspaceValue !== undefined
        ? vscode.ConfigurationTarget.Workspace
        : vscode.ConfigurationTarget.Global;
  await c.update(key, value, target);
}
