/**
 * The chat view's host side, wired together: the webview provider, the session (turns and
 * generation), the persisted history, the context chips, the code-block actions and the
 * `switchyard.newChat` command. extension.ts calls `registerChat` once at activation; nothing here
 * starts the engine until a message is sent.
 */
import type { LogLevel } from '../log.ts';
import * as vscode from 'vscode';
import type { EngineView, FixAction, HostMessage, ViewMessage, ViewState } from '../../webview/protocol.ts';
import type { ModelBackend } from '../backend/backend.ts';
import type { Settings } from '../config.ts';
import type { ProposeEdit } from '../edits/proposed-edit.ts';
import { applyCode, copyCode, insertCode } from './code-actions.ts';
import { ContextChips } from './context-chips.ts';
import { editorInfo } from './editor-info.ts';
import { ChatHistory } from './history.ts';
import { ChatSession } from './session.ts';
import { CHAT_VIEW_ID, ChatViewProvider } from './view-provider.ts';

export interface ChatDeps {
  extensionUri: vscode.Uri;
  workspaceState: vscode.Memento;
  settings: () => Settings;
  /** The ready backend (local engine or remote), starting the engine if needed; undefined when none can serve (no model, engine down), after the view shows why. */
  backend: (signal: AbortSignal) => Promise<ModelBackend | undefined>;
  /** The current engine view and an event when it changes. */
  engineView: () => EngineView;
  onEngineViewChanged: vscode.Event<void>;
  proposeEdit: ProposeEdit;
  /** Runs a fix button's action (select/download model, restart engine, show log, open settings). */
  runFix: (a: FixAction) => void;
  log: (level: LogLevel, m: string) => void;
}

export interface Chat {
  disposables: vscode.Disposable[];
  /** Reveals the chat and sends `question` (with the current selection chip unless `selectionChip` is false); resolves when the answer has finished. */
  ask(question: string, opts?: { selectionChip?: boolean }): Promise<void>;
}

/** Whether a backend can answer now without starting anything: only then are chip tokens counted by it. */
const serving = (v: EngineView) => v.kind === 'ready' || v.kind === 'remote';

export function registerChat(d: ChatDeps): Chat {
  const history = new ChatHistory(d.workspaceState, d.log);
  const view = new ChatViewProvider({ extensionUri: d.extensionUri, onMessage: (m) => onMessage(m), log: d.log });
  const post = (m: HostMessage) => view.post(m);
  const notice = (level: 'info' | 'error', text: string) => post({ type: 'notice', level, text });

  const chips = new ContextChips({
    settings: d.settings,
    readyBackend: async () => (serving(d.engineView()) ? d.backend(AbortSignal.timeout(5000)) : undefined),
    onChange: (c, budget) => post({ type: 'context', chips: c, budget }),
    notice,
    log: d.log,
    // The page says 'ready' each time it is shown (no retained context): that refreshes the chips.
    visible: () => view.visible,
  });

  // The Apply button's tooltip says what Apply will do, so the view is kept told about the editor.
  let editorSent = '';
  let editorTimer: NodeJS.Timeout | undefined;
  const editorSoon = () => {
    clearTimeout(editorTimer);
    editorTimer = setTimeout(() => void sendEditor(), 300);
  };
  const sendEditor = async () => {
    if (!view.visible) return;
    const e = chips.lastEditor();
    const info = e ? await editorInfo(e).catch(() => undefined) : undefined;
    const key = JSON.stringify(info ?? null);
    if (key === editorSent) return;
    editorSent = key;
    post(info ? { type: 'editor', info } : { type: 'editor' });
  };

  const session = new ChatSession({
    backend: d.backend,
    settings: d.settings,
    post,
    context: (o) => chips.refresh(o),
    history,
    log: d.log,
    turns: history.load(),
  });

  const state = (): ViewState => ({ turns: [...session.turns], chips: chips.chips, budget: chips.budget, engine: d.engineView(), busy: session.busy });

  const newChat = () => {
    session.newChat();
    post({ type: 'state', state: state() });
    post({ type: 'focus' });
  };

  /**
   * The @file / + File picker. When a quick pick closes, VS Code gives the focus back to the editor,
   * not to the webview, so the user's next keystrokes (meant for the chat) would land in their file:
   * the view takes the focus instead, then puts the caret back in the prompt.
   */
  async function pickFile(): Promise<void> {
    const focusView = async () => {
      try {
        await vscode.commands.executeCommand(`${CHAT_VIEW_ID}.focus`);
      } catch (e) {
        d.log('warn', `chat: cannot focus the chat view after the file picker: ${(e as Error).message}`);
      }
    };
    let added = false;
    try {
      // Focus moves to the view before the picker closes (see ContextChips.pickFile).
      added = await chips.pickFile(focusView);
    } catch (e) {
      notice('error', `Cannot add the file: ${(e as Error).message}`);
    }
    // After Escape (or a failure) the picker has already given the focus away: take it back.
    if (!added) await focusView();
    post({ type: 'picked', added });
  }

  function onMessage(m: ViewMessage): void {
    switch (m.type) {
      case 'ready':
        post({ type: 'state', state: state() });
        chips.refreshSoon();
        editorSent = '';
        editorSoon();
        return;
      case 'send':
        void session.send(m.text);
        return;
      case 'stop':
        session.stop();
        return;
      case 'newChat':
        newChat();
        return;
      case 'addFile':
        void pickFile();
        return;
      case 'removeChip':
        chips.remove(m.id);
        return;
      case 'copy':
        void copyCode(m.code, notice).catch((e: unknown) => notice('error', `Cannot copy: ${(e as Error).message}`));
        return;
      case 'insert':
        void insertCode(chips.lastEditor(), m.code, notice).catch((e: unknown) => notice('error', `Cannot insert: ${(e as Error).message}`));
        return;
      case 'apply':
        void applyCode(chips.lastEditor(), m.code, d.proposeEdit, notice).catch((e: unknown) => notice('error', `Cannot apply: ${(e as Error).message}`));
        return;
      case 'fix':
        d.runFix(m.action);
        return;
    }
  }

  // Recount the chips with the new tokenizer only when what serves changes, not on every loading tick.
  let servingKey = '';
  const engineChanged = () => {
    const v = d.engineView();
    post({ type: 'engine', engine: v });
    const key = serving(v) ? `${v.kind}:${v.message}` : '';
    if (key !== servingKey) {
      servingKey = key;
      chips.backendChanged();
    }
  };

  const disposables: vscode.Disposable[] = [
    vscode.window.registerWebviewViewProvider(CHAT_VIEW_ID, view),
    view,
    chips,
    d.onEngineViewChanged(engineChanged),
    vscode.workspace.onDidChangeConfiguration((e) => {
      // After extension.ts has re-read the settings (its listener may run after this one).
      if (e.affectsConfiguration('switchyard.chat') || e.affectsConfiguration('switchyard.remote')) chips.refreshSoon();
    }),
    vscode.commands.registerCommand('switchyard.newChat', newChat),
    vscode.window.onDidChangeTextEditorSelection(editorSoon),
    vscode.window.onDidChangeActiveTextEditor(editorSoon),
    vscode.workspace.onDidChangeTextDocument((e) => e.document === chips.lastEditor()?.document && editorSoon()),
    { dispose: () => clearTimeout(editorTimer) },
    {
      dispose: () => {
        // Keep what was streamed so far (restored as a cancelled answer), then stop the request.
        void history.save(session.turns);
        session.dispose();
      },
    },
  ];

  return {
    disposables,
    async ask(question, opts = {}) {
      if (session.busy) {
        void vscode.window.showInformationMessage('Switchyard: an answer is still being written in the chat; stop it or wait, then try again.');
        return;
      }
      try {
        await vscode.commands.executeCommand(`${CHAT_VIEW_ID}.focus`);
      } catch {
        await vscode.commands.executeCommand('workbench.view.extension.switchyard');
      }
      await session.send(question, { selection: opts.selectionChip !== false });
    },
  };
}
