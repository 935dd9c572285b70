#!/usr/bin/env node
// `npm start`: the demo in a real VS Code. Builds the extension and engine, installs code-server
// (once, into .cache/e2e/, the same install the end-to-end tests use), prepares a demo workspace
// whose settings point at a model, and serves VS Code on 127.0.0.1 until Ctrl+C, opened on main.py.
//
// Everything the demo writes goes under the cache folder ($XDG_CACHE_HOME/switchyard/demo or
// ~/.cache/switchyard/demo; $SWITCHYARD_DEMO_DIR to choose): outside the repository, so VS Code's
// git does not ask about the repository as the workspace's parent (scripts/lib/demo.mjs).
//
// Model: $SWITCHYARD_MODEL (a Hugging Face checkpoint folder with tokenizer files) when set;
// otherwise the built-in small default: a tiny random-weight DeepSeek-V2 with the real
// DeepSeek-Coder tokenizer (no model hub is reachable here, so it writes one locally; its
// output is nonsense and never holds a closed code block, which the views say; every part of the
// pipeline is real).
//
// Env: SWITCHYARD_PORT (default 8765), SWITCHYARD_MODEL, SWITCHYARD_EP (default cpu), SWITCHYARD_DEMO_DIR.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { codeServerNoiseFilter, demoDirs, demoUrl, writeDemoUserSettings, writeDemoWorkspace } from './lib/demo.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEMO = demoDirs();
const port = Number(process.env.SWITCHYARD_PORT ?? 8765);
const say = (m) => console.log(`[start] ${m}`);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: REPO, ...opts });
  if (r.status !== 0) {
    console.error(`[start] failed: ${cmd} ${args.join(' ')} (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}

if (process.env.npm_config_onnxruntime_node_install) {
  // npm printed it just above; it is the one line of .npmrc, which npm itself has no key for.
  say('npm\'s "Unknown project config onnxruntime-node-install" warning is expected: that .npmrc line tells onnxruntime-node to skip its CUDA download (see README, GPU).');
}

say('building the extension and the engine');
// node, not `npm run build`: a nested npm would print the .npmrc warning again.
run(process.execPath, ['scripts/build.mjs']);

say('installing code-server (first time only)');
const { setup, CODE_SERVER_BIN } = await import('./e2e/setup.mjs');
await setup({ browser: false });

let model = process.env.SWITCHYARD_MODEL;
if (model) {
  model = path.resolve(model);
  if (!fs.existsSync(path.join(model, 'config.json'))) {
    console.error(`[start] SWITCHYARD_MODEL=${model}: no config.json there (need a Hugging Face checkpoint folder)`);
    process.exit(1);
  }
} else {
  say(`writing the built-in small default model to ${DEMO.model} (random weights, real DeepSeek-Coder tokenizer)`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/lib/demo-model.ts', DEMO.model], { cwd: REPO, encoding: 'utf8' });
  if (r.status !== 0) {
    console.error(`[start] could not write the default model:\n${r.stderr}`);
    process.exit(1);
  }
  model = r.stdout.trim();
}

const mainPy = writeDemoWorkspace(DEMO, { model, providers: (process.env.SWITCHYARD_EP ?? 'cpu').split(',') });
writeDemoUserSettings(DEMO);

// The extension: the repository itself, linked into an extensions dir of its own.
const ext = DEMO.extensions;
fs.rmSync(ext, { recursive: true, force: true });
fs.mkdirSync(ext, { recursive: true });
fs.symlinkSync(REPO, path.join(ext, 'switchyard.switchyard-0.1.0'));

const env = {
  ...process.env,
  XDG_CONFIG_HOME: path.join(DEMO.xdg, 'config'),
  XDG_DATA_HOME: path.join(DEMO.xdg, 'data'),
  XDG_CACHE_HOME: path.join(DEMO.xdg, 'cache'),
};
const child = spawn(
  CODE_SERVER_BIN,
  [
    '--bind-addr', `127.0.0.1:${port}`,
    '--auth', 'none',
    '--user-data-dir', DEMO.userData,
    '--extensions-dir', ext,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    DEMO.workspace,
  ],
  { env, stdio: ['ignore', 'ignore', 'pipe'], detached: true },
);
// code-server's stderr: all of it into the demo's log, on the terminal less the harmless noise.
const csLog = fs.createWriteStream(DEMO.log);
const show = codeServerNoiseFilter();
readline.createInterface({ input: child.stderr }).on('line', (line) => {
  csLog.write(line + '\n');
  if (show(line)) process.stderr.write(line + '\n');
});

child.on('exit', (code, signal) => {
  console.error(`[start] code-server exited (${signal ?? code})`);
  process.exit(code ?? 1);
});
const stop = () => {
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    // already gone
  }
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

for (let i = 0; i < 120; i++) {
  try {
    if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) break;
  } catch {
    // not up yet
  }
  await new Promise((r) => setTimeout(r, 500));
}
say(`model: ${model}`);
say(`code-server's log: ${DEMO.log}`);
say(`VS Code with Switchyard: ${demoUrl(port, DEMO.workspace, mainPy)}`);
say('main.py is open: (1) type inside main() and accept the ghost text with Tab; (2) open the Switchyard view in the activity bar and ask a question; (3) select code, right-click > Switchyard > Fix Selection. Ctrl+C stops.');
if (!process.env.SWITCHYARD_MODEL) say('the built-in model has random weights: its text is nonsense and never holds a closed code block, so (3) explains why there is no diff; SWITCHYARD_MODEL=/path/to/checkpoint npm start runs a real one.');
