/**
 * The chat's context chips from the editor: the selection ("main.py:12-30"), the active file
 * ("main.py") and @file mentions ("utils/io.py"), each as a window of its text within the chat's
 * context budget (chip-windows.ts decides how much of each).
 *
 * "Active" means the last text editor the user was in: while they type in the chat, focus is in the
 * webview, so `activeTextEditor` is not a reliable answer then. Output panes and other non-file
 * editors are ignored.
 *
 * Updates are debounced (selection changes come per mouse move): the view gets `context` messages
 * with the chips and the budget used. Token counts are estimates (chars per token, calibrated per
 * model) for choosing the windows, then exact counts from the backend's tokenizer once a backend is
 * ready; no engine is started just to count.
 */
import * as vscode from 'vscode';
import type { Budget, Chip } from '../../webview/protocol.ts';
import type { ModelBackend } from '../backend/backend.ts';
import type { Settings } from '../config.ts';
import { TokenCounter } from '../context/tokens.ts';
import { allocateChips, CHIP_OVERHEAD_TOKENS, chipBudget, withCounts, type ChipSource, type ChipWindow } from './chip-windows.ts';

const SCHEMES = new Set(['file', 'untitled', 'vscode-remote', 'vscode-vfs']);
/** Past this, a document is cut to the part around the cursor before windowing (a log file, a bundle). */
const MAX_SOURCE_CHARS = 1 << 20;
/** Mentioned files larger than this on disk are refused (they would not fit any budget). */
const MAX_MENTION_BYTES = 8 << 20;

export interface ContextChipsDeps {
  settings: () => Settings;
  /** The backend if one is ready now; must not start the engine. */
  readyBackend: () => Promise<ModelBackend | undefined>;
  /** Chips or budget changed. */
  onChange: (chips: Chip[], budget: Budget) => void;
  notice: (level: 'info' | 'error', text: string) => void;
  log: (level: 'info' | 'warn' | 'error', m: string) => void;
  /** Whether the chips are on screen; while they are not, editor events do no work (a send still reads them). */
  visible?: () => boolean;
  debounceMs?: number;
}

export interface WindowOptions {
  /** false: leave the selection out; true: include it even if its chip was removed. */
  selection?: boolean;
}

/** Lines as the chip windows count them: a final empty line (after a trailing newline) is not one. */
const linesOf = (d: vscode.TextDocument) => (d.lineCount > 1 && d.lineAt(d.lineCount - 1).text === '' ? d.lineCount - 1 : d.lineCount);
const usable = (e: vscode.TextEditor | undefined): e is vscode.TextEditor => !!e && SCHEMES.has(e.document.uri.scheme);
const basename = (p: string) => p.split(/[\\/]/).filter(Boolean).pop() ?? p;

/** 1-based first and last line of a selection; a selection ending at column 0 leaves that line out. */
export function selectionLines(sel: vscode.Selection | vscode.Range): [number, number] {
  const first = sel.start.line + 1;
  const last = sel.end.character === 0 && sel.end.line > sel.start.line ? sel.end.line : sel.end.line + 1;
  return [first, last];
}

export class ContextChips implements vscode.Disposable {
  #last: vscode.TextEditor | undefined;
  /** Mentioned files by URI string, in the order added. */
  readonly #mentions = new Map<string, vscode.Uri>();
  /** A removed selection chip stays removed until the selection changes (key: uri + range). */
  #removedSelection: string | undefined;
  /** A removed active-file chip stays removed until another file becomes active. */
  #removedFile: string | undefined;
  #windows: ChipWindow[] = [];
  #sent = '';
  #budget: Budget = { used: 0, total: 0 };
  #timer: NodeJS.Timeout | undefined;
  #seq = 0;
  readonly #counter = new TokenCounter();
  #backend: ModelBackend | undefined;
  /** Exact counts of chip texts, per backend (a file's window is often unchanged between refreshes). */
  readonly #exact = new Map<string, number>();
  readonly #subs: vscode.Disposable[] = [];

  constructor(private readonly deps: ContextChipsDeps) {
    this.#last = usable(vscode.window.activeTextEditor) ? vscode.window.activeTextEditor : undefined;
    const soon = () => this.refreshSoon();
    this.#subs.push(
      vscode.window.onDidChangeActiveTextEditor((e) => {
        if (!usable(e)) return; // focus went to the chat, a panel or a non-file editor: keep the last one
        if (this.#removedFile && this.#removedFile !== e.document.uri.toString()) this.#removedFile = undefined;
        this.#last = e;
        soon();
      }),
      vscode.window.onDidChangeTextEditorSelection((e) => {
        if (!usable(e.textEditor)) return;
        this.#last = e.textEditor;
        soon();
      }),
      vscode.window.onDidChangeVisibleTextEditors(soon),
      vscode.workspace.onDidChangeTextDocument((e) => {
        const uri = e.document.uri.toString();
        if (this.#last?.document.uri.toString() === uri || this.#mentions.has(uri)) soon();
      }),
    );
    this.refreshSoon();
  }

  /**
   * The editor that code actions and the selection chip refer to: the last usable text editor, as
   * long as it is still open (a closed editor's object can no longer edit); else a visible one.
   */
  lastEditor(): vscode.TextEditor | undefined {
    const visible = vscode.window.visibleTextEditors.filter(usable);
    const last = this.#last;
    if (last && visible.includes(last)) return last;
    const same = last && visible.find((v) => v.document === last.document);
    const active = vscode.window.activeTextEditor;
    const pick = same ?? (usable(active) ? active : visible[0]);
    this.#last = pick;
    return pick;
  }

  get chips(): Chip[] {
    return this.#windows.map((w) => w.chip);
  }

  get budget(): Budget {
    return this.#budget;
  }

  /** The backend (or none) changed: re-calibrate counts for its tokenizer and refresh. */
  backendChanged(): void {
    this.#backend = undefined;
    this.#exact.clear();
    this.#counter.reset();
    this.refreshSoon();
  }

  refreshSoon(): void {
    if (this.deps.visible && !this.deps.visible()) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.refresh();
    }, this.deps.debounceMs ?? 200);
  }

  /** Recompute now; resolves with the windows (what a message sent now would carry). */
  async refresh(opts: WindowOptions = {}): Promise<ChipWindow[]> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const seq = ++this.#seq;
    if (opts.selection === true) this.#removedSelection = undefined; // asked for explicitly (Explain Selection)
    try {
      const s = this.deps.settings();
      const backend = await this.#readyBackend();
      const total = chipBudget(s.chatBudgetTokens, backend?.contextLength, s.chatMaxTokens);
      const sources = await this.#sources(opts);
      if (backend && !this.#counter.calibrated) {
        await this.#counter.calibrate(sources.map((x) => x.text).join('\n').slice(0, 16_384));
      }
      let { windows } = allocateChips(sources, total, (t) => this.#counter.estimate(t));
      if (backend) {
        let counts = await this.#count(backend, windows);
        const exact = counts.reduce((a, b) => a + b, 0);
        const chars = windows.reduce((a, w) => a + w.text.length, 0);
        const used = withCounts(windows, counts).reduce((a, w) => a + w.chip.tokens, 0);
        if (used > total && chars > 0 && exact > 0) {
          // The estimate was optimistic for this text: calibrate on it and choose again.
          this.#counter.setCalibration(chars, exact);
          windows = allocateChips(sources, total, (t) => this.#counter.estimate(t)).windows;
          counts = await this.#count(backend, windows);
        }
        windows = withCounts(windows, counts);
      }
      // A newer refresh owns the view; a message sent without its selection does not change the chips shown.
      if (seq !== this.#seq || opts.selection === false) return windows;
      this.#set(windows, total);
      return windows;
    } catch (e) {
      this.deps.log('warn', `chat context: ${(e as Error).message}`);
      return seq === this.#seq ? this.#windows : [];
    }
  }

  /** Removes a chip (the view's ×). */
  remove(id: string): void {
    if (id === 'selection') this.#removedSelection = this.#selectionKey();
    else if (id === 'file') this.#removedFile = this.lastEditor()?.document.uri.toString();
    else if (id.startsWith('mention:')) this.#mentions.delete(id.slice('mention:'.length));
    // Show it gone at once; the refresh recomputes the budget shares.
    this.#set(
      this.#windows.filter((w) => w.chip.id !== id),
      this.#budget.total,
    );
    void this.refresh();
  }

  /**
   * Adds an @file mention from a quick pick of workspace files, open tabs first; resolves true when
   * one was added. `onAccept` runs when a file is picked, before the picker closes (see pickOne).
   */
  async pickFile(onAccept?: () => Thenable<unknown>): Promise<boolean> {
    const found = await vscode.workspace.findFiles('**/*', '{**/node_modules/**,**/.git/**}', 5000);
    const order = new Map<string, vscode.Uri>();
    const lastDoc = this.lastEditor()?.document.uri;
    if (lastDoc) order.set(lastDoc.toString(), lastDoc);
    // Open tabs approximate "recently used": each group's active tab first, then the others.
    const tabs = vscode.window.tabGroups.all.flatMap((g) => [g.activeTab, ...g.tabs]);
    for (const t of tabs) {
      const input = t?.input;
      if (input instanceof vscode.TabInputText && SCHEMES.has(input.uri.scheme)) order.set(input.uri.toString(), input.uri);
    }
    const recent = new Set(order.keys());
    const rest = found.filter((u) => !order.has(u.toString())).sort((a, b) => vscode.workspace.asRelativePath(a).localeCompare(vscode.workspace.asRelativePath(b)));
    for (const u of rest) order.set(u.toString(), u);
    const items = [...order.values()]
      .filter((u) => !this.#mentions.has(u.toString()))
      .map((uri) => {
        const rel = vscode.workspace.asRelativePath(uri, false);
        const dir = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';
        return { label: basename(rel), description: recent.has(uri.toString()) ? `${dir}${dir ? ' · ' : ''}open` : dir, uri };
      });
    if (items.length === 0) {
      this.deps.notice('info', 'No files to add: open a folder or a file first.');
      return false;
    }
    const picked = await pickOne(items, onAccept);
    if (!picked) return false;
    try {
      const st = await vscode.workspace.fs.stat(picked.uri);
      if (st.size > MAX_MENTION_BYTES) {
        this.deps.notice('error', `${picked.label} is too large to add (${Math.round(st.size / (1 << 20))} MB).`);
        return false;
      }
    } catch {
      // untitled or virtual documents have nothing to stat: opening them decides
    }
    this.#mentions.set(picked.uri.toString(), picked.uri);
    await this.refresh();
    return true;
  }

  dispose(): void {
    clearTimeout(this.#timer);
    for (const s of this.#subs) s.dispose();
  }

  // ---- internals ----------------------------------------------------------------------------

  #set(windows: ChipWindow[], total: number): void {
    this.#windows = windows;
    this.#budget = { used: windows.reduce((a, w) => a + w.chip.tokens, 0), total };
    // Selection events come per cursor move: tell the view only what it does not have.
    const sent = JSON.stringify([this.chips, this.#budget]);
    if (sent === this.#sent) return;
    this.#sent = sent;
    this.deps.onChange(this.chips, this.#budget);
  }

  async #readyBackend(): Promise<ModelBackend | undefined> {
    let b: ModelBackend | undefined;
    try {
      b = await this.deps.readyBackend();
    } catch {
      b = undefined;
    }
    if (b !== this.#backend) {
      this.#backend = b;
      this.#exact.clear();
      this.#counter.reset(b ? (t) => b.countTokens(t) : undefined);
    }
    return b;
  }

  async #count(b: ModelBackend, windows: readonly ChipWindow[]): Promise<number[]> {
    return Promise.all(
      windows.map(async (w) => {
        if (!w.text) return 0;
        const known = this.#exact.get(w.text);
        if (known !== undefined) return known;
        try {
          const n = await b.countTokens(w.text);
          if (this.#exact.size > 64) this.#exact.delete(this.#exact.keys().next().value!);
          this.#exact.set(w.text, n);
          return n;
        } catch {
          return Math.max(0, w.chip.tokens - CHIP_OVERHEAD_TOKENS);
        }
      }),
    );
  }

  #selectionKey(): string | undefined {
    const e = this.lastEditor();
    if (!e || e.selection.isEmpty) return undefined;
    const s = e.selection;
    return `${e.document.uri.toString()}#${s.start.line}:${s.start.character}-${s.end.line}:${s.end.character}`;
  }

  async #sources(opts: WindowOptions): Promise<ChipSource[]> {
    const out: ChipSource[] = [];
    const e = this.lastEditor();
    if (e) {
      const doc = e.document;
      const rel = vscode.workspace.asRelativePath(doc.uri, false);
      const name = basename(rel);
      const sel = e.selection;
      const key = this.#selectionKey();
      if (this.#removedSelection && key !== this.#removedSelection) this.#removedSelection = undefined;
      const wantSelection = opts.selection === true || (opts.selection !== false && key !== this.#removedSelection);
      if (!sel.isEmpty && wantSelection) {
        const [first, last] = selectionLines(sel);
        const range = new vscode.Range(first - 1, 0, last - 1, doc.lineAt(last - 1).range.end.character);
        // Whole lines: a selection starting mid-line reads better to the model with its line's start.
        const text = doc.getText(sel.start.line === sel.end.line ? sel : range);
        out.push({ id: 'selection', kind: 'selection', label: first === last ? `${name}:${first}` : `${name}:${first}-${last}`, path: rel, languageId: doc.languageId, text, firstLine: first, totalLines: linesOf(doc) });
      }
      const uri = doc.uri.toString();
      if (uri !== this.#removedFile && !this.#mentions.has(uri)) {
        let text = doc.getText();
        let start = doc.offsetAt(sel.start);
        let end = doc.offsetAt(sel.end);
        let firstLine = 1;
        if (text.length > MAX_SOURCE_CHARS) {
          const from = Math.max(0, start - MAX_SOURCE_CHARS / 2);
          const lineStart = doc.offsetAt(new vscode.Position(doc.positionAt(from).line, 0));
          firstLine = doc.positionAt(lineStart).line + 1;
          text = text.slice(lineStart, lineStart + MAX_SOURCE_CHARS);
          start -= lineStart;
          end = Math.min(end - lineStart, text.length);
        }
        out.push({ id: 'file', kind: 'file', label: name, path: rel, languageId: doc.languageId, text, firstLine, totalLines: linesOf(doc), focus: { start, end } });
      }
    }
    for (const [key, uri] of [...this.#mentions]) {
      try {
        const doc = await vscode.workspace.openTextDocument(uri);
        const rel = vscode.workspace.asRelativePath(uri, false);
        out.push({ id: `mention:${key}`, kind: 'mention', label: rel, path: rel, languageId: doc.languageId, text: doc.getText().slice(0, MAX_SOURCE_CHARS), totalLines: linesOf(doc) });
      } catch (err) {
        this.#mentions.delete(key);
        this.deps.notice('error', `Cannot add ${vscode.workspace.asRelativePath(uri, false)}: ${(err as Error).message}`);
      }
    }
    return out;
  }
}

type FileItem = vscode.QuickPickItem & { uri: vscode.Uri };

/**
 * A quick pick of files. On Enter `onAccept` runs while the picker is still open: it moves the focus
 * (to the chat view), and a picker that loses the focus closes without handing it back to the editor.
 * With showQuickPick the editor would get it, and keys typed meanwhile would land in the user's file.
 */
function pickOne(items: FileItem[], onAccept?: () => Thenable<unknown>): Promise<FileItem | undefined> {
  return new Promise((resolve) => {
    const qp = vscode.window.createQuickPick<FileItem>();
    qp.items = items;
    qp.title = 'Add a file to the chat context';
    qp.placeholder = 'Search files by name';
    qp.matchOnDescription = true;
    let picked: FileItem | undefined;
    let hidden = false;
    qp.onDidAccept(async () => {
      picked = qp.selectedItems[0] ?? qp.activeItems[0];
      if (!picked) return;
      try {
        await onAccept?.();
      } finally {
        if (!hidden) qp.hide(); // the focus change may have closed it already
      }
    });
    qp.onDidHide(() => {
      hidden = true;
      qp.dispose();
      resolve(picked);
    });
    qp.show();
  });
}
