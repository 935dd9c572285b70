/**
 * The demo's set-up (scripts/lib/demo.mjs, used by `npm start`): it lives under the cache folder,
 * outside the repository; its user settings turn off the Walkthrough; its URL opens main.py; the
 * default model is written into the demo folder and marked as the random-weight demo model; the
 * harmless code-server lines are filtered and nothing else; and .npmrc holds only the one key the
 * README explains.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
// @ts-expect-error: a plain .mjs module without type declarations
import { cacheDir, codeServerNoiseFilter, demoDirs, demoUrl, writeDemoUserSettings, writeDemoWorkspace } from '../../scripts/lib/demo.mjs';
import { writeDemoModel } from '../../scripts/lib/demo-model.ts';
import { isDemoModel } from '../../extension/demo-model.ts';
import { repoDir } from '../helpers/paths.ts';

const made: string[] = [];
const scratch = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-demo-'));
  made.push(d);
  return d;
};
after(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

describe('the demo (npm start)', () => {
  it('lives under the cache folder, outside the repository and any git work tree', () => {
    const home = scratch();
    const dirs = demoDirs({ XDG_CACHE_HOME: home });
    assert.equal(cacheDir({ XDG_CACHE_HOME: home }), path.join(home, 'switchyard'));
    assert.equal(dirs.root, path.join(home, 'switchyard', 'demo'));
    assert.equal(demoDirs({}).root, path.join(os.homedir(), '.cache', 'switchyard', 'demo'));
    assert.equal(demoDirs({ SWITCHYARD_DEMO_DIR: '/x/y' }).workspace, '/x/y/workspace');
    for (const d of [dirs.workspace, dirs.model, demoDirs({}).workspace]) {
      assert.ok(path.relative(repoDir(), d).startsWith('..'), `${d} is inside the repository`);
    }
    const ws = writeDemoWorkspace(dirs, { model: '/m', providers: ['cpu'] });
    const git = spawnSync('git', ['-C', path.dirname(ws), 'rev-parse', '--show-toplevel'], { encoding: 'utf8' });
    assert.notEqual(git.status, 0, `the demo workspace is inside a git work tree: ${git.stdout}`);
  });

  it('writes workspace settings for the model each time and keeps an edited main.py', () => {
    const dirs = demoDirs({ SWITCHYARD_DEMO_DIR: scratch() });
    const main = writeDemoWorkspace(dirs, { model: '/models/a', providers: ['cpu'] });
    assert.match(fs.readFileSync(main, 'utf8'), /^def fibonacci\(n\):/);
    fs.writeFileSync(main, 'print("mine")\n');
    writeDemoWorkspace(dirs, { model: '/models/b', providers: ['webgpu', 'cpu'] });
    assert.equal(fs.readFileSync(main, 'utf8'), 'print("mine")\n');
    const settings = JSON.parse(fs.readFileSync(path.join(dirs.workspace, '.vscode', 'settings.json'), 'utf8'));
    assert.equal(settings['switchyard.model.path'], '/models/b');
    assert.deepEqual(settings['switchyard.engine.executionProviders'], ['webgpu', 'cpu']);
  });

  it('turns off the start-up Walkthrough and keeps the user\'s other settings', () => {
    const dirs = demoDirs({ SWITCHYARD_DEMO_DIR: scratch() });
    const file = writeDemoUserSettings(dirs);
    assert.equal(JSON.parse(fs.readFileSync(file, 'utf8'))['workbench.startupEditor'], 'none');
    fs.writeFileSync(file, JSON.stringify({ 'workbench.colorTheme': 'Default Light Modern', 'workbench.startupEditor': 'welcomePage' }));
    writeDemoUserSettings(dirs);
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), { 'workbench.colorTheme': 'Default Light Modern', 'workbench.startupEditor': 'none' });
  });

  it('prints a URL that opens the folder with main.py in an editor', () => {
    const url = new URL(demoUrl(8765, '/c/demo/workspace', '/c/demo/workspace/main.py'));
    assert.equal(url.host, '127.0.0.1:8765');
    assert.equal(url.searchParams.get('folder'), '/c/demo/workspace');
    assert.deepEqual(JSON.parse(url.searchParams.get('payload')!), [['openFile', 'vscode-remote://127.0.0.1:8765/c/demo/workspace/main.py']]);
  });

  it('filters the vsda and open-vsx lines (and their stacks) from code-server, nothing else', () => {
    const lines = [
      '[info] HTTP server listening on http://127.0.0.1:8765/',
      'File not found: /r/.cache/e2e/code-server/node_modules/code-server/lib/vscode/node_modules/vsda/rust/web/vsda_bg.wasm',
      'Error: getaddrinfo ENOTFOUND open-vsx.org',
      '    at GetAddrInfoReqWrap.onlookup [as oncomplete] (node:dns:107:26)',
      'Error: the engine crashed',
      '    at Engine.run (engine.js:1:1)',
    ];
    const show = codeServerNoiseFilter();
    assert.deepEqual(lines.filter((l) => show(l)), [lines[0], lines[4], lines[5]]);
  });

  it('writes the default model into the given folder (not the temp folder) and marks it as the demo model', { timeout: 120_000 }, () => {
    const dir = path.join(scratch(), 'model');
    assert.equal(writeDemoModel(dir), dir);
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'switchyard-demo.json']) assert.ok(fs.existsSync(path.join(dir, f)), `${f} missing`);
    assert.ok(fs.readdirSync(dir).some((f) => f.endsWith('.safetensors')));
    assert.equal(isDemoModel(dir), true);
  });

  it('.npmrc holds only the onnxruntime-node key that start.mjs and the README explain', () => {
    const keys = fs
      .readFileSync(path.join(repoDir(), '.npmrc'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() && !l.trim().startsWith('#'))
      .map((l) => l.split('=')[0]!.trim());
    assert.deepEqual(keys, ['onnxruntime-node-install']);
    const start = fs.readFileSync(path.join(repoDir(), 'scripts', 'start.mjs'), 'utf8');
    assert.match(start, /Unknown project config onnxruntime-node-install" warning is expected/);
    // A nested npm would print the warning a second time.
    assert.doesNotMatch(start, /run\('npm'/);
  });

  it('npm has no dependency install script left to review (npm ci prints no install-scripts warning)', (t) => {
    const r = spawnSync('npm', ['install-scripts', 'ls'], { cwd: repoDir(), encoding: 'utf8' });
    if (r.status !== 0 && /unknown command/i.test(r.stdout + r.stderr)) {
      t.diagnostic('this npm predates allowScripts, so it prints no such warning');
      return;
    }
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /No packages with unreviewed install scripts/);
  });
});
