/**
 * Model management commands: Download Model (from the Hugging Face hub, resumable, with a
 * cancellable progress notification) and Manage Models (use with a fit check first, reveal, remove).
 * The download itself runs here in the extension host (engine/models/download.ts needs no engine);
 * the fit check asks the engine (`inspect`), which reads only the model's headers.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Settings } from '../config.ts';
import { updateSetting } from '../settings.ts';
import { downloadModel, isDownloadError } from '../../engine/models/download.ts';
import { formatSize } from '../../engine/models/format.ts';
import { modelFolderName } from '../../engine/models/repo-id.ts';
import { describeModel, hasDownloadedData, listModels, removeModel, type StoredModel } from '../../engine/models/store.ts';
import type { InspectModelResult } from '../../engine/protocol/protocol.ts';
import {
  downloadFailure,
  fitReport,
  fitVerdict,
  HF_TOKEN_SECRET,
  modelItem,
  parseRepoInput,
  ProgressSteps,
  progressText,
  REPO_PLACEHOLDER,
  samePath,
  validateRepoInput,
  validateToken,
} from './format.ts';

export interface ModelCommandDeps {
  settings: () => Settings;
  /** The models folder, resolved (the setting, or the extension's global storage). */
  modelsFolder: () => string;
  secrets: vscode.SecretStorage;
  /** The engine's fit check for a checkpoint folder; undefined when there is no engine to ask. */
  inspect: (modelDir: string) => Promise<InspectModelResult | undefined>;
  /** Switches to the model in `dir` (sets model.path; the engine reloads). */
  useModel: (dir: string) => Promise<void>;
  log: (level: 'info' | 'warn' | 'error', m: string) => void;
}

const errorText = (e: unknown) => String((e as Error)?.message ?? e);

/** Shows the fit check for a folder (weights there or config.json alone) without switching to it. */
export async function showFitCheck(deps: Pick<ModelCommandDeps, 'inspect' | 'log'>, dir: string, name: string): Promise<void> {
  let r: InspectModelResult | undefined;
  try {
    r = await deps.inspect(dir);
  } catch (e) {
    deps.log('error', `fit check of ${dir} failed: ${errorText(e)}`);
    void vscode.window.showErrorMessage(`Switchyard: fit check of ${name} failed: ${errorText(e)}`);
    return;
  }
  if (!r) return void vscode.window.showWarningMessage('Switchyard: no engine to ask for the fit check (the engine could not be started).');
  const f = fitReport(r, name);
  deps.log('info', `fit check ${name}: ${r.message}`);
  if (f.fits) await vscode.window.showInformationMessage(f.message, { modal: true, detail: f.detail });
  else await vscode.window.showWarningMessage(f.message, { modal: true, detail: f.detail });
}

/** Checks that the model fits, then switches to it; asks first when it does not fit. */
export async function useWithFitCheck(deps: Pick<ModelCommandDeps, 'inspect' | 'useModel' | 'log'>, dir: string, name: string): Promise<void> {
  let r: InspectModelResult | undefined;
  try {
    r = await deps.inspect(dir);
  } catch (e) {
    deps.log('error', `fit check of ${dir} failed: ${errorText(e)}`);
    void vscode.window.showErrorMessage(`Switchyard: ${name} cannot be used: ${errorText(e)}`);
    return;
  }
  if (r) {
    const v = fitVerdict(r);
    deps.log('info', `fit check ${name}: ${r.message}`);
    if (!v.fits) {
      const anyway = 'Use Anyway';
      const withQuant = v.suggestQuant ? `Use with ${v.suggestQuant}` : undefined;
      const pick = await vscode.window.showWarningMessage(
        `${name} ${v.summary}.`,
        { modal: true, detail: v.detail },
        ...(withQuant ? [withQuant] : []),
        anyway,
      );
      if (!pick) return;
      if (pick === withQuant && v.suggestQuant) await updateSetting('model.quantization', v.suggestQuant);
    } else {
      void vscode.window.showInformationMessage(`Switchyard: ${name} ${v.summary}.`);
    }
  }
  await deps.useModel(dir);
}

export function registerModelCommands(deps: ModelCommandDeps): vscode.Disposable[] {
  /** Repos downloading now: a second request for one would race on its .part files. */
  const active = new Set<string>();

  async function askToken(): Promise<boolean> {
    const token = await vscode.window.showInputBox({
      title: 'Hugging Face token',
      prompt: 'A read token from https://huggingface.co/settings/tokens (kept in VS Code\'s secret storage). Gated models also need their terms accepted on the model page.',
      password: true,
      ignoreFocusOut: true,
      validateInput: validateToken,
    });
    if (!token) return false;
    await deps.secrets.store(HF_TOKEN_SECRET, token.trim());
    deps.log('info', 'Hugging Face token saved');
    return true;
  }

  async function download(repo: string, revision?: string): Promise<void> {
    if (active.has(repo)) {
      void vscode.window.showInformationMessage(`Switchyard: ${repo} is already downloading.`);
      return;
    }
    active.add(repo);
    let again = false;
    try {
      again = await downloadOnce(repo, revision);
    } finally {
      active.delete(repo);
    }
    if (again) await download(repo, revision);
  }

  /** One attempt; true when the user asked to try again (after setting a token, or to resume). */
  async function downloadOnce(repo: string, revision?: string): Promise<boolean> {
    const s = deps.settings();
    const dir = deps.modelsFolder();
    const accessToken = (await deps.secrets.get(HF_TOKEN_SECRET)) || undefined;
    deps.log('info', `downloading ${repo}${revision ? `@${revision}` : ''} from ${s.hubUrl} into ${dir}`);
    let result;
    try {
      result = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Downloading ${repo}`, cancellable: true },
        async (progress, token) => {
          const ac = new AbortController();
          const sub = token.onCancellationRequested(() => ac.abort());
          const steps = new ProgressSteps();
          try {
            return await downloadModel({
              repo,
              revision,
              dir,
              hubUrl: s.hubUrl,
              accessToken,
              signal: ac.signal,
              onProgress: (p) => progress.report({ message: progressText(p), increment: steps.next(p) }),
            });
          } finally {
            sub.dispose();
          }
        },
      );
    } catch (e) {
      const cancelled = isDownloadError(e) && e.kind === 'cancelled';
      // (An invalid id has no folder: modelFolderName throws, and there is nothing to resume.)
      const resumable = await Promise.resolve()
        .then(() => hasDownloadedData(path.join(dir, modelFolderName(repo))))
        .catch(() => false);
      const f = downloadFailure(repo, isDownloadError(e) ? e : { message: errorText(e) }, { hubUrl: s.hubUrl, resumable });
      deps.log(cancelled ? 'info' : 'error', `download of ${repo}: ${errorText(e)}`);
      if (cancelled) {
        void vscode.window.showInformationMessage(`Switchyard: ${f.message}`);
        return false;
      }
      if (f.action === 'setToken') {
        const set = accessToken ? 'Change Token' : 'Set Hugging Face Token';
        return (await vscode.window.showErrorMessage(`Switchyard: ${f.message}`, set)) === set && (await askToken());
      }
      if (f.action === 'retry' || f.action === 'resume') {
        const again = f.action === 'resume' ? 'Resume' : 'Retry';
        const hub = 'Set Hub URL';
        const pick = await vscode.window.showErrorMessage(`Switchyard: ${f.message}`, again, hub);
        if (pick === hub) await vscode.commands.executeCommand('workbench.action.openSettings', 'switchyard.models.hubUrl');
        return pick === again;
      }
      void vscode.window.showErrorMessage(`Switchyard: ${f.message}`);
      return false;
    }
    for (const w of result.warnings) deps.log('warn', w);
    deps.log('info', `downloaded ${repo} (${formatSize(result.downloadedBytes)} received, ${result.skipped.length} files already there) to ${result.path}`);
    const use = 'Use This Model';
    const pick = await vscode.window.showInformationMessage(`Switchyard: downloaded ${repo}.${result.warnings.length ? ` ${result.warnings.join(' ')}` : ''}`, use);
    if (pick === use) await useWithFitCheck(deps, result.path, repo);
    return false;
  }

  async function remove(folder: string, m: StoredModel): Promise<void> {
    const inUse = deps.settings().modelPath === m.path;
    const ok = 'Remove';
    const pick = await vscode.window.showWarningMessage(
      `Remove ${m.repo ?? m.name}?`,
      { modal: true, detail: `This deletes ${m.path} (${formatSize(m.sizeBytes)}).${inUse ? ' It is the model in use: completions stop until another one is chosen.' : ''}` },
      ok,
    );
    if (pick !== ok) return;
    try {
      await removeModel(folder, m.path);
      deps.log('info', `removed ${m.path}`);
      void vscode.window.showInformationMessage(`Switchyard: removed ${m.repo ?? m.name}.`);
    } catch (e) {
      deps.log('error', errorText(e));
      void vscode.window.showErrorMessage(`Switchyard: ${errorText(e)}`);
    }
  }

  async function manage(): Promise<void> {
    const folder = deps.modelsFolder();
    let models: StoredModel[];
    try {
      models = await listModels(folder);
    } catch (e) {
      void vscode.window.showErrorMessage(`Switchyard: ${errorText(e)}`);
      return;
    }
    type Item = vscode.QuickPickItem & { model?: StoredModel; download?: true };
    const current = deps.settings().modelPath;
    // The model in use may be outside the models folder (the demo's default, Select Model Folder): listed first.
    const outside = current && !models.some((m) => samePath(m.path, current)) ? await describeModel(current) : undefined;
    const outsideItem = (m: StoredModel): Item => {
      const row = modelItem(m, current);
      return { ...row, description: `${row.description} · outside the models folder`, model: m };
    };
    const items: Item[] = [
      ...(outside ? [outsideItem(outside)] : []),
      ...models.map((m) => ({ ...modelItem(m, current), model: m })),
      ...(models.length || outside ? [{ label: '', kind: vscode.QuickPickItemKind.Separator }] : []),
      { label: '$(cloud-download) Download a model...', detail: `into ${folder}`, download: true as const },
    ];
    const picked = await vscode.window.showQuickPick(items, {
      title: models.length ? `Switchyard models (${folder})` : `No models in ${folder} yet`,
      placeHolder: 'Choose a model',
      matchOnDescription: true,
      matchOnDetail: true,
    });
    if (!picked) return;
    if (picked.download) return void (await vscode.commands.executeCommand('switchyard.downloadModel'));
    const m = picked.model!;
    type Action = vscode.QuickPickItem & { run: () => Promise<void> };
    const actions: Action[] = [];
    if (m.state === 'complete') actions.push({ label: '$(play) Use', description: 'after a memory fit check', run: () => useWithFitCheck(deps, m.path, m.repo ?? m.name) });
    // The fit needs only config.json: it answers for a folder without weights too (e.g. V4-Flash before its download).
    if (m.modelType) actions.push({ label: '$(dashboard) Check Memory Fit', description: 'parameters, weights per quantisation, KV cache', run: () => showFitCheck(deps, m.path, m.repo ?? m.name) });
    if (m.state !== 'complete' && m.repo) actions.push({ label: '$(cloud-download) Resume Download', run: () => download(m.repo!, m.revision !== 'main' ? m.revision : undefined) });
    actions.push(
      { label: '$(folder-opened) Reveal in File Explorer', run: async () => void (await vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(m.path))) },
    );
    // Only what the models folder holds is removed from here; a folder elsewhere is the user's own.
    if (m !== outside) actions.push({ label: '$(trash) Remove...', run: () => remove(folder, m) });
    const action = await vscode.window.showQuickPick(actions, { title: m.repo ?? m.name, placeHolder: m.problem ?? `${formatSize(m.sizeBytes)}, ${m.path}` });
    await action?.run();
  }

  return [
    vscode.commands.registerCommand('switchyard.downloadModel', async (repoArg?: unknown) => {
      const hubUrl = deps.settings().hubUrl;
      const input =
        typeof repoArg === 'string'
          ? repoArg
          : await vscode.window.showInputBox({
              title: 'Download a model from the Hugging Face hub',
              prompt: `Model id or model page URL (${hubUrl}); only safetensors checkpoints can be used`,
              placeHolder: REPO_PLACEHOLDER,
              ignoreFocusOut: true,
              validateInput: (v) => validateRepoInput(v, hubUrl),
            });
      if (!input) return;
      const parsed = parseRepoInput(input, hubUrl);
      if (!parsed) {
        void vscode.window.showErrorMessage(`Switchyard: ${validateRepoInput(input, hubUrl)}`);
        return;
      }
      await download(parsed.repo, parsed.revision);
    }),
    vscode.commands.registerCommand('switchyard.manageModels', manage),
  ];
}
