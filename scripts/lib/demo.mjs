// The demo's pieces that `npm start` (scripts/start.mjs) puts together, kept apart so they are
// unit-tested (test/scripts/demo.test.ts): where the demo lives, what its workspace and VS Code
// settings say, the URL that opens main.py, and which of code-server's lines are noise.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Switchyard's cache folder, as the engine computes it (engine/checkpoint/checkpoint.ts
 * defaultCacheDir): $XDG_CACHE_HOME/switchyard, else ~/.cache/switchyard.
 */
export function cacheDir(env = process.env) {
  return env.XDG_CACHE_HOME ? path.join(env.XDG_CACHE_HOME, 'switchyard') : path.join(os.homedir(), '.cache', 'switchyard');
}

/**
 * The demo's folders: under the cache folder (or $SWITCHYARD_DEMO_DIR), outside the repository, so
 * VS Code's git does not find the repository as the workspace's parent and ask about it.
 */
export function demoDirs(env = process.env) {
  const root = path.resolve(env.SWITCHYARD_DEMO_DIR || path.join(cacheDir(env), 'demo'));
  return {
    root,
    workspace: path.join(root, 'workspace'),
    // Named for what it is: the chat view's engine line shows the folder's name.
    model: path.join(root, 'random-weight-model'),
    userData: path.join(root, 'user-data'),
    extensions: path.join(root, 'extensions'),
    xdg: path.join(root, 'xdg'),
    log: path.join(root, 'code-server.log'),
  };
}

/** The first lines of main.py: what the README's walkthrough types into. */
export const DEMO_MAIN_PY =
  'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n\n\ndef main():\n    \n\n\nif __name__ == "__main__":\n    main()\n';

/**
 * Writes the workspace: settings that point at `model` (rewritten each time, so they follow the
 * chosen model) and main.py (kept if it exists: it is the user's playground).
 */
export function writeDemoWorkspace(dirs, { model, providers }) {
  fs.mkdirSync(path.join(dirs.workspace, '.vscode'), { recursive: true });
  const settings = {
    'switchyard.model.path': model,
    'switchyard.model.quantization': 'none',
    'switchyard.engine.executionProviders': providers,
  };
  fs.writeFileSync(path.join(dirs.workspace, '.vscode', 'settings.json'), JSON.stringify(settings, null, 2) + '\n');
  const main = path.join(dirs.workspace, 'main.py');
  if (!fs.existsSync(main)) fs.writeFileSync(main, DEMO_MAIN_PY);
  return main;
}

/**
 * VS Code's user settings for the demo: no Walkthrough or welcome page on start (the URL opens
 * main.py instead). The user's own later changes to other keys are kept.
 */
export function writeDemoUserSettings(dirs) {
  const file = path.join(dirs.userData, 'User', 'settings.json');
  let settings = {};
  try {
    settings = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    // first run (or a file VS Code's JSONC we cannot read): start from nothing
  }
  settings['workbench.startupEditor'] = 'none';
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(settings, null, 2) + '\n');
  return file;
}

/**
 * The URL that opens the workspace with `file` in an editor: VS Code for the web reads the
 * `payload` query's "openFile" entry (a vscode-remote URI on the same host).
 */
export function demoUrl(port, workspace, file) {
  const host = `127.0.0.1:${port}`;
  const payload = JSON.stringify([['openFile', `vscode-remote://${host}${file.split(path.sep).join('/')}`]]);
  return `http://${host}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(payload)}`;
}

/**
 * A filter for code-server's stderr: drops the lines a newcomer takes for errors although nothing
 * is wrong (the closed-source vsda module that open-source builds lack, the open-vsx extension
 * gallery that is unreachable offline) with the stack lines under them; passes everything else.
 * Feed it lines; it returns whether to show each.
 */
export function codeServerNoiseFilter() {
  let dropping = false;
  return (line) => {
    if (/vsda|open-vsx\.org|openvsx/i.test(line)) {
      dropping = true;
      return false;
    }
    // A stack trace's "    at ..." lines belong to the line above them.
    if (dropping && /^\s+at\s/.test(line)) return false;
    dropping = false;
    return true;
  };
}
