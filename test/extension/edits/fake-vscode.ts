/**
 * A stand-in for the parts of the VS Code API the diff preview and the refactor commands use, with
 * documents and a "disk" that record every write, so tests can check that nothing is written
 * before the user accepts. `loadWithFakeVscode` bundles a module with esbuild ('vscode' left
 * external, as in the real build) and runs it against the fake.
 */
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as esbuild from 'esbuild';
import { repoDir } from '../../helpers/paths.ts';

type Listener<T> = (e: T) => unknown;

export class EventEmitter<T> {
  #listeners = new Set<Listener<T>>();
  event = (l: Listener<T>) => {
    this.#listeners.add(l);
    return { dispose: () => this.#listeners.delete(l) };
  };
  fire(e: T): void {
    for (const l of [...this.#listeners]) l(e);
  }
  dispose(): void {
    this.#listeners.clear();
  }
}

export class Uri {
  constructor(
    readonly scheme: string,
    readonly path: string,
    readonly query = '',
    readonly fragment = '',
  ) {}
  static file(p: string): Uri {
    return new Uri('file', p);
  }
  /** The inverse of toString (below). */
  static parse(s: string): Uri {
    const m = /^([^:]+):\/\/([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/.exec(s);
    if (!m) throw new Error(`fake Uri.parse: cannot parse ${s}`);
    return new Uri(m[1]!, m[2]!, m[3] ?? '', m[4] ?? '');
  }
  get fsPath(): string {
    return this.path;
  }
  with(c: { scheme?: string; path?: string; query?: string; fragment?: string }): Uri {
    return new Uri(c.scheme ?? this.scheme, c.path ?? this.path, c.query ?? this.query, c.fragment ?? this.fragment);
  }
  toString(): string {
    return `${this.scheme}://${this.path}${this.query ? `?${this.query}` : ''}${this.fragment ? `#${this.fragment}` : ''}`;
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}

export class Range {
  constructor(
    readonly start: Position,
    readonly end: Position,
  ) {}
  get isEmpty(): boolean {
    return this.start.line === this.end.line && this.start.character === this.end.character;
  }
}

export class Selection extends Range {}

export type EditOp =
  | { op: 'replace'; uri: Uri; range: Range; text: string }
  | { op: 'insert'; uri: Uri; position: Position; text: string }
  | { op: 'createFile'; uri: Uri; options: unknown };

export class WorkspaceEdit {
  readonly ops: EditOp[] = [];
  replace(uri: Uri, range: Range, text: string): void {
    this.ops.push({ op: 'replace', uri, range, text });
  }
  insert(uri: Uri, position: Position, text: string): void {
    this.ops.push({ op: 'insert', uri, position, text });
  }
  createFile(uri: Uri, options: unknown): void {
    this.ops.push({ op: 'createFile', uri, options });
  }
}

export class TabInputTextDiff {
  constructor(
    readonly original: Uri,
    readonly modified: Uri,
  ) {}
}

export class FakeDocument {
  version = 1;
  saves = 0;
  constructor(
    readonly uri: Uri,
    public text: string,
    readonly languageId = 'python',
  ) {}
  get isUntitled(): boolean {
    return this.uri.scheme === 'untitled';
  }
  getText(): string {
    return this.text;
  }
  offsetAt(p: Position): number {
    const lines = this.text.split('\n');
    let off = 0;
    for (let i = 0; i < p.line && i < lines.length; i++) off += lines[i]!.length + 1;
    return Math.min(this.text.length, off + p.character);
  }
  positionAt(offset: number): Position {
    const before = this.text.slice(0, Math.max(0, Math.min(offset, this.text.length)));
    const lines = before.split('\n');
    return new Position(lines.length - 1, lines[lines.length - 1]!.length);
  }
  lineAt(line: number): { text: string } {
    return { text: this.text.split('\n')[line] ?? '' };
  }
  async save(): Promise<boolean> {
    this.saves++;
    return true;
  }
}

export interface Shown {
  kind: 'info' | 'warning' | 'error';
  message: string;
  items: string[];
  /** Clicks a button (or dismisses with undefined). */
  pick: (item: string | undefined) => void;
}

export function createFakeVscode() {
  const docs: FakeDocument[] = [];
  /** Files on "disk" (path -> text); writes are recorded separately. */
  const disk = new Map<string, string>();
  const diskWrites: string[] = [];
  const applied: WorkspaceEdit[] = [];
  const messages: Shown[] = [];
  const context = new Map<string, unknown>();
  const commands = new Map<string, (...a: unknown[]) => unknown>();
  const executed: { id: string; args: unknown[] }[] = [];
  const providers = new Map<string, { provideTextDocumentContent(u: Uri): string; onDidChange?: (l: Listener<Uri>) => unknown }>();
  const shownDocs: Uri[] = [];
  const onDidChangeTextDocument = new EventEmitter<unknown>();
  const onDidChangeTabs = new EventEmitter<{ opened: unknown[]; closed: unknown[]; changed: unknown[] }>();
  const group = { tabs: [] as { label: string; input: unknown }[] };
  const inputBox: { next: string | undefined } = { next: undefined };
  const progress: { title: string; reports: string[]; cancel: EventEmitter<void>; done: boolean }[] = [];
  let activeTextEditor: { document: FakeDocument; selection: Selection } | undefined;

  const show = (kind: Shown['kind']) => (message: string, ...items: unknown[]) =>
    new Promise<string | undefined>((resolve) => {
      const labels = items.filter((i): i is string => typeof i === 'string');
      messages.push({ kind, message, items: labels, pick: resolve });
      if (labels.length === 0) resolve(undefined);
    });

  const findDoc = (uri: Uri) => docs.find((d) => d.uri.toString() === uri.toString());

  const closeTabs = async (tabs: unknown) => {
    const list = (Array.isArray(tabs) ? tabs : [tabs]) as { label: string; input: unknown }[];
    group.tabs = group.tabs.filter((t) => !list.includes(t));
    onDidChangeTabs.fire({ opened: [], closed: list, changed: [] });
    return true;
  };

  const vscode = {
    Uri,
    Position,
    Range,
    Selection,
    WorkspaceEdit,
    EventEmitter,
    TabInputTextDiff,
    ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 },
    workspace: {
      get textDocuments() {
        return [...docs];
      },
      registerTextDocumentContentProvider(scheme: string, p: { provideTextDocumentContent(u: Uri): string }) {
        providers.set(scheme, p);
        return { dispose: () => providers.delete(scheme) };
      },
      async openTextDocument(uri: Uri) {
        const open = findDoc(uri);
        if (open) return open;
        const text = disk.get(uri.path);
        if (text === undefined) throw new Error(`cannot open ${uri.toString()}: file not found`);
        const d = new FakeDocument(uri, text);
        docs.push(d);
        return d;
      },
      fs: {
        async stat(uri: Uri) {
          if (!disk.has(uri.path)) throw Object.assign(new Error('FileNotFound'), { code: 'FileNotFound' });
          return { type: 1, size: disk.get(uri.path)!.length };
        },
        async readFile(uri: Uri) {
          const t = disk.get(uri.path);
          if (t === undefined) throw Object.assign(new Error('FileNotFound'), { code: 'FileNotFound' });
          return new TextEncoder().encode(t);
        },
        async writeFile(uri: Uri) {
          diskWrites.push(uri.path);
        },
      },
      async applyEdit(edit: WorkspaceEdit) {
        applied.push(edit);
        for (const op of edit.ops) {
          if (op.op === 'createFile') {
            // VS Code creates the file (empty) and opens it as a document for the text edits.
            diskWrites.push(op.uri.path);
            disk.set(op.uri.path, '');
            docs.push(new FakeDocument(op.uri, ''));
            continue;
          }
          const d = findDoc(op.uri);
          if (!d) return false;
          const start = op.op === 'replace' ? d.offsetAt(op.range.start) : d.offsetAt(op.position);
          const end = op.op === 'replace' ? d.offsetAt(op.range.end) : start;
          d.text = d.text.slice(0, start) + op.text + d.text.slice(end);
          d.version++;
        }
        return true;
      },
      onDidChangeTextDocument: onDidChangeTextDocument.event,
      asRelativePath: (u: Uri) => path.posix.basename(u.path),
      getWorkspaceFolder: () => ({ uri: Uri.file('/w'), name: 'w' }),
    },
    window: {
      get activeTextEditor() {
        return activeTextEditor;
      },
      showInformationMessage: show('info'),
      showWarningMessage: show('warning'),
      showErrorMessage: show('error'),
      async showInputBox() {
        return inputBox.next;
      },
      async showTextDocument(uri: Uri) {
        shownDocs.push(uri);
      },
      async withProgress<R>(opts: { title: string }, task: (p: { report(v: { message?: string }): void }, token: unknown) => Promise<R>) {
        const cancel = new EventEmitter<void>();
        const entry = { title: opts.title, reports: [] as string[], cancel, done: false };
        progress.push(entry);
        let cancelled = false;
        cancel.event(() => (cancelled = true));
        const token = {
          get isCancellationRequested() {
            return cancelled;
          },
          onCancellationRequested: cancel.event,
        };
        // `done`: the notification is gone (the task settled).
        return task({ report: (v) => v.message !== undefined && entry.reports.push(v.message) }, token).finally(() => (entry.done = true));
      },
      tabGroups: {
        get all() {
          return [group];
        },
        close: closeTabs,
        onDidChangeTabs: onDidChangeTabs.event,
      },
    },
    commands: {
      registerCommand(id: string, fn: (...a: unknown[]) => unknown) {
        commands.set(id, fn);
        return { dispose: () => commands.delete(id) };
      },
      async executeCommand(id: string, ...args: unknown[]) {
        executed.push({ id, args });
        if (id === 'setContext') {
          context.set(args[0] as string, args[1]);
          return undefined;
        }
        if (id === 'vscode.diff') {
          group.tabs.push({ label: args[2] as string, input: new TabInputTextDiff(args[0] as Uri, args[1] as Uri) });
          return undefined;
        }
        return commands.get(id)?.(...args);
      },
    },
  };

  return {
    vscode,
    docs,
    disk,
    diskWrites,
    applied,
    messages,
    context,
    commands,
    executed,
    providers,
    shownDocs,
    group,
    inputBox,
    progress,
    /** Opens a document (as if on disk and open in the editor). */
    open(p: string, text: string, languageId = 'python'): FakeDocument {
      disk.set(p, text);
      const d = new FakeDocument(Uri.file(p), text, languageId);
      docs.push(d);
      return d;
    },
    /** Makes `doc` the active editor with [start, end) selected (offsets). */
    focus(doc: FakeDocument, start = 0, end = start): void {
      activeTextEditor = { document: doc, selection: new Selection(doc.positionAt(start), doc.positionAt(end)) };
    },
    /** The user types: replaces [offset, offset + length) with `text` and reports it like VS Code. */
    type(doc: FakeDocument, offset: number, length: number, text: string): void {
      doc.text = doc.text.slice(0, offset) + text + doc.text.slice(offset + length);
      doc.version++;
      onDidChangeTextDocument.fire({ document: doc, contentChanges: [{ rangeOffset: offset, rangeLength: length, text }] });
    },
    /** The virtual document's text as VS Code would read it. */
    content(uri: Uri): string {
      return providers.get(uri.scheme)!.provideTextDocumentContent(uri);
    },
    /** The user closes a tab. */
    closeTab(tab: { label: string; input: unknown }): Promise<boolean> {
      return closeTabs(tab);
    },
  };
}

export type FakeVscode = ReturnType<typeof createFakeVscode>;

const bundles = new Map<string, string>();

/** `entry` (repository-relative) bundled as the extension is, evaluated with `fake` as 'vscode'. */
export async function loadWithFakeVscode<T>(entry: string, fake: FakeVscode): Promise<T> {
  let code = bundles.get(entry);
  if (code === undefined) {
    const r = await esbuild.build({
      absWorkingDir: repoDir(),
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      external: ['vscode'],
      write: false,
      logLevel: 'silent',
    });
    code = r.outputFiles[0]!.text;
    bundles.set(entry, code);
  }
  const real = createRequire(path.join(repoDir(), entry));
  const mod = { exports: {} as T };
  const req = (id: string) => (id === 'vscode' ? fake.vscode : real(id));
  new Function('require', 'module', 'exports', code)(req, mod, mod.exports);
  return mod.exports;
}
