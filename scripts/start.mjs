#!/usr/bin/env node
// `npm start`: the demo in a real VS Code. Builds the extension and engine, installs code-server
// (once, into .cache/e2e/, the same install the end-to-end tests use), prepares a demo workspace
// whose settings point at a model, and serves VS Code on 127.0.0.1 until Ctrl+C.
//
// Model: $SWITCHYARD_MODEL (a Hugging Face checkpoint folder with tokenizer files) when set;
// otherwise the built-in small default: a tiny random-weight DeepSeek-V2 with the real
// DeepSeek-Coder tokenizer (no model hub is reachable here, so it writes one locally; its
// completions are nonsense, but every part of the pipeline is real).
//
// Env: SWITCHYARD_PORT (default 8765), SWITCHYARD_MODEL, SWITCHYARD_EP (default cpu).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEMO = path.join(REPO, '.cache', 'demo');
const port = Number(process.env.SWITCHYARD_PORT ?? 8765);
const say = (m) => console.log(`[start] ${m}`);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: REPO, ...opts });
  if (r.status !== 0) {
    console.error(`[start] failed: ${cmd} ${args.join(' ')} (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}

say('building the extension and the engine');
run('npm', ['run', '-s', 'build']);

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
  say('writing the built-in small default model (random weights, real DeepSeek-Coder tokenizer)');
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', "import { tinyModel } from './test/helpers/tiny-model.ts'; process.stdout.write(tinyModel('deepseek-coder-v1'));"], {
    cwd: REPO,
    encoding: 'utf8',
  });
  if (r.status !== 0) {
    console.error(`[start] could not write the default model:\n${r.stderr}`);
    process.exit(1);
  }
  model = r.stdout.trim();
}

// Demo workspace (rewritten each time so the settings follow the chosen model).
const ws = path.join(DEMO, 'workspace');
fs.mkdirSync(path.join(ws, '.vscode'), { recursive: true });
fs.writeFileSync(
  path.join(ws, '.vscode', 'settings.json'),
  JSON.stringify(
    {
      'switchyard.model.path': model,
      'switchyard.model.quantization': 'none',
      'switchyard.engine.executionProviders': (process.env.SWITCHYARD_EP ?? 'cpu').split(','),
    },
    null,
    2,
  ),
);
if (!fs.existsSync(path.join(ws, 'main.py'))) {
  fs.writeFileSync(
    path.join(ws, 'main.py'),
    'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n\n\ndef main():\n    \n\n\nif __name__ == "__main__":\n    main()\n',
  );
}

// The extension: the repository itself, linked into an extensions dir of its own.
const ext = path.join(DEMO, 'extensions');
fs.rmSync(ext, { recursive: true, force: true });
fs.mkdirSync(ext, { recursive: true });
fs.symlinkSync(REPO, path.join(ext, 'switchyard.switchyard-0.1.0'));

const xdg = path.join(DEMO, 'xdg');
const env = {
  ...process.env,
  XDG_CONFIG_HOME: path.join(xdg, 'config'),
  XDG_DATA_HOME: path.join(xdg, 'data'),
  XDG_CACHE_HOME: path.join(xdg, 'cache'),
};
const child = spawn(
  CODE_SERVER_BIN,
  [
    '--bind-addr', `127.0.0.1:${port}`,
    '--auth', 'none',
    '--user-data-dir', path.join(DEMO, 'user-data'),
    '--extensions-dir', ext,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    ws,
  ],
  { env, stdio: ['ignore', 'ignore', 'inherit'], detached: true },
);
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
say(`VS Code with Switchyard: http://127.0.0.1:${port}/?folder=${encodeURIComponent(ws)}`);
say('open main.py, type inside main() and accept the ghost text with Tab; the Switchyard view in the activity bar is the chat; select code and right-click > Switchyard for refactors. Ctrl+C stops.');
