/**
 * The "Switchyard" output channel: extension events, engine log notifications and the engine's
 * stderr (native library warnings, crash traces), so "Show Engine Log" explains what happened.
 *
 * Levels: info, warn and error say what happened (sizes, timings, ids, one line per ordinary user
 * error); the user's code, prompts, answers and proposed edits go only to trace, which VS Code
 * writes only when the user sets the channel's level to Trace ("Developer: Set Log Level...").
 */
import * as vscode from 'vscode';

export type LogLevel = 'trace' | 'info' | 'warn' | 'error';

export interface Logger {
  /** Content (code, answers, edits): written only when the user turned tracing on. */
  trace(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  show(): void;
  dispose(): void;
}

export function createLogger(): Logger {
  const channel = vscode.window.createOutputChannel('Switchyard', { log: true });
  return {
    trace: (m) => channel.trace(m),
    info: (m) => channel.info(m),
    warn: (m) => channel.warn(m),
    error: (m) => channel.error(m),
    show: () => channel.show(true),
    dispose: () => channel.dispose(),
  };
}
