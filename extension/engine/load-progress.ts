/**
 * A cancellable progress notification while the engine starts and loads a model (reading,
 * building, quantising, creating the session can take minutes for a large checkpoint on its first
 * load). Quick loads (from the build cache) finish before it appears: it opens only after a second.
 * Cancel stops the engine (EngineHost.cancelLoad); the status bar keeps showing the state either way.
 */
import * as vscode from 'vscode';
import type { EngineState } from './engine-host.ts';

const SHOW_AFTER_MS = 1000;

export class LoadProgress implements vscode.Disposable {
  #timer: NodeJS.Timeout | undefined;
  #open: { done: () => void; report: (p: { increment?: number; message?: string }) => void; shown: number } | undefined;
  #latest: EngineState = { kind: 'idle' };

  constructor(
    private readonly cancel: () => void,
    private readonly modelName: () => string,
  ) {}

  update(s: EngineState): void {
    this.#latest = s;
    const loading = s.kind === 'starting' || s.kind === 'loading';
    if (!loading) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#open?.done();
      this.#open = undefined;
      return;
    }
    if (this.#open) this.#report();
    else this.#timer ??= setTimeout(() => this.#show(), SHOW_AFTER_MS);
  }

  #report(): void {
    const o = this.#open;
    const s = this.#latest;
    if (!o || s.kind !== 'loading') return;
    const increment = Math.max(0, s.percent - o.shown);
    o.shown += increment;
    o.report({ increment, message: `${s.percent}% — ${s.message}` });
  }

  #show(): void {
    this.#timer = undefined;
    const k = this.#latest.kind;
    if (k !== 'starting' && k !== 'loading') return;
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Switchyard: loading ${this.modelName()}`, cancellable: true },
      (progress, token) =>
        new Promise<void>((resolve) => {
          this.#open = { done: resolve, report: (p) => progress.report(p), shown: 0 };
          token.onCancellationRequested(() => {
            this.#open = undefined;
            resolve();
            this.cancel();
          });
          this.#report();
        }),
    );
  }

  dispose(): void {
    clearTimeout(this.#timer);
    this.#open?.done();
    this.#open = undefined;
  }
}
