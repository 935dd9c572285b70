/**
 * The editor's refactor commands: Explain (asks the chat view), Fix, Add Documentation, Generate
 * Tests and Rewrite with Instruction (propose an edit in the diff preview; nothing changes until
 * the user accepts it there).
 *
 * Each edit command snapshots the selection, generates under a cancellable progress notification
 * (greedy with prompt lookup, see run.ts), takes the code out of the answer and proposes it. With
 * no selection, Fix and Add Documentation work on the whole file and Generate Tests on the whole
 * file; Rewrite asks for a selection.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { BackendError, type ModelBackend } from '../backend/backend.ts';
import type { Settings } from '../config.ts';
import { demoRefactorMessage, isDemoModel } from '../demo-model.ts';
import { TokenCounter } from '../context/tokens.ts';
import type { ProposedEdit, ProposeEdit } from '../edits/proposed-edit.ts';
import { appendedText } from './extract.ts';
import { buildRefactorPrompt, explainQuestion, type RefactorKind } from './prompts.ts';
import { locateSelection, runRefactor, type RefactorOutcome } from './run.ts';
import { testFilePath } from './test-file.ts';

export interface RefactorDeps {
  /** The model to ask, started or loaded on demand; undefined when there is none (no model, engine down). */
  backend: (signal: AbortSignal) => Promise<ModelBackend | undefined>;
  settings: () => Settings;
  /** Sends a question to the chat view (Explain). */
  ask: (question: string) => Promise<void>;
  proposeEdit: ProposeEdit;
  log: (level: 'info' | 'warn' | 'error', m: string) => void;
}

const LABEL: Record<RefactorKind, string> = { fix: 'Fix', document: 'Add Documentation', tests: 'Generate Tests', rewrite: 'Rewrite' };
const JS_LIKE = new Set(['javascript', 'typescript', 'javascriptreact', 'typescriptreact']);
/** How often the progress notification's token count is refreshed. */
const PROGRESS_MS = 150;

/**
 * The progress notification's text: the tokens the backend has generated (it counts them; the
 * answer's characters would overstate them) against the limit. Undefined from a backend that does
 * not count: then no number rather than a guess.
 */
export function progressMessage(thinking: boolean, tokens: number | undefined, maxTokens: number): string {
  const what = thinking ? 'thinking...' : 'writing...';
  return tokens === undefined ? what : `${what} ${tokens} of at most ${maxTokens} tokens`;
}

export function registerRefactorCommands(d: RefactorDeps): vscode.Disposable[] {
  // Menus pass the clicked resource as an argument; the commands act on the active editor anyway.
  const guard = (name: string, run: () => Promise<void>) => async () => {
    try {
      await run();
    } catch (e) {
      if (isBackendError(e) && e.code === 'cancelled') return; // the user cancelled
      const m = e instanceof Error ? e.message : String(e);
      // A BackendError is an ordinary failure (no model, endpoint down): one line; anything else is a bug.
      d.log('error', `${name}: ${!isBackendError(e) && e instanceof Error && e.stack ? e.stack : m}`);
      // A BackendError's message is written for the user (it names the problem and the fix).
      void vscode.window.showErrorMessage(isBackendError(e) ? m : `Switchyard: ${name} failed: ${m}`);
    }
  };
  return [
    vscode.commands.registerCommand('switchyard.explainSelection', guard('Explain', () => explain(d))),
    vscode.commands.registerCommand('switchyard.fixSelection', guard(LABEL.fix, () => refactor(d, 'fix'))),
    vscode.commands.registerCommand('switchyard.documentSelection', guard(LABEL.document, () => refactor(d, 'document'))),
    vscode.commands.registerCommand('switchyard.generateTests', guard(LABEL.tests, () => refactor(d, 'tests'))),
    vscode.commands.registerCommand('switchyard.rewriteSelection', guard(LABEL.rewrite, () => refactor(d, 'rewrite'))),
  ];
}

/** By name too: a second copy of backend.ts (another bundle) has its own class. */
const isBackendError = (e: unknown): e is BackendError => e instanceof BackendError || (e instanceof Error && e.name === 'BackendError');

function sourceEditor(what: string): vscode.TextEditor | undefined {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showInformationMessage(`Switchyard: open a file and select the code to ${what} first.`);
    return undefined;
  }
  if (editor.document.uri.scheme === 'switchyard-proposed') {
    void vscode.window.showInformationMessage('Switchyard: this is a proposed edit; accept or reject it first, then run the command on the file.');
    return undefined;
  }
  return editor;
}

const displayPath = (uri: vscode.Uri) => (uri.scheme === 'untitled' ? path.posix.basename(uri.path) : vscode.workspace.asRelativePath(uri, false));

async function explain(d: RefactorDeps): Promise<void> {
  const editor = sourceEditor('explain');
  if (!editor) return;
  const doc = editor.document;
  const sel = editor.selection;
  const text = doc.getText();
  // No selection: the whole file, when it fits what a chat message may carry.
  const cap = d.settings().chatBudgetTokens; // 0: follows the model, whose context the chat's own check applies
  if (sel.isEmpty && cap > 0 && new TokenCounter().estimate(text) > cap) {
    void vscode.window.showInformationMessage('Switchyard: select the code to explain (the file is too long to explain whole).');
    return;
  }
  const start = doc.offsetAt(sel.start);
  const end = doc.offsetAt(sel.end);
  await d.ask(explainQuestion({ path: displayPath(doc.uri), languageId: doc.languageId, text, start, end }));
}

/** The document at `uri` when it is open or exists; undefined otherwise. */
async function readIfExists(uri: vscode.Uri): Promise<vscode.TextDocument | undefined> {
  const open = vscode.workspace.textDocuments.find((t) => t.uri.toString() === uri.toString());
  if (open) return open;
  try {
    await vscode.workspace.fs.stat(uri);
  } catch {
    return undefined;
  }
  return vscode.workspace.openTextDocument(uri);
}

/** The nearest package.json's text, from the source's folder up to its workspace folder (or 8 levels). */
async function nearestPackageJson(uri: vscode.Uri): Promise<string | undefined> {
  const root = vscode.workspace.getWorkspaceFolder(uri)?.uri.path;
  let dir = path.posix.dirname(uri.path);
  for (let i = 0; i < 8; i++) {
    try {
      const bytes = await vscode.workspace.fs.readFile(uri.with({ path: path.posix.join(dir, 'package.json') }));
      return new TextDecoder().decode(bytes);
    } catch {
      // not here: look one folder up
    }
    const up = path.posix.dirname(dir);
    if (up === dir || dir === root) break;
    dir = up;
  }
  return undefined;
}

async function noBackend(d: RefactorDeps): Promise<void> {
  const s = d.settings();
  if (!s.modelPath && !s.remoteEndpoint) {
    const pick = await vscode.window.showWarningMessage(
      'Switchyard: no model is configured. Select a Hugging Face checkpoint folder, download a model (or set switchyard.remote.endpoint) to use the refactor commands.',
      'Select Model Folder',
      'Download Model',
    );
    if (pick === 'Select Model Folder') await vscode.commands.executeCommand('switchyard.selectModelFolder');
    else if (pick === 'Download Model') await vscode.commands.executeCommand('switchyard.downloadModel');
    return;
  }
  const pick = await vscode.window.showErrorMessage('Switchyard: the model is not available (the engine is not running or could not load it). The engine log says why.', 'Show Engine Log', 'Select Model Folder');
  if (pick === 'Show Engine Log') await vscode.commands.executeCommand('switchyard.showEngineLog');
  else if (pick === 'Select Model Folder') await vscode.commands.executeCommand('switchyard.selectModelFolder');
}

async function refactor(d: RefactorDeps, kind: RefactorKind): Promise<void> {
  const editor = sourceEditor(kind === 'tests' ? 'test' : kind === 'document' ? 'document' : kind);
  if (!editor) return;
  const doc = editor.document;
  const sel = editor.selection;
  const label = LABEL[kind];
  if (kind === 'rewrite' && sel.isEmpty) {
    void vscode.window.showInformationMessage('Switchyard: select the code to rewrite first.');
    return;
  }

  // The snapshot the answer is computed for (taken before any await: the user may type meanwhile).
  const text = doc.getText();
  const version = doc.version;
  const start = doc.offsetAt(sel.start);
  const end = doc.offsetAt(sel.end);
  const selection = text.slice(start, end);
  const linePrefix = doc.lineAt(sel.start.line).text.slice(0, sel.start.character);

  let instruction: string | undefined;
  if (kind === 'rewrite') {
    instruction = (
      await vscode.window.showInputBox({
        title: 'Switchyard: Rewrite with Instruction',
        prompt: 'How should the selected code change?',
        placeHolder: 'e.g. use async/await instead of callbacks',
        ignoreFocusOut: true,
      })
    )?.trim();
    if (!instruction) return; // Escape or nothing typed: cancelled
  }

  let testUri: vscode.Uri | undefined;
  let existingTests: vscode.TextDocument | undefined;
  let packageJson: string | undefined;
  if (kind === 'tests') {
    if (doc.isUntitled) {
      void vscode.window.showInformationMessage('Switchyard: save the file first; Generate Tests puts the tests in a file next to it.');
      return;
    }
    testUri = doc.uri.with({ path: testFilePath(doc.uri.path, doc.languageId) });
    existingTests = await readIfExists(testUri);
    if (JS_LIKE.has(doc.languageId)) packageJson = await nearestPackageJson(doc.uri);
  }

  const settings = d.settings();
  const counter = new TokenCounter();
  const estimate = (s: string) => counter.estimate(s);
  const shownPath = displayPath(doc.uri);

  const outcome = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Switchyard: ${label}`, cancellable: true },
    async (progress, token): Promise<RefactorOutcome | undefined> => {
      const ac = new AbortController();
      const sub = token.onCancellationRequested(() => ac.abort());
      try {
        progress.report({ message: 'waiting for the model...' });
        const backend = await d.backend(ac.signal);
        if (ac.signal.aborted) return undefined;
        if (!backend) {
          void noBackend(d);
          return undefined;
        }
        const prompt = buildRefactorPrompt({
          kind,
          path: shownPath,
          languageId: doc.languageId,
          text,
          start,
          end,
          instruction,
          testPath: testUri ? displayPath(testUri) : undefined,
          existingTests: existingTests?.getText(),
          packageJson,
          budgetTokens: settings.chatBudgetTokens,
          contextLength: backend.contextLength,
          maxTokens: settings.chatMaxTokens,
          estimate,
        });
        if (prompt.tokens + settings.chatMaxTokens > backend.contextLength) {
          void vscode.window.showWarningMessage(
            `Switchyard: the ${prompt.wholeFile ? 'file' : 'selection'} is too long for the model (about ${prompt.tokens} tokens plus ${settings.chatMaxTokens} for the answer; ${backend.label} takes ${backend.contextLength}). Select less code.`,
          );
          return undefined;
        }
        if (kind !== 'tests' && prompt.selectionTokens > settings.chatMaxTokens) {
          // The answer repeats the selection: it could not be complete within the limit.
          void vscode.window
            .showWarningMessage(
              `Switchyard: the ${prompt.wholeFile ? 'file' : 'selection'} (about ${prompt.selectionTokens} tokens) is longer than an answer may be (switchyard.chat.maxTokens = ${settings.chatMaxTokens}). Select less code or raise the limit.`,
              'Open Settings',
            )
            .then((pick) => pick && vscode.commands.executeCommand('workbench.action.openSettings', 'switchyard.chat.maxTokens'));
          return undefined;
        }
        d.log('info', `${label}: ${shownPath} [${start}, ${end}) with ${backend.label}, ~${prompt.tokens} prompt tokens`);
        let last = 0;
        return await runRefactor(backend, prompt, {
          maxTokens: settings.chatMaxTokens,
          // prompt.selection is the whole file when nothing is selected.
          extract: kind === 'tests' ? {} : { selection: prompt.selection, linePrefix: prompt.wholeFile ? '' : linePrefix },
          signal: ac.signal,
          onText: (answer, reasoningChars, tokens) => {
            const now = Date.now();
            if (now - last < PROGRESS_MS) return;
            last = now;
            progress.report({ message: progressMessage(answer === '' && reasoningChars > 0, tokens, settings.chatMaxTokens) });
          },
        });
      } finally {
        sub.dispose();
      }
    },
  );
  if (!outcome) return;
  const u = outcome.result.usage;
  d.log(
    'info',
    `${label}: ${outcome.result.finishReason}, ${u.completionTokens} tokens, ${u.promptTokens} prompt (${u.cachedTokens} cached)` +
      (u.draftedTokens ? `, drafts accepted ${u.acceptedTokens ?? 0}/${u.draftedTokens}` : '') +
      (outcome.problem ? `: ${outcome.problem}` : ''),
  );
  if ((outcome.problem === 'no code' || outcome.problem === 'cut off') && !settings.remoteEndpoint && isDemoModel(settings.modelPath)) {
    // The demo's random-weight model never closes a fence: say that, not "raise the limit".
    const pick = await vscode.window.showWarningMessage(demoRefactorMessage(label), 'Download Model', 'Select Model Folder');
    if (pick === 'Download Model') await vscode.commands.executeCommand('switchyard.downloadModel');
    else if (pick === 'Select Model Folder') await vscode.commands.executeCommand('switchyard.selectModelFolder');
    return;
  }
  switch (outcome.problem) {
    case 'cancelled':
      return;
    case 'no code':
      void vscode.window.showWarningMessage(`Switchyard: the model returned no code for ${label}; nothing is proposed.`);
      return;
    case 'cut off': {
      const pick = await vscode.window.showWarningMessage(
        `Switchyard: the answer reached switchyard.chat.maxTokens (${settings.chatMaxTokens}) before the code was complete; nothing is proposed. Raise the limit or select less code.`,
        'Open Settings',
      );
      if (pick) await vscode.commands.executeCommand('workbench.action.openSettings', 'switchyard.chat.maxTokens');
      return;
    }
    case 'unchanged':
      void vscode.window.showInformationMessage(`Switchyard: the model proposes no change to the ${start === end ? 'file' : 'selection'}.`);
      return;
  }

  let edit: ProposedEdit;
  if (kind === 'tests') {
    const name = path.posix.basename(testUri!.path);
    if (existingTests) {
      const existing = existingTests.getText();
      const endPos = existingTests.positionAt(existing.length);
      edit = { uri: testUri!, range: new vscode.Range(endPos, endPos), newText: appendedText(existing, outcome.extracted.code), title: `Tests: ${name}` };
    } else {
      edit = { uri: testUri!, newText: outcome.extracted.code, title: `Tests: ${name}` };
    }
  } else {
    const title = `${label}: ${path.posix.basename(doc.uri.path)}`;
    if (start === end) {
      // The whole file: only when it did not change meanwhile (a whole-file replace would undo those edits).
      if (doc.version !== version) {
        void vscode.window.showWarningMessage(`Switchyard: ${shownPath} changed while the model was working; run ${label} again.`);
        return;
      }
      edit = { uri: doc.uri, newText: outcome.extracted.code, title };
    } else {
      const at = doc.version === version ? { start, end } : locateSelection(doc.getText(), start, end, selection);
      if (!at) {
        void vscode.window.showWarningMessage(`Switchyard: the selected code in ${shownPath} changed while the model was working; run ${label} again.`);
        return;
      }
      edit = { uri: doc.uri, range: new vscode.Range(doc.positionAt(at.start), doc.positionAt(at.end)), newText: outcome.extracted.code, title };
    }
  }
  // Not awaited: the proposal stays open until the user decides, and the command is done.
  d.proposeEdit(edit).then(
    (accepted) => d.log('info', `${label}: proposal ${accepted ? 'accepted' : 'not accepted'}`),
    (e: unknown) => {
      d.log('error', `${label}: cannot propose the edit: ${e instanceof Error ? e.message : String(e)}`);
      void vscode.window.showErrorMessage(`Switchyard: cannot show the proposed edit: ${e instanceof Error ? e.message : String(e)}`);
    },
  );
}
