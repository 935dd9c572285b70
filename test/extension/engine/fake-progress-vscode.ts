/** The part of the 'vscode' API extension/engine/load-progress.ts uses: a recorded withProgress. */
export const ProgressLocation = { Notification: 15 };

export interface Shown {
  title: string;
  cancellable: boolean;
  reports: { increment?: number; message?: string }[];
  cancel: () => void;
  done: boolean;
}
export const shown: Shown[] = [];

export const window = {
  withProgress(o: { title: string; cancellable: boolean }, task: (p: { report(v: { increment?: number; message?: string }): void }, t: unknown) => Promise<void>) {
    const listeners: (() => void)[] = [];
    const s: Shown = { title: o.title, cancellable: o.cancellable, reports: [], cancel: () => listeners.forEach((l) => l()), done: false };
    shown.push(s);
    const token = { isCancellationRequested: false, onCancellationRequested: (l: () => void) => void listeners.push(l) };
    return task({ report: (v) => void s.reports.push(v) }, token).then(() => void (s.done = true));
  },
};
