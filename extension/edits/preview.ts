/**
 * The diff preview for edits the model proposes: `vscode.diff(original, proposed)`, where the
 * proposed side is a read-only virtual document (scheme `switchyard-proposed`) and the original side
 * is the real document (an empty virtual one for a file that does not exist yet). Accept applies one
 * WorkspaceEdit (one undo step) and does not save; Reject, closing the diff tab, or a newer proposal
 * discard it. Nothing touches a document or the disk before Accept.
 *
 * While a proposal is open the user may go on editing the real document. Accept then compares the
 * document's version with the proposal's: if it changed and the edited range is intact (the changes
 * were elsewhere), the diff is refreshed against the current text and offered again; if the changes
 * touched the range (or the proposal replaces the whole document), it is dropped with a message.
 */
import * as vscode from 'vscode';
import { mapRange, spliceText, type TextChange } from './proposal.ts';
import type { ProposedEdit, ProposeEdit } from './proposed-edit.ts';

export const PROPOSED_SCHEME = 'switchyard-proposed';
export const REVIEWING_CONTEXT_KEY = 'switchyard.reviewingEdit';

type Log = (level: 'info' | 'warn' | 'error', m: string) => void;

interface Active {
  id: number;
  /** Bumped when the diff is re-offered, so an older notification's buttons do nothing. */
  round: number;
  edit: ProposedEdit;
  proposedUri: vscode.Uri;
  originalUri: vscode.Uri;
  /** The existing document's state the proposal was computed against; undefined for a new file. */
  target?: {
    version: number;
    start: number;
    end: number;
    /** The text the edit replaces, to check it is still there at accept time. */
    replaced: string;
    whole: boolean;
    /** Edits of the document since `version` (to find where the range has moved). */
    changes: TextChange[];
  };
  resolve: (accepted: boolean) => void;
  /** An accept is under way: a second Accept, Reject or closing the tab must not race it. */
  settling: boolean;
  /** Closes the notification of the current round (set by #notify). */
  closeNotice?: () => void;
}

/** How many finished proposals' outcomes are remembered, to answer a late click on their links. */
const OUTCOMES_KEPT = 20;

export class EditPreview implements vscode.Disposable {
  readonly #content = new Map<string, string>();
  readonly #changed = new vscode.EventEmitter<vscode.Uri>();
  readonly #subscriptions: vscode.Disposable[];
  readonly #log: Log;
  readonly #onProposed: (e: ProposedEdit, proposedText: string) => void;
  #active: Active | undefined;
  #nextId = 1;
  /** Finished proposals by proposed URI: "accepted", "rejected", ... (a late Accept or Reject says so). */
  readonly #outcomes = new Map<string, string>();

  /** `onProposed` sees each proposal with the whole proposed document text (the trace records it). */
  constructor(opts: { log?: Log; onProposed?: (e: ProposedEdit, proposedText: string) => void } = {}) {
    this.#log = opts.log ?? (() => {});
    this.#onProposed = opts.onProposed ?? (() => {});
    this.#subscriptions = [
      this.#changed,
      vscode.workspace.registerTextDocumentContentProvider(PROPOSED_SCHEME, {
        onDidChange: this.#changed.event,
        provideTextDocumentContent: (uri) => this.#content.get(uri.toString()) ?? '',
      }),
      // The editor title buttons pass the diff's resource, the notification's links its URI as a
      // string; the palette passes nothing.
      vscode.commands.registerCommand('switchyard.acceptEdit', (uri?: unknown) => this.accept(asUri(uri))),
      vscode.commands.registerCommand('switchyard.rejectEdit', (uri?: unknown) => this.reject(asUri(uri))),
      vscode.window.tabGroups.onDidChangeTabs((e) => {
        const a = this.#active;
        if (a && !a.settling && e.closed.some((t) => this.#isDiffOf(t, a))) this.#finish(a, false, 'the diff was closed');
      }),
      vscode.workspace.onDidChangeTextDocument((e) => {
        const t = this.#active?.target;
        if (!t || e.document.uri.toString() !== this.#active!.edit.uri.toString()) return;
        for (const c of e.contentChanges) t.changes.push({ offset: c.rangeOffset, length: c.rangeLength, text: c.text });
      }),
    ];
  }

  /** The ProposeEdit the commands use (bound: pass it around as a function). */
  readonly propose: ProposeEdit = (e) => this.#propose(e);

  /** Whether a proposal is open (tests, the commands' "one at a time"). */
  get reviewing(): boolean {
    return this.#active !== undefined;
  }

  async #propose(e: ProposedEdit): Promise<boolean> {
    const id = this.#nextId++;
    // Only one proposal at a time: the new one replaces (rejects) the open one.
    if (this.#active) this.#finish(this.#active, false, 'a newer edit was proposed');
    const doc = await openIfExists(e.uri);
    if (this.#nextId !== id + 1) return false; // an even newer proposal arrived while the file was read
    const query = `proposal=${id}`;
    const proposedUri = e.uri.with({ scheme: PROPOSED_SCHEME, query, fragment: '' });
    let originalUri: vscode.Uri;
    let target: Active['target'];
    let proposedText: string;
    if (doc) {
      const text = doc.getText();
      const whole = e.range === undefined;
      const start = whole ? 0 : doc.offsetAt(e.range!.start);
      const end = whole ? text.length : doc.offsetAt(e.range!.end);
      target = { version: doc.version, start, end, replaced: text.slice(start, end), whole, changes: [] };
      originalUri = doc.uri;
      proposedText = spliceText(text, start, end, e.newText);
    } else {
      originalUri = e.uri.with({ scheme: PROPOSED_SCHEME, query: `${query}&side=original`, fragment: '' });
      this.#content.set(originalUri.toString(), '');
      proposedText = e.newText;
    }
    this.#content.set(proposedUri.toString(), proposedText);
    this.#onProposed(e, proposedText);
    let resolve!: (accepted: boolean) => void;
    const accepted = new Promise<boolean>((r) => (resolve = r));
    const a: Active = { id, round: 0, edit: e, proposedUri, originalUri, target, resolve, settling: false };
    this.#active = a;
    await vscode.commands.executeCommand('setContext', REVIEWING_CONTEXT_KEY, true);
    try {
      await vscode.commands.executeCommand('vscode.diff', originalUri, proposedUri, e.title, { preview: false });
    } catch (err) {
      this.#log('error', `cannot show the proposed edit: ${err instanceof Error ? err.message : String(err)}`);
      void vscode.window.showErrorMessage(`Switchyard: cannot show the proposed edit: ${err instanceof Error ? err.message : String(err)}`);
      this.#finish(a, false, 'the diff could not be shown');
    }
    if (this.#active === a) this.#notify(a);
    return accepted;
  }

  /** Applies the open proposal (the one shown in `uri`'s diff, when given). Resolves true when applied. */
  async accept(uri?: vscode.Uri): Promise<boolean> {
    const a = this.#current(uri);
    if (!a) {
      void vscode.window.showInformationMessage(this.#stale(uri) ?? 'Switchyard: there is no proposed edit to accept.');
      return false;
    }
    if (a.settling) return false;
    a.settling = true;
    try {
      return await this.#apply(a);
    } finally {
      a.settling = false;
    }
  }

  async #apply(a: Active): Promise<boolean> {
    const name = vscode.workspace.asRelativePath(a.edit.uri, false);
    const edit = new vscode.WorkspaceEdit();
    if (a.target) {
      const t = a.target;
      const doc = await vscode.workspace.openTextDocument(a.edit.uri);
      if (this.#active !== a) return false;
      if (doc.version !== t.version) {
        this.#refresh(a, doc, name);
        return false;
      }
      edit.replace(doc.uri, new vscode.Range(doc.positionAt(t.start), doc.positionAt(t.end)), a.edit.newText);
    } else {
      if (await openIfExists(a.edit.uri)) {
        void vscode.window.showWarningMessage(`Switchyard: ${name} was created after the edit was proposed; nothing was changed. Run the command again.`);
        this.#finish(a, false, 'the file appeared');
        return false;
      }
      if (this.#active !== a) return false;
      edit.createFile(a.edit.uri, { overwrite: false, ignoreIfExists: false });
      edit.insert(a.edit.uri, new vscode.Position(0, 0), a.edit.newText);
    }
    // One WorkspaceEdit: one undo step. Not saved: the user saves.
    const ok = await vscode.workspace.applyEdit(edit);
    if (!ok) {
      void vscode.window.showErrorMessage(`Switchyard: VS Code could not apply the edit to ${name}.`);
      this.#finish(a, false, 'applyEdit failed');
      return false;
    }
    this.#finish(a, true, 'accepted');
    await vscode.window.showTextDocument(a.edit.uri, { preview: false });
    return true;
  }

  /** Discards the open proposal (the one shown in `uri`'s diff, when given). */
  async reject(uri?: vscode.Uri): Promise<void> {
    const a = this.#current(uri);
    if (!a) {
      void vscode.window.showInformationMessage(this.#stale(uri) ?? 'Switchyard: there is no proposed edit to reject.');
      return;
    }
    if (!a.settling) this.#finish(a, false, 'rejected');
  }

  /** What to say to an Accept or Reject aimed at a proposal that is already decided. */
  #stale(uri: vscode.Uri | undefined): string | undefined {
    const outcome = uri && this.#outcomes.get(uri.toString());
    if (!outcome) return undefined;
    return `Switchyard: that proposed edit to ${vscode.workspace.asRelativePath(uri.with({ scheme: 'file', query: '' }), false)} was already ${outcome}.`;
  }

  dispose(): void {
    if (this.#active) this.#finish(this.#active, false, 'the extension was deactivated');
    for (const s of this.#subscriptions) s.dispose();
  }

  /**
   * Accept found the document changed since the proposal: nothing is applied. The proposal is
   * re-offered on the current text when the range is intact (the user reviews the fresh diff and
   * accepts again), or dropped when the changes touched it.
   */
  #refresh(a: Active, doc: vscode.TextDocument, name: string): void {
    const t = a.target!;
    const text = doc.getText();
    const moved = t.whole ? undefined : mapRange(t.start, t.end, t.changes);
    if (!moved || text.slice(moved.start, moved.end) !== t.replaced) {
      void vscode.window.showWarningMessage(
        `Switchyard: ${name} changed where the edit applies since it was proposed; nothing was changed. Run the command again.`,
      );
      this.#finish(a, false, 'the document changed under the edit');
      return;
    }
    Object.assign(t, { version: doc.version, start: moved.start, end: moved.end, changes: [] });
    this.#content.set(a.proposedUri.toString(), spliceText(text, moved.start, moved.end, a.edit.newText));
    this.#changed.fire(a.proposedUri);
    a.round++;
    void vscode.window.showWarningMessage(
      `Switchyard: ${name} changed since the edit was proposed; the diff now shows the edit on the current text. Review it and accept again.`,
    );
    this.#notify(a);
  }

  #current(uri: vscode.Uri | undefined): Active | undefined {
    const a = this.#active;
    if (!a || !uri || uri.scheme !== PROPOSED_SCHEME) return a;
    const u = uri.toString();
    return u === a.proposedUri.toString() || u === a.originalUri.toString() ? a : undefined;
  }

  /**
   * The non-modal "Accept / Reject" notification. A progress notification, not a message with
   * buttons: VS Code gives extensions no way to close a message, and a decision taken in the diff's
   * title bar must close it too (one decision, every surface). Its Accept and Reject are command
   * links naming this proposal's URI, so they never act on another one.
   */
  #notify(a: Active): void {
    a.closeNotice?.();
    const name = vscode.workspace.asRelativePath(a.edit.uri, false);
    const args = encodeURIComponent(JSON.stringify([a.proposedUri.toString()]));
    const closed = new Promise<void>((r) => (a.closeNotice = r));
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Switchyard proposes an edit to ${name}`, cancellable: false },
      (progress) => {
        progress.report({ message: `[Accept](command:switchyard.acceptEdit?${args}) or [Reject](command:switchyard.rejectEdit?${args})` });
        return closed;
      },
    );
  }

  #finish(a: Active, accepted: boolean, why: string): void {
    if (this.#active !== a) return;
    this.#active = undefined;
    a.closeNotice?.();
    this.#outcomes.set(a.proposedUri.toString(), accepted ? 'accepted' : why === 'rejected' ? 'rejected' : `discarded (${why})`);
    if (this.#outcomes.size > OUTCOMES_KEPT) this.#outcomes.delete(this.#outcomes.keys().next().value!);
    this.#log('info', `proposed edit to ${a.edit.uri.toString()}: ${accepted ? 'applied' : `discarded (${why})`}`);
    void vscode.commands.executeCommand('setContext', REVIEWING_CONTEXT_KEY, false);
    a.resolve(accepted);
    const tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter((t) => this.#isDiffOf(t, a));
    const forget = () => {
      this.#content.delete(a.proposedUri.toString());
      this.#content.delete(a.originalUri.toString());
    };
    if (tabs.length === 0) forget();
    else void Promise.resolve(vscode.window.tabGroups.close(tabs)).then(forget, forget);
  }

  #isDiffOf(tab: vscode.Tab, a: Active): boolean {
    return tab.input instanceof vscode.TabInputTextDiff && tab.input.modified.toString() === a.proposedUri.toString();
  }
}

/** The document at `uri` when it is open or exists on disk; undefined for a file yet to be created. */
async function openIfExists(uri: vscode.Uri): Promise<vscode.TextDocument | undefined> {
  const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (open) return open;
  if (uri.scheme === 'untitled') return undefined;
  try {
    await vscode.workspace.fs.stat(uri);
  } catch {
    return undefined;
  }
  return vscode.workspace.openTextDocument(uri);
}

/** A command argument naming a proposal: a Uri (editor title buttons) or its string (notification links). */
function asUri(u: unknown): vscode.Uri | undefined {
  if (u instanceof vscode.Uri) return u;
  if (typeof u === 'string' && u.startsWith(`${PROPOSED_SCHEME}:`)) {
    try {
      return vscode.Uri.parse(u, true);
    } catch {
      return undefined;
    }
  }
  return undefined;
}
