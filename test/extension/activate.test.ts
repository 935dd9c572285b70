/**
 * The built extension bundle activated against a stand-in for the VS Code API (just what the
 * extension uses), with the real engine bundle and a tiny model: status bar states, the trace file,
 * the inline completion provider end to end, the disabled switch, commands, and deactivation.
 * The real editor is covered by test/e2e; this catches wiring mistakes in seconds.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { repoDir } from '../helpers/paths.ts';
import { tinyModel } from '../helpers/tiny-model.ts';

type Listener = (e: unknown) => void;
const emitter = () => {
  const ee = new EventEmitter();
  const event = (l: Listener) => {
    ee.on('e', l);
    return { dispose: () => ee.off('e', l) };
  };
  return { event, fire: (e: unknown) => ee.emit('e', e) };
};

class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}
class Range {
  constructor(
    readonly start: Position,
    readonly end: Position,
  ) {}
}
class InlineCompletionItem {
  constructor(
    readonly insertText: string,
    readonly range?: Range,
  ) {}
}

function fakeVscode(config: Record<string, unknown>) {
  const onConfig = emitter();
  const statusItems: Record<string, unknown>[] = [];
  const commands = new Map<string, (...a: unknown[]) => unknown>();
  const providers: { provideInlineCompletionItems: (...a: unknown[]) => Promise<InlineCompletionItem[] | undefined> }[] = [];
  const messages: string[] = [];
  const logLines: string[] = [];
  const views = new Map<string, { resolveWebviewView: (v: unknown) => void }>();
  const none = () => ({ dispose() {} });
  const uri = (p: string) => ({ scheme: 'file', fsPath: p, path: p, toString: () => `file://${p}` });
  class VsEventEmitter<T> {
    readonly #e = emitter();
    readonly event = (l: (e: T) => void) => this.#e.event(l as Listener);
    fire(e: T) {
      this.#e.fire(e);
    }
    dispose() {}
  }
  const vscode = {
    Position,
    Range,
    InlineCompletionItem,
    EventEmitter: VsEventEmitter,
    Disposable: class {
      constructor(readonly dispose: () => void) {}
    },
    ProgressLocation: { Notification: 15, Window: 10 },
    ThemeColor: class {
      constructor(readonly id: string) {}
    },
    TabInputText: class {},
    ConfigurationTarget: { Global: 1, Workspace: 2, WorkspaceFolder: 3 },
    StatusBarAlignment: { Left: 1, Right: 2 },
    Uri: { file: uri, joinPath: (b: { fsPath: string }, ...parts: string[]) => uri(path.join(b.fsPath, ...parts)) },
    workspace: {
      registerTextDocumentContentProvider: none,
      findFiles: async () => [],
      getConfiguration: () => ({
        get: (k: string) => config[k],
        inspect: () => ({}),
        update: async (k: string, v: unknown) => {
          config[k] = v;
          onConfig.fire({ affectsConfiguration: (s: string) => s === 'switchyard' || s === `switchyard.${k}` });
        },
      }),
      onDidChangeConfiguration: onConfig.event,
      onDidChangeTextDocument: none,
      onDidCloseTextDocument: none,
      textDocuments: [],
      asRelativePath: (u: { fsPath: string }) => path.basename(u.fsPath),
      getWorkspaceFolder: () => ({ name: 'ws' }),
    },
    window: {
      createOutputChannel: () => ({ trace: (m: string) => logLines.push(m), info: (m: string) => logLines.push(m), warn: (m: string) => logLines.push(m), error: (m: string) => logLines.push(m), show() {}, dispose() {} }),
      createStatusBarItem: () => {
        const item: Record<string, unknown> = { show() {}, dispose() {} };
        statusItems.push(item);
        return item;
      },
      onDidChangeTextEditorSelection: none,
      onDidChangeActiveTextEditor: none,
      activeTextEditor: undefined,
      visibleTextEditors: [],
      tabGroups: { all: [], onDidChangeTabs: none },
      onDidChangeVisibleTextEditors: none,
      showWarningMessage: async (m: string) => void messages.push(m),
      showErrorMessage: async (m: string) => void messages.push(m),
      showInformationMessage: async (m: string) => void messages.push(m),
      setStatusBarMessage: none,
      registerWebviewViewProvider: (id: string, p: { resolveWebviewView: (v: unknown) => void }) => {
        views.set(id, p);
        return { dispose() {} };
      },
      // Problem notifications are progress notifications (closable): their title is the message.
      withProgress: async (o: { title?: string }, task: (p: unknown, t: unknown) => Promise<unknown>) => {
        if (o.title) messages.push(o.title);
        return task({ report() {} }, token());
      },
    },
    languages: {
      registerInlineCompletionItemProvider: (_sel: unknown, p: (typeof providers)[number]) => {
        providers.push(p);
        return { dispose() {} };
      },
    },
    commands: {
      registerCommand: (id: string, fn: (...a: unknown[]) => unknown) => {
        commands.set(id, fn);
        return { dispose() {} };
      },
      executeCommand: async (id: string, ...a: unknown[]) => commands.get(id)?.(...a),
    },
  };
  return { vscode, statusItems, commands, providers, messages, logLines, views };
}

function document(file: string, text: string, languageId = 'python') {
  const offsetAt = (p: Position) => text.split('\n').slice(0, p.line).reduce((n, l) => n + l.length + 1, 0) + p.character;
  return {
    uri: { scheme: 'file', fsPath: file, toString: () => `file://${file}` },
    languageId,
    getText: () => text,
    offsetAt,
  };
}

const token = () => ({ isCancellationRequested: false, onCancellationRequested: () => ({ dispose() {} }) });

describe('extension bundle', () => {
  it('activates instantly, starts the engine on first use, completes, honours the switch', { timeout: 240_000 }, async () => {
    const out = path.join(repoDir(), '.cache', 'activate-test');
    fs.rmSync(out, { recursive: true, force: true });
    const b = spawnSync(process.execPath, ['scripts/build.mjs', '--outdir', path.join(out, 'dist')], { cwd: repoDir(), encoding: 'utf8' });
    assert.equal(b.status, 0, b.stderr);
    // The extension folder: the bundles under dist/, node_modules from the repository.
    fs.symlinkSync(path.join(repoDir(), 'node_modules'), path.join(out, 'node_modules'), 'dir');

    const traceFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sy-trace-')), 'trace.jsonl');
    process.env.SWITCHYARD_TRACE_FILE = traceFile;
    const config: Record<string, unknown> = { 'model.path': '', 'engine.executionProviders': ['cpu'], 'completions.debounceMs': 0, 'completions.maxTokens': 8, 'chat.maxTokens': 16 };
    const f = fakeVscode(config);
    const file = path.join(out, 'dist', 'extension.cjs');
    const req = createRequire(file);
    const mod = { exports: {} as { activate: (c: unknown) => void; deactivate: () => Promise<void> } };
    new Function('require', 'module', 'exports', '__filename', '__dirname', fs.readFileSync(file, 'utf8'))(
      (n: string) => (n === 'vscode' ? f.vscode : req(n)),
      mod,
      mod.exports,
      file,
      path.dirname(file),
    );
    const subscriptions: { dispose(): void }[] = [];
    const t0 = Date.now();
    const memento = new Map<string, unknown>();
    const secrets = new Map<string, string>();
    mod.exports.activate({
      subscriptions,
      extensionPath: out,
      extensionUri: { scheme: 'file', fsPath: out, path: out, toString: () => `file://${out}` },
      globalStorageUri: { scheme: 'file', fsPath: path.join(out, 'global'), toString: () => `file://${out}/global` },
      asAbsolutePath: (p: string) => path.join(out, p),
      workspaceState: { get: (k: string, d?: unknown) => (memento.has(k) ? memento.get(k) : d), update: async (k: string, v: unknown) => void memento.set(k, v), keys: () => [...memento.keys()] },
      secrets: { get: async (k: string) => secrets.get(k), store: async (k: string, v: string) => void secrets.set(k, v), delete: async (k: string) => void secrets.delete(k), onDidChange: () => ({ dispose() {} }) },
    });
    assert.ok(Date.now() - t0 < 500, 'activation is quick');
    const events = () => (fs.existsSync(traceFile) ? fs.readFileSync(traceFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event: string; pid?: number; text?: string }) : []);
    const status = () => f.statusItems[0]!;
    try {
      // Every command the manifest declares is registered, and nothing else.
      const pkg = JSON.parse(fs.readFileSync(path.join(repoDir(), 'package.json'), 'utf8')) as { contributes: { commands: { command: string }[] } };
      assert.deepEqual([...f.commands.keys()].sort(), pkg.contributes.commands.map((c) => c.command).sort());
      assert.ok(f.views.has('switchyard.chat'), 'the chat view provider is registered');
      assert.match(String(status().tooltip), /Switchyard: no model/);
      assert.match(String((status().accessibilityInformation as { label: string }).label), /Switchyard: no model/);

      // No model: a completion request starts nothing and tells the user how to fix it.
      const provider = f.providers[0]!;
      const doc = document('/ws/main.py', 'def add(a, b):\n    return \n');
      assert.equal(await provider.provideInlineCompletionItems(doc, new Position(1, 11), {}, token()), undefined);
      await new Promise((r) => setTimeout(r, 20));
      assert.match(f.messages.join('\n'), /no model is configured/);
      assert.equal(events().length, 0);

      // A model: the next request loads it and answers.
      await f.vscode.workspace.getConfiguration().update('model.path', tinyModel('deepseek-coder-v1'));
      let items: InlineCompletionItem[] | undefined;
      for (let i = 0; i < 20 && !items?.length; i++) items = await provider.provideInlineCompletionItems(doc, new Position(1, 11), {}, token());
      const kinds = events().map((e) => e.event);
      assert.equal(kinds[0], 'engine-start');
      assert.ok(kinds.includes('engine-ready'));
      assert.ok(kinds.includes('completion-request') && kinds.includes('completion-result'));
      assert.ok(String(status().text).startsWith('$(check) Switchyard cpu'), String(status().text));
      assert.match(String(status().tooltip), /Switchyard: ready/);
      if (items?.length) {
        assert.equal(items[0]!.range!.start.line, 1);
        assert.ok(events().some((e) => e.event === 'completion-result' && e.text === items![0]!.insertText));
      }

      // Off: no request at all.
      await f.commands.get('switchyard.toggleCompletions')!();
      const before = events().filter((e) => e.event === 'completion-request').length;
      assert.equal(await provider.provideInlineCompletionItems(document('/ws/main.py', 'x = 1\ny = '), new Position(1, 4), {}, token()), undefined);
      assert.equal(events().filter((e) => e.event === 'completion-request').length, before);
      assert.match(String(status().text), /\(off\)/);

      await f.commands.get('switchyard.showEngineStatus')!();
      assert.match(f.messages[f.messages.length - 1]!, /Switchyard: ready .*prefix cache/);

      // The chat view: its HTML carries a nonce'd script, and a message gets a streamed answer from the engine.
      const posted: { type: string; [k: string]: unknown }[] = [];
      const fromView = emitter();
      const webview = {
        options: {},
        html: '',
        cspSource: 'vscode-webview://x',
        asWebviewUri: (u: { fsPath: string }) => ({ toString: () => `vscode-webview://x${u.fsPath}` }),
        onDidReceiveMessage: fromView.event,
        postMessage: async (m: { type: string }) => void posted.push(m),
      };
      f.views.get('switchyard.chat')!.resolveWebviewView({ webview, visible: true, onDidDispose: () => ({ dispose() {} }), onDidChangeVisibility: () => ({ dispose() {} }), show() {} });
      assert.match(webview.html, /<script nonce="[^"]+" src="vscode-webview:\/\/x[^"]*webview\.js"/);
      fromView.fire({ type: 'ready' });
      fromView.fire({ type: 'send', text: 'What does add do?' });
      for (let i = 0; i < 400 && !posted.some((m) => m.type === 'done'); i++) await new Promise((r) => setTimeout(r, 50));
      const done = posted.find((m) => m.type === 'done') as { turn: { role: string; content: string; error?: string } } | undefined;
      assert.ok(done, `a finished answer; posted: ${posted.map((m) => m.type).join(',')}`);
      assert.equal(done.turn.role, 'assistant');
      assert.equal(done.turn.error, undefined);
      const result = events().find((e) => e.event === 'chat-result') as { text: string } | undefined;
      assert.ok(result, 'chat-result traced');
      assert.equal(done.turn.content, result.text);
    } finally {
      await mod.exports.deactivate();
      for (const s of subscriptions) s.dispose();
      delete process.env.SWITCHYARD_TRACE_FILE;
    }
    assert.equal(events().at(-1)!.event, 'engine-exit');
  });
});
