/**
 * The model commands bundled the way scripts/build.mjs bundles the extension (esbuild, CommonJS,
 * 'vscode' external: this also shows @huggingface/hub bundles and runs as CJS), driven through a
 * stand-in for the VS Code API against the fake hub: download with progress and "Use This Model"
 * (fit check first), a 401 that offers a token and retries, cancel, and Manage Models (use with a
 * modal warning when it does not fit, reveal, remove).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as esbuild from 'esbuild';
import type { InspectModelResult } from '../../../engine/protocol/protocol.ts';
import { inspectModel } from '../../../engine/models/inspect.ts';
import { DEFAULT_SETTINGS, type Settings } from '../../../extension/config.ts';
import type { ModelCommandDeps } from '../../../extension/models/commands.ts';
import { repoDir } from '../../helpers/paths.ts';
import { tinyModel } from '../../helpers/tiny-model.ts';
import { FakeHub } from '../../engine/models/fake-hub.ts';

type Item = { label: string; description?: string; detail?: string; download?: true };
type Call = { kind: string; message?: string; items?: unknown[]; options?: Record<string, unknown> };

/** Just the API the model commands use; each prompt is answered by the test's current handler. */
function fakeVscode() {
  const commands = new Map<string, (...a: unknown[]) => unknown>();
  const calls: Call[] = [];
  const executed: { id: string; args: unknown[] }[] = [];
  const updates: Record<string, unknown> = {};
  const ui = {
    input: (_o: Record<string, unknown>): string | undefined => undefined,
    message: (_kind: string, _message: string, _items: string[]): string | undefined => undefined,
    pick: (_items: Item[], _o: Record<string, unknown>): Item | undefined => undefined,
    onReport: (_r: { message?: string; increment?: number }, _cancel: () => void) => {},
  };
  const message =
    (kind: string) =>
    async (msg: string, ...rest: unknown[]) => {
      const options = rest[0] && typeof rest[0] === 'object' ? (rest.shift() as Record<string, unknown>) : undefined;
      calls.push({ kind, message: msg, items: rest, options });
      return ui.message(kind, msg, rest as string[]);
    };
  const vscode = {
    ProgressLocation: { Notification: 15 },
    QuickPickItemKind: { Separator: -1 },
    ConfigurationTarget: { Global: 1, Workspace: 2, WorkspaceFolder: 3 },
    Uri: { file: (p: string) => ({ fsPath: p, scheme: 'file' }) },
    commands: {
      registerCommand: (id: string, fn: (...a: unknown[]) => unknown) => {
        commands.set(id, fn);
        return { dispose: () => commands.delete(id) };
      },
      executeCommand: async (id: string, ...args: unknown[]) => {
        executed.push({ id, args });
        return commands.get(id)?.(...args);
      },
    },
    workspace: {
      getConfiguration: () => ({
        inspect: () => ({}),
        update: async (k: string, v: unknown) => void (updates[k] = v),
      }),
    },
    window: {
      showInputBox: async (o: Record<string, unknown>) => {
        calls.push({ kind: 'input', options: o });
        const v = ui.input(o);
        if (v !== undefined && typeof o.validateInput === 'function') assert.equal(o.validateInput(v), undefined, `input box rejected ${v}`);
        return v;
      },
      showInformationMessage: message('info'),
      showWarningMessage: message('warning'),
      showErrorMessage: message('error'),
      showQuickPick: async (items: Item[], o: Record<string, unknown>) => {
        calls.push({ kind: 'pick', items, options: o });
        return ui.pick(items, o);
      },
      withProgress: async (o: Record<string, unknown>, task: (p: unknown, t: unknown) => Promise<unknown>) => {
        calls.push({ kind: 'progress', options: o });
        let cancel = () => {};
        const token = {
          isCancellationRequested: false,
          onCancellationRequested: (cb: () => void) => {
            cancel = () => {
              token.isCancellationRequested = true;
              cb();
            };
            return { dispose() {} };
          },
        };
        return task({ report: (r: { message?: string; increment?: number }) => ui.onReport(r, () => cancel()) }, token);
      },
    },
  };
  return { vscode, commands, calls, executed, updates, ui };
}

const REPO = 'tiny-org/Tiny';
const SHARD = 'model-00001-of-00001.safetensors';
const hub = new FakeHub();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-model-cmds-'));
const modelsFolder = path.join(tmp, 'models');
const f = fakeVscode();
const secrets = new Map<string, string>();
const used: string[] = [];
const inspected: string[] = [];
const logs: string[] = [];
let settings: Settings = { ...DEFAULT_SETTINGS };
let inspectResult: (dir: string) => InspectModelResult | undefined | Promise<InspectModelResult> = () => undefined;

function fit(dir: string, fits: boolean): InspectModelResult {
  const GiB = 1024 ** 3;
  return {
    model: dir,
    architecture: 'DeepseekV2ForCausalLM',
    modelType: 'deepseek_v2',
    parameters: 1e6,
    activeParameters: 5e5,
    quant: 'int8',
    contextLength: 4096,
    estimate: { weightsBytes: 10 * GiB, kvBytes: GiB, activationBytes: 0.3 * GiB, prefixCacheBytes: GiB, totalBytes: 12.3 * GiB },
    availableBytes: fits ? 31 * GiB : 8 * GiB,
    fits,
    message: '',
    provider: 'cuda',
    providerAttempts: [],
    totalBytesByQuant: { none: 40 * GiB, int8: 12.3 * GiB, int4: 7 * GiB },
  };
}

before(async () => {
  const src = tinyModel('deepseek-coder-v1');
  const files = new Map<string, Buffer>();
  for (const n of ['config.json', 'model.safetensors.index.json', SHARD, 'tokenizer.json', 'tokenizer_config.json']) files.set(n, fs.readFileSync(path.join(src, n)));
  hub.repos.set(REPO, { files, lfs: new Set([SHARD]), commit: 'd'.repeat(40) });
  hub.repos.set('tiny-org/gated', { files, lfs: new Set([SHARD]), commit: 'd'.repeat(40), token: 'hf_goodtoken1' });
  await hub.start();
  settings = { ...DEFAULT_SETTINGS, hubUrl: hub.url };

  const file = path.join(tmp, 'commands.cjs');
  await esbuild.build({
    absWorkingDir: repoDir(),
    entryPoints: ['extension/models/commands.ts'],
    outfile: file,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: ['vscode'],
    logLevel: 'silent',
    define: { 'import.meta.url': '__switchyard_import_meta_url' },
    banner: { js: "const __switchyard_import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
  });
  const req = createRequire(file);
  const mod = { exports: {} as { registerModelCommands: (d: ModelCommandDeps) => { dispose(): void }[] } };
  new Function('require', 'module', 'exports', '__filename', '__dirname', fs.readFileSync(file, 'utf8'))(
    (n: string) => (n === 'vscode' ? f.vscode : req(n)),
    mod,
    mod.exports,
    file,
    tmp,
  );
  const deps: ModelCommandDeps = {
    settings: () => settings,
    modelsFolder: () => modelsFolder,
    secrets: {
      get: async (k: string) => secrets.get(k),
      store: async (k: string, v: string) => void secrets.set(k, v),
      delete: async (k: string) => void secrets.delete(k),
      onDidChange: () => ({ dispose() {} }),
    } as unknown as ModelCommandDeps['secrets'],
    inspect: async (dir) => (inspected.push(dir), inspectResult(dir)),
    useModel: async (dir) => void used.push(dir),
    log: (level, m) => void logs.push(`${level}: ${m}`),
  };
  const disposables = mod.exports.registerModelCommands(deps);
  assert.deepEqual([...f.commands.keys()].sort(), ['switchyard.downloadModel', 'switchyard.manageModels']);
  assert.equal(disposables.length, 2);
});

after(async () => {
  await hub.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const run = (id: string, ...args: unknown[]) => f.vscode.commands.executeCommand(id, ...args);
const callsSince = (n: number) => f.calls.slice(n);

describe('switchyard.downloadModel', () => {
  it('asks for the id, shows MB and file in a cancellable notification, then offers Use This Model (fit check first)', async () => {
    const start = f.calls.length;
    const reports: { message?: string; increment?: number }[] = [];
    f.ui.input = (o) => (assert.equal(o.placeHolder, 'deepseek-ai/DeepSeek-Coder-V2-Lite-Base'), `https://huggingface.co/${REPO}`);
    f.ui.onReport = (r) => void reports.push(r);
    f.ui.message = (kind, msg, items) => (kind === 'info' && /downloaded/.test(msg) ? items[0] : undefined);
    inspectResult = (dir) => fit(dir, true);
    await run('switchyard.downloadModel');
    const folder = path.join(modelsFolder, 'tiny-org--Tiny');
    assert.ok(fs.readFileSync(path.join(folder, SHARD)).equals(hub.repos.get(REPO)!.files.get(SHARD)!));
    const progress = callsSince(start).find((c) => c.kind === 'progress')!;
    assert.equal(progress.options!.cancellable, true);
    assert.equal(progress.options!.title, `Downloading ${REPO}`);
    assert.ok(reports.some((r) => /MB \/ .*MB \(\d+%\) model-00001-of-00001\.safetensors/.test(r.message ?? '')), JSON.stringify(reports.slice(0, 5)));
    const total = reports.reduce((a, r) => a + (r.increment ?? 0), 0);
    assert.ok(Math.abs(total - 100) < 1e-6, `increments add up to ${total}`);
    const done = callsSince(start).find((c) => c.kind === 'info' && /downloaded/.test(c.message!))!;
    assert.deepEqual(done.items, ['Use This Model']);
    assert.deepEqual(inspected.at(-1), folder);
    assert.ok(callsSince(start).some((c) => c.kind === 'info' && c.message === `Switchyard: ${REPO} fits: needs 12.3 GiB of 31 GiB available, provider cuda.`));
    assert.deepEqual(used, [folder]);
  });

  it('a 401 offers to set the token, stores it in secrets and retries', async () => {
    const start = f.calls.length;
    f.ui.input = (o) => (o.password ? 'hf_goodtoken1' : 'tiny-org/gated');
    f.ui.message = (kind, _msg, items) => (kind === 'error' ? items[0] : undefined);
    await run('switchyard.downloadModel');
    const err = callsSince(start).find((c) => c.kind === 'error')!;
    assert.match(err.message!, /needs a Hugging Face token/);
    assert.deepEqual(err.items, ['Set Hugging Face Token']);
    assert.equal(secrets.get('switchyard.hfToken'), 'hf_goodtoken1');
    assert.ok(fs.existsSync(path.join(modelsFolder, 'tiny-org--gated', SHARD)));
    assert.ok(callsSince(start).some((c) => c.kind === 'info' && /downloaded tiny-org\/gated/.test(c.message!)));
  });

  it('cancel keeps what was fetched and says the download can resume', async () => {
    fs.rmSync(path.join(modelsFolder, 'tiny-org--Tiny'), { recursive: true });
    const start = f.calls.length;
    hub.slow = { file: SHARD, chunk: 256 * 1024, delayMs: 20 };
    f.ui.input = () => REPO;
    f.ui.onReport = (r, cancel) => {
      if (/model-00001/.test(r.message ?? '') && !/^0 B/.test(r.message ?? '')) cancel();
    };
    f.ui.message = () => undefined;
    await run('switchyard.downloadModel');
    hub.slow = undefined;
    f.ui.onReport = () => {};
    const info = callsSince(start).find((c) => c.kind === 'info')!;
    assert.match(info.message!, /cancelled.*resume/);
    assert.ok(fs.existsSync(path.join(modelsFolder, 'tiny-org--Tiny', `${SHARD}.part`)));
  });
});

describe('switchyard.downloadModel: a hub that cannot be reached (issue 13, item 10)', () => {
  it('offers Retry and the hub URL setting, and Resume only when a part was downloaded', async () => {
    settings = { ...settings, hubUrl: 'http://127.0.0.1:1' };
    try {
      let start = f.calls.length;
      f.ui.input = () => 'tiny-org/Nowhere';
      f.ui.message = (kind, _m, items) => (kind === 'error' ? items.find((i) => i === 'Set Hub URL') : undefined);
      await run('switchyard.downloadModel');
      let err = callsSince(start).find((c) => c.kind === 'error')!;
      assert.match(err.message!, /cannot reach http:\/\/127\.0\.0\.1:1.*set switchyard\.models\.hubUrl to a mirror/);
      assert.doesNotMatch(err.message!, /Resume/);
      assert.deepEqual(err.items, ['Retry', 'Set Hub URL']);
      assert.ok(f.executed.some((e) => e.id === 'workbench.action.openSettings' && e.args[0] === 'switchyard.models.hubUrl'));

      // tiny-org/Tiny kept a .part file from the cancelled download: that one resumes.
      start = f.calls.length;
      f.ui.input = () => REPO;
      f.ui.message = () => undefined;
      await run('switchyard.downloadModel');
      err = callsSince(start).find((c) => c.kind === 'error')!;
      assert.deepEqual(err.items, ['Resume', 'Set Hub URL']);
      assert.match(err.message!, /Resume continues from there/);
    } finally {
      settings = { ...settings, hubUrl: hub.url };
    }
  });
});

describe('switchyard.manageModels', () => {
  it('lists the models with size and state, and Use asks first when it does not fit', async () => {
    const start = f.calls.length;
    const picks: Item[][] = [];
    f.ui.pick = (items) => {
      picks.push(items);
      return picks.length === 1 ? items.find((i) => i.label.includes('tiny-org/gated')) : items.find((i) => /Use$/.test(i.label));
    };
    f.ui.message = (kind, _m, items) => (kind === 'warning' ? items.find((i) => i === 'Use with int4') : undefined);
    inspectResult = (dir) => fit(dir, false);
    used.length = 0;
    await run('switchyard.manageModels');
    const labels = picks[0]!.map((i) => `${i.label} | ${i.description ?? ''}`);
    assert.ok(labels.some((l) => /tiny-org\/gated \| \d+\.\d MB · \d+\.\dM params, \d+\.\dM active · ready/.test(l)), labels.join('\n'));
    assert.ok(labels.some((l) => /tiny-org\/Tiny \| .* · download not finished/.test(l)), labels.join('\n'));
    assert.ok(labels.some((l) => /Download a model/.test(l)));
    assert.deepEqual(picks[1]!.map((i) => i.label.replace(/^\$\([a-z-]+\) /, '')), ['Use', 'Check Memory Fit', 'Reveal in File Explorer', 'Remove...']);
    const warn = callsSince(start).find((c) => c.kind === 'warning')!;
    assert.equal(warn.options!.modal, true);
    assert.match(warn.message!, /does not fit: needs 12\.3 GiB but 8 GiB is available/);
    assert.match(String(warn.options!.detail), /With int4 weights it needs 7 GiB/);
    assert.deepEqual(warn.items, ['Use with int4', 'Use Anyway']);
    assert.equal(f.updates['model.quantization'], 'int4');
    assert.deepEqual(used, [path.join(modelsFolder, 'tiny-org--gated')]);
  });

  it('a partial download offers Resume; Reveal opens the OS file explorer', async () => {
    let n = 0;
    f.ui.pick = (items) => (n++ === 0 ? items.find((i) => i.label.includes('tiny-org/Tiny')) : items.find((i) => /Reveal/.test(i.label)));
    await run('switchyard.manageModels');
    const reveal = f.executed.find((e) => e.id === 'revealFileInOS')!;
    assert.equal((reveal.args[0] as { fsPath: string }).fsPath, path.join(modelsFolder, 'tiny-org--Tiny'));
    n = 0;
    let actions: Item[] = [];
    f.ui.pick = (items) => (n++ === 0 ? items.find((i) => i.label.includes('tiny-org/Tiny')) : ((actions = items), items.find((i) => /Resume/.test(i.label))));
    f.ui.message = () => undefined;
    await run('switchyard.manageModels');
    assert.deepEqual(actions.map((i) => i.label.replace(/^\$\([a-z-]+\) /, '')), ['Check Memory Fit', 'Resume Download', 'Reveal in File Explorer', 'Remove...']);
    assert.ok(fs.existsSync(path.join(modelsFolder, 'tiny-org--Tiny', SHARD)), 'resumed to the end');
  });

  it('a folder holding only V4-Flash\'s config.json is listed with its parameters, and Check Memory Fit answers from it', async () => {
    const dir = path.join(modelsFolder, 'V4-Flash-config-only');
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(path.join(repoDir(), 'test', 'fixtures', 'deepseek-v4-flash', 'config.json'), path.join(dir, 'config.json'));
    const start = f.calls.length;
    const picks: Item[][] = [];
    f.ui.pick = (items) => (picks.push(items), picks.length === 1 ? items.find((i) => i.label.includes('V4-Flash')) : items.find((i) => /Check Memory Fit$/.test(i.label)));
    f.ui.message = () => undefined;
    // The engine's own fit check, in-process (the protocol path is test/engine/models/inspect.test.ts).
    inspectResult = (d) => inspectModel({ model: d, quant: 'int4', providers: ['cpu'], contextLength: 131072, memoryBudgetBytes: 64 * 1024 ** 3 });
    used.length = 0;
    await run('switchyard.manageModels');
    const row = picks[0]!.find((i) => i.label.includes('V4-Flash'))!;
    assert.match(row.description!, /284\.3B params, 13\.8B active · not usable/);
    assert.deepEqual(picks[1]!.map((i) => i.label.replace(/^\$\([a-z-]+\) /, '')), ['Check Memory Fit', 'Reveal in File Explorer', 'Remove...'], 'no Use without weights');
    const warn = callsSince(start).find((c) => c.kind === 'warning')!;
    assert.equal(warn.options!.modal, true);
    assert.match(warn.message!, /V4-Flash-config-only does not fit: needs \d+(\.\d)? GiB but 64 GiB is available/);
    const detail = String(warn.options!.detail);
    assert.match(detail, /^284\.33B parameters, 13\.80B active per token\. Weights: float32 1059\.2 GiB, int8 307\.8 GiB, int4 171\.6 GiB\./);
    assert.match(detail, /KV cache 1\.7 GiB for 131072 tokens/);
    assert.match(detail, /No quantisation fits/);
    assert.match(detail, /Sized from config\.json alone/);
    assert.deepEqual(used, [], 'checking the fit does not switch models');
    fs.rmSync(dir, { recursive: true });
  });

  it('Remove asks in a modal and deletes the folder', async () => {
    const start = f.calls.length;
    let n = 0;
    f.ui.pick = (items) => (n++ === 0 ? items.find((i) => i.label.includes('tiny-org/Tiny')) : items.find((i) => /Remove/.test(i.label)));
    f.ui.message = (kind, _m, items) => (kind === 'warning' ? items[0] : undefined);
    await run('switchyard.manageModels');
    const warn = callsSince(start).find((c) => c.kind === 'warning')!;
    assert.equal(warn.options!.modal, true);
    assert.match(String(warn.options!.detail), /This deletes .*tiny-org--Tiny/);
    assert.equal(fs.existsSync(path.join(modelsFolder, 'tiny-org--Tiny')), false);
    assert.ok(fs.existsSync(path.join(modelsFolder, 'tiny-org--gated')));
  });
  it('lists the model in use when it is outside the models folder, without Remove (issue 13, item 10)', async () => {
    const tiny = tinyModel('deepseek-coder-v1');
    settings = { ...settings, modelPath: tiny };
    try {
      let listed: Item[] = [];
      let actions: Item[] = [];
      let n = 0;
      f.ui.pick = (items) => (n++ === 0 ? ((listed = items), items[0]) : ((actions = items), undefined));
      await run('switchyard.manageModels');
      assert.ok(listed[0]!.label.endsWith(path.basename(tiny)), listed[0]!.label);
      assert.match(listed[0]!.description!, /· ready · in use · outside the models folder$/);
      assert.ok(listed.some((i) => i.label.includes('tiny-org/gated')), 'the models folder is listed too');
      assert.deepEqual(actions.map((i) => i.label.replace(/^\$\([a-z-]+\) /, '')), ['Use', 'Check Memory Fit', 'Reveal in File Explorer']);
    } finally {
      settings = { ...settings, modelPath: '' };
    }
  });
});
