/**
 * `engine download` and `engine models` as a user runs them, against the fake hub.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { repoDir } from '../../helpers/paths.ts';
import { tinyModel } from '../../helpers/tiny-model.ts';
import { FakeHub } from './fake-hub.ts';

const run = promisify(execFile);
const CLI = path.join(repoDir(), 'engine', 'cli', 'main.ts');
const hub = new FakeHub();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-models-cli-'));

before(async () => {
  const src = tinyModel('deepseek-coder-v1');
  const files = new Map<string, Buffer>();
  for (const f of ['config.json', 'model.safetensors.index.json', 'model-00001-of-00001.safetensors', 'tokenizer.json', 'tokenizer_config.json']) {
    files.set(f, fs.readFileSync(path.join(src, f)));
  }
  hub.repos.set('tiny-org/cli-model', { files, lfs: new Set(['model-00001-of-00001.safetensors']), commit: 'b'.repeat(40) });
  await hub.start();
});
after(async () => {
  await hub.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: repoDir(), env: { ...process.env, HF_TOKEN: '' } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

test('download prints progress on stderr and the folder on stdout; models lists it', async () => {
  const d = await cli(['download', 'tiny-org/cli-model', '--dir', tmp, '--hub-url', hub.url]);
  assert.equal(d.code, 0, d.stderr);
  const folder = path.join(tmp, 'tiny-org--cli-model');
  assert.equal(d.stdout, `${folder}\n`);
  assert.match(d.stderr, /listing files/);
  assert.match(d.stderr, /MB \/ .* model-00001-of-00001\.safetensors/);
  assert.match(d.stderr, /done: .* in 5 files/);

  const list = await cli(['models', '--dir', tmp]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^tiny-org--cli-model\s+complete\s+\d+\.\d MB\s+DeepseekV2ForCausalLM\s+tiny-org\/cli-model$/m);
  const json = JSON.parse((await cli(['models', '--dir', tmp, '--json'])).stdout) as { name: string; state: string }[];
  assert.deepEqual(json.map((m) => [m.name, m.state]), [['tiny-org--cli-model', 'complete']]);
});

test('download errors are one line on stderr and exit non-zero', async () => {
  const d = await cli(['download', 'tiny-org/missing', '--dir', tmp, '--hub-url', hub.url]);
  assert.equal(d.code, 1);
  assert.match(d.stderr, /^error: tiny-org\/missing: model repo not found on http:\/\/127\.0\.0\.1:\d+\n$/m);
  const u = await cli(['download', '--dir', tmp]);
  assert.equal(u.code, 1);
  assert.match(u.stderr, /usage: engine download <owner\/name>/);
  const bad = await cli(['download', 'a/b/c', '--dir', tmp, '--hub-url', hub.url]);
  assert.match(bad.stderr, /error: invalid model id: too many '\/'/);
});
