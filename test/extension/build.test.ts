/**
 * The bundles VS Code runs: `scripts/build.mjs` into a scratch folder inside the repository (so
 * node_modules resolve as they do for dist/). The engine bundle must answer JSON-RPC `status`; the
 * extension bundle must be CommonJS with only 'vscode' and Node built-ins left to require.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { EngineClient } from '../../engine/protocol/client.ts';
import { repoDir } from '../helpers/paths.ts';

const out = path.join(repoDir(), '.cache', 'build-test');

function externalRequires(file: string): string[] {
  const code = fs.readFileSync(file, 'utf8');
  const names = new Set<string>();
  for (const m of code.matchAll(/\brequire\((["'])([^"']+)\1\)/g)) names.add(m[2]!);
  return [...names].filter((n) => !n.startsWith('node:') && !builtinModules.includes(n)).sort();
}

describe('build', () => {
  it('bundles the extension and the engine; the engine bundle answers status', { timeout: 120_000 }, async () => {
    fs.rmSync(out, { recursive: true, force: true });
    const r = spawnSync(process.execPath, ['scripts/build.mjs', '--outdir', out], { cwd: repoDir(), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(externalRequires(path.join(out, 'extension.cjs')), ['vscode']);
    assert.deepEqual(externalRequires(path.join(out, 'engine.cjs')), ['onnxruntime-node']);

    // Load the extension bundle with a stand-in for 'vscode' (the editor provides the real one).
    const file = path.join(out, 'extension.cjs');
    const req = createRequire(file);
    const mod = { exports: {} as Record<string, unknown> };
    const load = new Function('require', 'module', 'exports', '__filename', '__dirname', fs.readFileSync(file, 'utf8'));
    load((n: string) => (n === 'vscode' ? {} : req(n)), mod, mod.exports, file, out);
    assert.equal(typeof mod.exports.activate, 'function');
    assert.equal(typeof mod.exports.deactivate, 'function');

    const client = EngineClient.spawn({ args: [path.join(out, 'engine.cjs')], cwd: repoDir() });
    try {
      const init = await client.initialize();
      assert.ok(init.pid > 0);
      const st = await client.status();
      assert.equal(st.model, null);
      assert.equal(st.loading, false);
    } finally {
      await client.shutdown();
    }
  });
});
