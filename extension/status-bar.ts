/**
 * The status bar item: engine state (starting, loading %, ready with provider and latency, error,
 * no model), clickable (see status-view.ts for the strings and commands).
 */
import * as vscode from 'vscode';
import { statusView, type StatusInput } from './status-view.ts';

export class StatusBar implements vscode.Disposable {
  readonly #item = vscode.window.createStatusBarItem('switchyard.status', vscode.StatusBarAlignment.Right, 100);
  #input: StatusInput;

  constructor(input: StatusInput) {
    this.#item.name = 'Switchyard';
    this.#input = input;
    this.#render();
    this.#item.show();
  }

  update(patch: Partial<StatusInput>): void {
    this.#input = { ...this.#input, ...patch };
    this.#render();
  }

  #render(): void {
    const v = statusView(this.#input);
    this.#item.text = v.text;
    this.#item.tooltip = v.tooltip;
    this.#item.accessibilityInformation = { label: v.label };
    this.#item.command = v.command;
    this.#item.backgroundColor = v.error ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  }

  dispose(): void {
    this.#item.dispose();
  }
}
