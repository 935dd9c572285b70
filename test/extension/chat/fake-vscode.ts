/**
 * A stand-in for the 'vscode' module with just what extension/chat/ uses, for register.test.ts
 * (which maps the bare 'vscode' import here with a module resolve hook). Editors and documents are
 * plain objects over strings; `fake` lets the test fire events and see what was shown.
 */
type Listener<T> = (e: T) => unknown;

function emitter<T>() {
  const ls = new Set<Listener<T>>();
  const event = (l: Listener<T>) => {
    ls.add(l);
    return { dispose: () => ls.delete(l) };
  };
  return { event, fire: (e: T) => ls.forEach((l) => l(e)) };
}

export class Uri {
  constructor(
    readonly scheme: string,
    readonly path: string,
  ) {}
  get fsPath(): string {
    return this.path;
  }
  toString(): string {
    return `${this.scheme}://${this.path}`;
  }
  static file(p: string): Uri {
    return new Uri('file', p);
  }
  static joinPath(base: Uri, ...parts: string[]): Uri {
    return new Uri(base.scheme, [base.path, ...parts].join('/'));
  }
}

export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}

export class Range {
  readonly start: Position;
  readonly end: Position;
  constructor(a: Position | number, b: Position | number, c?: number, d?: number) {
    this.start = typeof a === 'number' ? new Position(a, b as number) : a;
    this.end = typeof a === 'number' ? new Position(c!, d!) : (b as Position);
  }
  get isEmpty(): boolean {
    return this.start.line === this.end.line && this.start.character === this.end.character;
  }
}

export class Selection extends Range {
  get active(): Position {
    return this.end;
  }
}

export class TabInputText {
  constructor(readonly uri: Uri) {}
}

export class FakeDocument {
  version = 1;
  constructor(
    readonly uri: Uri,
    public text: string,
    readonly languageId = 'python',
  ) {}
  get fileName(): string {
    return this.uri.path;
  }
  get lineCount(): number {
    return this.text.split('\n').length;
  }
  getText(r?: Range): string {
    return r ? this.text.slice(this.offsetAt(r.start), this.offsetAt(r.end)) : this.text;
  }
  offsetAt(p: Position): number {
    const lines = this.text.split('\n');
    let o = 0;
    for (let i = 0; i < Math.min(p.line, lines.length); i++) o += lines[i]!.length + 1;
    return Math.min(this.text.length, o + p.character);
  }
  positionAt(offset: number): Position {
    const before = this.text.slice(0, offset).split('\n');
    return new Position(before.length - 1, before[before.length - 1]!.length);
  }
  lineAt(line: number) {
    const t = this.text.split('\n')[line] ?? '';
    return { text: t, range: new Range(line, 0, line, t.length) };
  }
}

export class FakeEditor {
  viewColumn = 1;
  constructor(
    readonly document: FakeDocument,
    public selection: Selection = new Selection(new Position(0, 0), new Position(0, 0)),
  ) {}
  async edit(cb: (b: { insert(p: Position, t: string): void; replace(r: Range, t: string): void }) => void): Promise<boolean> {
    const edits: [number, number, string][] = [];
    cb({
      insert: (p, t) => edits.push([this.document.offsetAt(p), this.document.offsetAt(p), t]),
      replace: (r, t) => edits.push([this.document.offsetAt(r.start), this.document.offsetAt(r.end), t]),
    });
    for (const [s, e, t] of edits.sort((a, b) => b[0] - a[0])) this.document.text = this.document.text.slice(0, s) + t + this.document.text.slice(e);
    this.document.version++;
    return true;
  }
}

const activeEditor = emitter<FakeEditor | undefined>();
const selection = emitter<{ textEditor: FakeEditor; selections: Selection[] }>();
const visibleEditors = emitter<FakeEditor[]>();
const docChange = emitter<{ document: FakeDocument; contentChanges: unknown[] }>();
const config = emitter<{ affectsConfiguration(s: string): boolean }>();

export const fake = {
  providers: new Map<string, { resolveWebviewView(v: unknown): void }>(),
  commands: new Map<string, (...a: unknown[]) => unknown>(),
  executed: [] as string[],
  clipboard: '',
  info: [] as string[],
  shown: [] as FakeDocument[],
  files: [] as Uri[],
  docs: new Map<string, FakeDocument>(),
  quickPick: undefined as ((items: { label: string; description?: string; uri: Uri }[]) => unknown) | undefined,
  /** Makes `e` the active (and visible) editor and fires the events VS Code would. */
  activate(e: FakeEditor | undefined): void {
    window.activeTextEditor = e;
    if (e && !window.visibleTextEditors.includes(e)) window.visibleTextEditors.push(e);
    activeEditor.fire(e);
  },
  select(e: FakeEditor, s: Selection): void {
    e.selection = s;
    selection.fire({ textEditor: e, selections: [s] });
  },
  close(e: FakeEditor): void {
    window.visibleTextEditors = window.visibleTextEditors.filter((v) => v !== e);
    if (window.activeTextEditor === e) window.activeTextEditor = undefined;
    visibleEditors.fire(window.visibleTextEditors);
  },
  reset(): void {
    window.activeTextEditor = undefined;
    window.visibleTextEditors = [];
    window.tabGroups.all = [];
    fake.providers.clear();
    fake.commands.clear();
    fake.executed = [];
    fake.clipboard = '';
    fake.info = [];
    fake.shown = [];
    fake.files = [];
    fake.docs.clear();
    fake.quickPick = undefined;
  },
};

export const window = {
  activeTextEditor: undefined as FakeEditor | undefined,
  visibleTextEditors: [] as FakeEditor[],
  tabGroups: { all: [] as { activeTab?: { input: unknown }; tabs: { input: unknown }[] }[] },
  onDidChangeActiveTextEditor: activeEditor.event,
  onDidChangeTextEditorSelection: selection.event,
  onDidChangeVisibleTextEditors: visibleEditors.event,
  registerWebviewViewProvider(id: string, p: { resolveWebviewView(v: unknown): void }) {
    fake.providers.set(id, p);
    return { dispose: () => fake.providers.delete(id) };
  },
  async showQuickPick(items: { label: string; description?: string; uri: Uri }[]) {
    return fake.quickPick?.(items);
  },
  /** A quick pick whose user is fake.quickPick: what it returns is accepted, undefined is Escape. */
  createQuickPick<T extends { label: string; description?: string; uri: Uri }>() {
    const accept = emitter<void>();
    const hide = emitter<void>();
    let hidden = false;
    const qp = {
      items: [] as T[],
      selectedItems: [] as T[],
      activeItems: [] as T[],
      title: '',
      placeholder: '',
      matchOnDescription: false,
      onDidAccept: accept.event,
      onDidHide: hide.event,
      show() {
        void Promise.resolve(fake.quickPick?.(qp.items)).then((picked) => {
          if (picked) {
            qp.selectedItems = [picked as T];
            accept.fire();
          } else qp.hide();
        });
      },
      hide() {
        if (hidden) return;
        hidden = true;
        hide.fire();
      },
      dispose() {},
    };
    return qp;
  },
  async showInformationMessage(m: string) {
    fake.info.push(m);
    return undefined;
  },
  async showTextDocument(d: FakeDocument) {
    fake.shown.push(d);
  },
};

export const workspace = {
  onDidChangeTextDocument: docChange.event,
  onDidChangeConfiguration: config.event,
  asRelativePath(u: Uri | string): string {
    const p = typeof u === 'string' ? u : u.path;
    return p.startsWith('/ws/') ? p.slice(4) : p;
  },
  async findFiles(): Promise<Uri[]> {
    return fake.files;
  },
  async openTextDocument(u: Uri): Promise<FakeDocument> {
    const d = fake.docs.get(u.toString());
    if (!d) throw new Error(`cannot open ${u.toString()}`);
    return d;
  },
  fs: {
    async stat(u: Uri) {
      return { size: fake.docs.get(u.toString())?.text.length ?? 0 };
    },
  },
};

export const env = {
  clipboard: {
    async writeText(t: string) {
      fake.clipboard = t;
    },
  },
};

export const commands = {
  registerCommand(id: string, fn: (...a: unknown[]) => unknown) {
    fake.commands.set(id, fn);
    return { dispose: () => fake.commands.delete(id) };
  },
  async executeCommand(id: string, ...a: unknown[]) {
    fake.executed.push(id);
    return fake.commands.get(id)?.(...a);
  },
};
