/**
 * Switchyard's extension host side: activation wires settings, the output channel and trace, the
 * engine host, the backend choice (local engine or a remote OpenAI-compatible endpoint), the status
 * bar, the inline completion provider, the chat view, the refactor commands with their diff
 * preview, model management and the commands.
 *
 * Activation is fast and does no engine work: the engine child process starts on first use (a
 * completion request or a command), in the background, with its progress on the status bar. "First
 * use" includes focusing an editor whose language has completions on while a model is configured:
 * loading takes seconds, so it starts as the user opens code rather than at the first keystroke,
 * and never for a window that only shows Markdown or has completions off.
 */
import * as vscode from 'vscode';
import { EngineClient } from '../engine/protocol/client.ts';
import type { ModelBackend } from './backend/backend.ts';
import { registerApiKeyCommands, REMOTE_KEY_SECRET } from './backend/api-key.ts';
import { Backends } from './backend/select.ts';
import { engineView } from './chat/engine-view.ts';
import { registerChat } from './chat/register.ts';
import { EditPreview } from './edits/preview.ts';
import type { ProposeEdit } from './edits/proposed-edit.ts';
import { LoadProgress } from './engine/load-progress.ts';
import { registerModelCommands, useWithFitCheck } from './models/commands.ts';
import { registerRefactorCommands } from './refactor/commands.ts';
import type { FixAction } from '../webview/protocol.ts';
import path from 'node:path';
import { registerCommands } from './commands.ts';
import { completionsAllowed, engineContextLength, type Settings } from './config.ts';
import { InlineProvider } from './completions/provider.ts';
import { Completer } from './completions/request.ts';
import { WorkspaceContext } from './context/workspace.ts';
import { EngineHost } from './engine/engine-host.ts';
import { notifyProblem } from './engine/notify.ts';
import { createLogger } from './log.ts';
import { onSettingsChanged, readSettings, updateSetting } from './settings.ts';
import { StatusBar } from './status-bar.ts';
import { Trace } from './trace.ts';

let host: EngineHost | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const log = createLogger();
  const trace = new Trace(process.env.SWITCHYARD_TRACE_FILE || undefined, (line) => log.info(`trace ${line}`));
  let settings: Settings = readSettings();
  const current = () => settings;

  const status = new StatusBar({
    state: { kind: 'idle' },
    completionsEnabled: settings.completionsEnabled,
    modelConfigured: !!settings.modelPath,
    remoteEndpoint: settings.remoteEndpoint || undefined,
  });
  const logAt = (level: 'info' | 'warn' | 'error', m: string) => log[level](m);
  const engineViewChanged = new vscode.EventEmitter<void>();
  const loadProgress = new LoadProgress(
    () => void host?.cancelLoad(),
    () => path.basename(settings.modelPath) || 'the model',
  );

  host = new EngineHost({
    settings: current,
    engineScript: context.asAbsolutePath('dist/engine.cjs'),
    cwd: context.extensionPath,
    spawn: (req) => EngineClient.spawn(req),
    log: logAt,
    trace: (e) => trace.event(e),
    onState: (state) => {
      status.update({ state });
      loadProgress.update(state);
      engineViewChanged.fire();
    },
    onProblem: (p) => void notifyProblem(p, current().quantization),
  });
  const engineHost = host;

  const backends = new Backends({ settings: current, engine: engineHost, apiKey: () => Promise.resolve(context.secrets.get(REMOTE_KEY_SECRET)) });
  // Chat and refactor requests are traced (the end-to-end tests read what the model answered).
  const tracedBackend = async (signal?: AbortSignal): Promise<ModelBackend | undefined> => {
    const b = await backends.get(signal);
    if (!b) return undefined;
    // Not a spread: RemoteBackend's methods live on its prototype.
    return {
      kind: b.kind,
      label: b.label,
      contextLength: b.contextLength,
      complete: (p, sig) => b.complete(p, sig),
      countTokens: (t, sig) => b.countTokens(t, sig),
      chat: async (p, onDelta, sig) => {
        trace.event({ event: 'chat-request', backend: b.kind, messages: p.messages.length });
        try {
          const r = await b.chat(p, onDelta, sig);
          trace.event({ event: 'chat-result', backend: b.kind, text: r.text, finishReason: r.finishReason });
          return r;
        } catch (e) {
          trace.event({ event: 'chat-result', backend: b.kind, text: '', error: String((e as Error)?.message ?? e) });
          throw e;
        }
      },
    };
  };

  const workspaceContext = new WorkspaceContext();
  const completer = new Completer({
    settings: current,
    engine: async (signal) => {
      const b = await backends.get(signal);
      return b ? { client: b, contextLength: b.contextLength } : undefined;
    },
    trace: (e) => trace.event(e),
    log: logAt,
    onLatency: (ms) => status.update({ lastLatencyMs: ms }),
  });
  const provider = new InlineProvider(completer, workspaceContext);

  const preview = new EditPreview({
    log: logAt,
    onProposed: (e, newText) => trace.event({ event: 'edit-proposed', uri: e.uri.toString(), title: e.title, newText }),
  });
  const proposeEdit: ProposeEdit = async (e) => {
    const accepted = await preview.propose(e);
    trace.event({ event: 'edit-result', uri: e.uri.toString(), accepted });
    return accepted;
  };
  const fixCommands: Record<FixAction, () => Thenable<unknown>> = {
    selectModel: () => vscode.commands.executeCommand('switchyard.selectModelFolder'),
    downloadModel: () => vscode.commands.executeCommand('switchyard.downloadModel'),
    restartEngine: () => vscode.commands.executeCommand('switchyard.restartEngine'),
    showLog: () => vscode.commands.executeCommand('switchyard.showEngineLog'),
    openSettings: () => vscode.commands.executeCommand('workbench.action.openSettings', 'switchyard'),
  };
  const chat = registerChat({
    extensionUri: context.extensionUri,
    workspaceState: context.workspaceState,
    settings: current,
    backend: (signal) => tracedBackend(signal),
    engineView: () => engineView({ state: engineHost.state, remoteEndpoint: settings.remoteEndpoint, modelPath: settings.modelPath }),
    onEngineViewChanged: engineViewChanged.event,
    proposeEdit,
    runFix: (a) => void fixCommands[a](),
    log: logAt,
  });
  const modelsFolder = () => settings.modelsFolder || path.join(context.globalStorageUri.fsPath, 'models');
  const modelDeps = {
    inspect: (dir: string) =>
      engineHost.inspectModel({ model: dir, quant: settings.quantization, providers: settings.executionProviders, contextLength: engineContextLength(settings) }),
    useModel: async (dir: string) => {
      // The settings listener restarts an engine that was in use; an idle one starts here, since
      // choosing a model is a request to load it.
      await updateSetting('model.path', dir);
      engineHost.startIfIdle();
    },
    log: logAt,
  };

  const warmStart = (editor: vscode.TextEditor | undefined) => {
    if (backends.remote) return;
    if (!editor || !settings.modelPath || !['file', 'untitled', 'vscode-remote'].includes(editor.document.uri.scheme)) return;
    if (completionsAllowed(settings, editor.document.languageId)) engineHost.startIfIdle();
  };
  // After activation returns: spawning is quick, but activation must not wait even for that.
  setTimeout(() => warmStart(vscode.window.activeTextEditor), 0);

  context.subscriptions.push(
    { dispose: () => log.dispose() },
    vscode.window.onDidChangeActiveTextEditor(warmStart),
    status,
    loadProgress,
    engineViewChanged,
    preview,
    workspaceContext,
    ...chat.disposables,
    ...registerRefactorCommands({ backend: (signal) => tracedBackend(signal), settings: current, ask: (q) => chat.ask(q), proposeEdit, log: logAt }),
    ...registerModelCommands({ ...modelDeps, settings: current, modelsFolder, secrets: context.secrets }),
    ...registerApiKeyCommands(context.secrets, () => settings.remoteEndpoint),
    vscode.languages.registerInlineCompletionItemProvider({ pattern: '**' }, provider),
    ...registerCommands({ host: engineHost, log, settings: current, useModel: (dir) => useWithFitCheck(modelDeps, dir, path.basename(dir)) }),
    onSettingsChanged((engineAffected) => {
      settings = readSettings();
      status.update({ completionsEnabled: settings.completionsEnabled, modelConfigured: !!settings.modelPath, remoteEndpoint: settings.remoteEndpoint || undefined });
      engineViewChanged.fire();
      completer.settingsChanged();
      if (engineAffected) void engineHost.settingsChanged();
      warmStart(vscode.window.activeTextEditor);
    }),
  );
  log.info(`activated (engine: ${context.asAbsolutePath('dist/engine.cjs')}, model: ${settings.modelPath || 'none configured'})`);
}

/** VS Code waits (briefly) for this: ask the engine to exit cleanly, kill it otherwise. */
export async function deactivate(): Promise<void> {
  await host?.dispose();
  host = undefined;
}
