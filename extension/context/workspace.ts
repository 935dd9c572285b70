/**
 * Where related-file candidates come from in VS Code: documents in open tabs of the same language,
 * and files the user recently visited or edited (any language: a SQL file just edited is relevant
 * to the code that queries it; the similarity ranking sorts it out). Only documents VS Code already
 * has in memory are read — no disk access on the keystroke path. Chunks are cached per document
 * version, so a refresh re-chunks only what changed.
 */
import * as vscode from 'vscode';
import { chunkFile, withActivity, type Chunk } from './chunks.ts';
import { RecentActivity } from './recent.ts';

const SCHEMES = new Set(['file', 'untitled', 'vscode-remote', 'vscode-vfs']);
/** Skip huge files (generated code, logs): their chunks would crowd out everything else. */
const MAX_FILE_CHARS = 512 * 1024;
const MAX_FILES = 20;

export class WorkspaceContext implements vscode.Disposable {
  readonly activity = new RecentActivity();
  readonly #chunks = new Map<string, { version: number; chunks: Chunk[] }>();
  readonly #subscriptions: vscode.Disposable[] = [];

  constructor() {
    this.#subscriptions.push(
      vscode.window.onDidChangeTextEditorSelection((e) => {
        if (!SCHEMES.has(e.textEditor.document.uri.scheme)) return;
        this.activity.record(e.textEditor.document.uri.toString(), e.selections[0]?.active.line ?? 0, false, Date.now());
      }),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (!SCHEMES.has(e.document.uri.scheme) || e.contentChanges.length === 0) return;
        for (const c of e.contentChanges.slice(0, 4)) this.activity.record(e.document.uri.toString(), c.range.start.line, true, Date.now());
      }),
      vscode.workspace.onDidCloseTextDocument((d) => this.#chunks.delete(d.uri.toString())),
    );
  }

  /** Candidate chunks from other files for a completion in `current`. */
  candidates(current: vscode.TextDocument): Chunk[] {
    const self = current.uri.toString();
    const docs = new Map(vscode.workspace.textDocuments.map((d) => [d.uri.toString(), d]));
    const picked = new Map<string, vscode.TextDocument>();
    for (const uri of this.activity.files()) {
      const d = docs.get(uri);
      if (d && uri !== self) picked.set(uri, d);
    }
    for (const group of vscode.window.tabGroups.all) {
      for (const tab of group.tabs) {
        if (!(tab.input instanceof vscode.TabInputText)) continue;
        const uri = tab.input.uri.toString();
        const d = docs.get(uri);
        if (d && uri !== self && d.languageId === current.languageId) picked.set(uri, d);
      }
    }
    const out: Chunk[] = [];
    for (const [uri, d] of [...picked].slice(0, MAX_FILES)) {
      if (!SCHEMES.has(d.uri.scheme) || d.getText().length > MAX_FILE_CHARS) continue;
      out.push(...withActivity(this.#chunksOf(uri, d), this.activity.lines(uri)));
    }
    return out;
  }

  #chunksOf(uri: string, d: vscode.TextDocument): Chunk[] {
    const cached = this.#chunks.get(uri);
    if (cached && cached.version === d.version) return cached.chunks;
    const chunks = chunkFile({ path: vscode.workspace.asRelativePath(d.uri, false), languageId: d.languageId, text: d.getText() });
    this.#chunks.set(uri, { version: d.version, chunks });
    return chunks;
  }

  dispose(): void {
    for (const s of this.#subscriptions) s.dispose();
  }
}
