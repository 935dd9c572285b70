/**
 * The demo's built-in model (`npm start` without SWITCHYARD_MODEL) has random weights: its text is
 * nonsense and it never closes a code fence, so refactors propose nothing and chat answers carry no
 * code block. The demo marks its checkpoint folder with DEMO_MARKER so the views can say so plainly
 * instead of leaving a new user to guess. No 'vscode' import: unit-tested directly.
 */
import fs from 'node:fs';
import path from 'node:path';

/** File in the checkpoint folder that marks the demo's random-weight model (written by scripts/start.mjs). */
export const DEMO_MARKER = 'switchyard-demo.json';

/** What the marker holds. */
export interface DemoMarker {
  randomWeights: true;
  note: string;
}

export const DEMO_MARKER_CONTENT: DemoMarker = {
  randomWeights: true,
  note: 'The Switchyard demo model: a tiny DeepSeek-V2 with random weights and the real DeepSeek-Coder tokenizer. Its output is nonsense.',
};

/** How to see what the demo model cannot show (the same words in the README's demo walkthrough). */
export const REAL_CHECKPOINT_HINT =
  'To see them, use a real checkpoint: Download Model or Select Model Folder (e.g. DeepSeek-Coder-V2-Lite-Base), or restart the demo with SWITCHYARD_MODEL=/path/to/checkpoint npm start.';

/** The chat view's line under the engine state while the demo model serves. */
export const DEMO_CHAT_NOTE = `Demo model with random weights: its answers are nonsense and never contain a code block, so refactors show no diff and there is nothing to insert or apply. ${REAL_CHECKPOINT_HINT}`;

/** The refactor warning when the demo model returned no complete code block for `label` (Fix, Rewrite, ...). */
export function demoRefactorMessage(label: string): string {
  return `Switchyard: nothing to propose for ${label}: the demo model has random weights and never closes a code block, so refactors cannot show a diff with it. ${REAL_CHECKPOINT_HINT}`;
}

let memo: { dir: string; demo: boolean } | undefined;

/** Whether `modelPath` is the demo's random-weight model (its marker says so). Remembered per path. */
export function isDemoModel(modelPath: string): boolean {
  if (!modelPath) return false;
  if (memo?.dir === modelPath) return memo.demo;
  let demo = false;
  try {
    const marker = JSON.parse(fs.readFileSync(path.join(modelPath, DEMO_MARKER), 'utf8')) as Partial<DemoMarker>;
    demo = marker.randomWeights === true;
  } catch {
    // no marker (every real checkpoint) or an unreadable one: not the demo model
  }
  memo = { dir: modelPath, demo };
  return demo;
}
