/**
 * Switchyard's extension host side: activation wires settings, the output channel and trace, the
 * engine host, the status bar, the inline completion provider and the commands.
 *
 * Activation is fast and does no engine work: the engine child process starts on first use (a
 * completion request or a command), in the background, with its progress on the status bar. "First
 * use" includes focusing an editor whose language has completions on while a model is configured:
 * loading takes seconds, so it starts as the user opens code rather than at the first keystroke,
 * and never for a window that only shows Markdown or has completions off.
 */
import * as vscode from 'vscode';
import { EngineClient } from '../engine/protocol/client.ts';
import { registerCommands } from './commands.ts';
import { completionsAllowed, type Settings } from './config.ts';
import { InlineProvider } from './completions/provider.ts';
import { Completer } from './completions/request.ts';
import { WorkspaceContext } from './context/workspace.ts';
import { EngineHost } from './engine/engine-host.ts';
import { notifyProblem } from './engine/notify.ts';
import { createLogger } from './log.ts';
import { onSettingsChanged, readSettings } from './settings.ts';
import { StatusBar } from './status-bar.ts';
import { Trace } from './trace.ts';

let host: EngineHost | undefined;

export function activate(context: vscode.ExtensionContext): void {
  const log = createLogger();
  const trace = new Trace(process.env.SWITCHYARD_TRACE_FILE || undefined, (line) => log.info(`trace ${line}`));
  let settings: Settings = readSettings();
  const current = () => settings;

  const status = new StatusBar({ state: { kind: 'idle' }, completionsEnabled: settings.completionsEnabled, modelConfigured: !!settings.modelPath });
  const logAt = (level: 'info' | 'warn' | 'error', m: string) => log[level](m);

  host = new EngineHost({
    settings: current,
    engineScript: context.asAbsolutePath('dist/engine.cjs'),
    cwd: context.extensionPath,
    spawn: (req) => EngineClient.spawn(req),
    log: logAt,
    trace: (e) => trace.event(e),
    onState: (state) => status.update({ state }),
    onProblem: (p) => void notifyProblem(p, current().quantization),
  });
  const engineHost = host;

  const workspaceContext = new WorkspaceContext();
  const completer = new Completer({
    settings: current,
    engine: async (signal) => {
      const client = await engineHost.ensureReady(signal);
      const s = engineHost.state;
      return client && s.kind === 'ready' ? { client, contextLength: s.info.contextLength } : undefined;
    },
    trace: (e) => trace.event(e),
    log: logAt,
    onLatency: (ms) => status.update({ lastLatencyMs: ms }),
  });
  const provider = new InlineProvider(completer, workspaceContext);

  const warmStart = (editor: vscode.TextEditor | undefined) => {
    if (!editor || !settings.modelPath || !['file', 'untitled', 'vscode-remote'].includes(editor.document.uri.scheme)) return;
    if (completionsAllowed(settings, editor.document.languageId)) engineHost.startIfIdle();
  };
  // After activation returns: spawning is quick, but activation must not wait even for that.
  setTimeout(() => warmStart(vscode.window.activeTextEditor), 0);

  context.subscriptions.push(
    { dispose: () => log.dispose() },
    vscode.window.onDidChangeActiveTextEditor(warmStart),
    status,
    workspaceContext,
    vscode.languages.registerInlineCompletionItemProvider({ pattern: '**' }, provider),
    ...registerCommands({ host: engineHost, log, settings: current }),
    onSettingsChanged((engineAffected) => {
      settings = readSettings();
      status.update({ completionsEnabled: settings.completionsEnabled, modelConfigured: !!settings.modelPath });
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
