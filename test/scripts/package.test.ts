/**
 * `scripts/package.mjs`: the per-platform VSIX. Packages linux-x64 into a temp dir and reads the zip
 * (with yauzl, which @vscode/vsce already depends on): only the runtime files, only linux/x64
 * binaries, a stripped manifest, a bounded size. Then shows that it runs: code-server installs it
 * (when .cache/e2e/code-server is there; `npm test` runs the unit tests before the e2e set-up
 * installs it) and the installed (or, without code-server, the unzipped) dist/engine.cjs loads the
 * tiny model and completes, with onnxruntime-node resolved from the VSIX's own node_modules.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { EngineClient } from '../../engine/protocol/client.ts';
import { repoDir } from '../helpers/paths.ts';
import { tinyModel } from '../helpers/tiny-model.ts';

// yauzl ships no typings; the little of it used here.
interface ZipEntry {
  fileName: string;
  uncompressedSize: number;
}
interface ZipFile {
  eachEntry(): AsyncIterable<ZipEntry>;
  openReadStreamPromise(e: ZipEntry): Promise<NodeJS.ReadableStream>;
  close(): void;
}
const yauzl = createRequire(path.join(repoDir(), 'package.json'))('yauzl') as {
  openPromise(file: string, opts: { lazyEntries: true; autoClose?: boolean }): Promise<ZipFile>;
};

async function zipEntries(file: string): Promise<ZipEntry[]> {
  const zip = await yauzl.openPromise(file, { lazyEntries: true });
  const out: ZipEntry[] = [];
  for await (const e of zip.eachEntry()) out.push({ fileName: e.fileName, uncompressedSize: e.uncompressedSize });
  return out;
}

/** Unzips `extension/**` of a VSIX into `dir` (what an editor's install does, minus the bookkeeping). */
async function unzipExtension(file: string, dir: string): Promise<void> {
  const zip = await yauzl.openPromise(file, { lazyEntries: true, autoClose: false });
  try {
    for await (const e of zip.eachEntry()) {
      if (!e.fileName.startsWith('extension/') || e.fileName.endsWith('/')) continue;
      const dst = path.join(dir, e.fileName.slice('extension/'.length));
      fs.mkdirSync(path.dirname(dst), { recursive: true });
      await pipeline(await zip.openReadStreamPromise(e), fs.createWriteStream(dst));
    }
  } finally {
    zip.close();
  }
}

const REPO = repoDir();
const TARGET = 'linux-x64';
const CODE_SERVER = process.env.SWITCHYARD_E2E_CODE_SERVER ?? path.join(REPO, '.cache/e2e/code-server/node_modules/.bin/code-server');
const haveCodeServer = fs.existsSync(CODE_SERVER);
const runsHere = `${process.platform}-${process.arch}` === TARGET;
// Measured: 17.5 MB (ORT's 43.7 MB libonnxruntime.so.1 compresses to ~17 MB; the bundles ~0.3 MB).
// 25 MB leaves room for bundle growth and ORT patch releases, and is exceeded by any second
// platform's binaries (the smallest, linux-arm64, adds ~10 MB); the whole onnxruntime-node is 288 MB.
const MAX_VSIX_BYTES = 25 * 1024 * 1024;

describe('scripts/package.mjs', () => {
  let tmp: string;
  let vsix: string;
  let entries: ZipEntry[];
  let names: string[];
  /** The extension folder the engine check runs from: code-server's install, else an unzip. */
  let installed: string | undefined;

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-package-test-'));
    const r = spawnSync(process.execPath, ['scripts/package.mjs', '--target', TARGET, '--out', path.join(tmp, 'out')], { cwd: REPO, encoding: 'utf8' });
    assert.equal(r.status, 0, `package.mjs failed:\n${r.stdout}\n${r.stderr}`);
    vsix = path.join(tmp, 'out', `switchyard-${TARGET}-0.1.0.vsix`);
    assert.ok(r.stdout.includes(vsix), `package.mjs should print the VSIX path:\n${r.stdout}`);
    assert.ok(fs.existsSync(vsix));
  });
  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('holds only the runtime files, linux/x64 binaries only, within the size bound', async () => {
    entries = await zipEntries(vsix);
    names = entries.map((e) => e.fileName).filter((n) => !n.endsWith('/'));
    for (const f of [
      'extension.vsixmanifest',
      'extension/package.json',
      'extension/dist/extension.cjs',
      'extension/dist/engine.cjs',
      'extension/dist/webview.js',
      'extension/dist/webview.css',
      'extension/media/switchyard.svg',
      'extension/LICENSE.txt',
      'extension/node_modules/onnxruntime-node/package.json',
      'extension/node_modules/onnxruntime-node/dist/index.js',
      'extension/node_modules/onnxruntime-node/dist/binding.js',
      'extension/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node',
      'extension/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1',
      'extension/node_modules/onnxruntime-common/package.json',
      'extension/node_modules/onnxruntime-common/dist/cjs/index.js',
      'extension/node_modules/onnxruntime-common/dist/cjs/package.json',
    ]) {
      assert.ok(names.includes(f), `missing ${f}`);
    }
    assert.ok(names.some((n) => /^extension\/readme\.md$/i.test(n)), 'missing the README');

    const bins = names.filter((n) => n.includes('/onnxruntime-node/bin/'));
    const foreign = bins.filter((n) => !n.startsWith('extension/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/'));
    assert.deepEqual(foreign, [], 'binaries of other platforms');
    assert.ok(!names.some((n) => /darwin|win32|arm64|\.dll$|\.dylib$/.test(n)), 'darwin/win32/arm64 files');

    assert.deepEqual(names.filter((n) => n.endsWith('.ts') || n.endsWith('.map')), [], 'no TypeScript sources, typings or source maps');
    assert.deepEqual(
      names.filter((n) => /^extension\/(test|bench|engine|extension|webview|scripts|docs|scratch|\.cache)\//.test(n)),
      [],
      'no sources, tests, benchmarks or caches',
    );
    const top = new Set(names.filter((n) => n.startsWith('extension/')).map((n) => n.split('/')[1]!));
    assert.deepEqual([...top].sort(), ['LICENSE.txt', 'dist', 'media', 'node_modules', 'package.json', 'readme.md']);
    const modules = new Set(names.filter((n) => n.startsWith('extension/node_modules/')).map((n) => n.split('/')[2]));
    assert.deepEqual([...modules].sort(), ['onnxruntime-common', 'onnxruntime-node']);

    const zip = await yauzl.openPromise(vsix, { lazyEntries: true, autoClose: false });
    let manifest: Record<string, unknown> | undefined;
    try {
      for await (const e of zip.eachEntry()) {
        if (e.fileName !== 'extension/package.json') continue;
        const chunks: Buffer[] = [];
        for await (const c of await zip.openReadStreamPromise(e)) chunks.push(c as Buffer);
        manifest = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      }
    } finally {
      zip.close();
    }
    assert.ok(manifest);
    assert.equal(manifest.main, './dist/extension.cjs');
    assert.equal(manifest.devDependencies, undefined);
    assert.equal(manifest.scripts, undefined);
    assert.deepEqual(Object.keys((manifest.dependencies ?? {}) as object), ['onnxruntime-node']);

    const size = fs.statSync(vsix).size;
    assert.ok(size < MAX_VSIX_BYTES, `VSIX is ${(size / 2 ** 20).toFixed(1)} MB, over ${MAX_VSIX_BYTES / 2 ** 20} MB`);
  });

  it(
    'code-server installs it',
    { skip: haveCodeServer ? false : `code-server not installed at ${CODE_SERVER} (node scripts/e2e/setup.mjs installs it); the engine check below runs from an unzipped copy`, timeout: 60_000 },
    () => {
      const home = path.join(tmp, 'code-server');
      const ext = path.join(home, 'extensions');
      const r = spawnSync(CODE_SERVER, ['--user-data-dir', path.join(home, 'user-data'), '--extensions-dir', ext, '--install-extension', vsix], {
        encoding: 'utf8',
        timeout: 50_000,
        env: {
          ...process.env,
          XDG_CONFIG_HOME: path.join(home, 'xdg', 'config'),
          XDG_DATA_HOME: path.join(home, 'xdg', 'data'),
          XDG_CACHE_HOME: path.join(home, 'xdg', 'cache'),
        },
      });
      assert.equal(r.status, 0, `code-server --install-extension failed:\n${r.stdout}\n${r.stderr}`);
      const dir = path.join(ext, 'switchyard.switchyard-0.1.0');
      assert.ok(fs.existsSync(path.join(dir, 'dist', 'engine.cjs')), `${dir}/dist/engine.cjs after the install`);
      assert.ok(fs.existsSync(path.join(dir, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', 'linux', 'x64', 'onnxruntime_binding.node')));
      installed = dir;
    },
  );

  it(
    'the packaged engine starts, loads a model and completes with the packaged onnxruntime-node',
    { skip: runsHere ? false : `the ${TARGET} VSIX cannot run on ${process.platform}-${process.arch}`, timeout: 120_000 },
    async () => {
      if (!installed) {
        installed = path.join(tmp, 'unzipped');
        await unzipExtension(vsix, installed);
      }
      const engine = path.join(installed, 'dist', 'engine.cjs');
      // The installed copy lives outside the repository, so nothing but its own node_modules can
      // supply onnxruntime-node.
      const rel = path.relative(REPO, installed);
      assert.ok(rel.startsWith('..') || path.isAbsolute(rel), 'the installed copy must sit outside the repository');
      const ort = createRequire(engine).resolve('onnxruntime-node');
      assert.ok(ort.startsWith(path.join(installed, 'node_modules', 'onnxruntime-node') + path.sep), `onnxruntime-node resolves to ${ort}`);

      const model = tinyModel('deepseek-coder-v1');
      const client = EngineClient.spawn({ args: [engine], cwd: installed });
      try {
        const init = await client.initialize();
        assert.ok(init.pid > 0);
        const info = await client.loadModel({ model, cacheDir: path.join(tmp, 'engine-cache'), providers: ['cpu'], contextLength: 512 });
        assert.equal(info.provider, 'cpu');
        const out = await client.complete({ prefix: 'def add(a, b):\n    return ', suffix: '\n', maxTokens: 4 });
        assert.equal(typeof out.text, 'string');
        assert.ok(out.usage.completionTokens > 0, 'the model produced tokens');
      } finally {
        await client.shutdown();
      }
    },
  );
});
