/**
 * The models folder: listing (state, size, repo, architecture) and removal (never outside the folder).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MANIFEST_FILE, writeManifest, type DownloadManifest } from '../../../engine/models/manifest.ts';
import { listModels, ModelStoreError, removeModel } from '../../../engine/models/store.ts';
import { Checkpoint } from '../../../engine/checkpoint/checkpoint.ts';
import { modelFacts } from '../../../engine/model/info.ts';
import { countParams, v4Tensors } from '../../../engine/model/params.ts';
import { specFromConfig } from '../../../engine/model/spec.ts';
import { repoDir, sharedDir } from '../../helpers/paths.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-store-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const CONFIG = JSON.stringify({ architectures: ['DeepseekV2ForCausalLM'], model_type: 'deepseek_v2' });

function write(dir: string, files: Record<string, string | Buffer>): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const [f, c] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), c);
}

function manifest(repo: string, complete: boolean, files: Record<string, number>): DownloadManifest {
  return {
    version: 1,
    repo,
    revision: 'main',
    commit: 'a'.repeat(40),
    hubUrl: 'https://huggingface.co',
    complete,
    files: Object.entries(files).map(([p, size]) => ({ path: p, size })),
    updatedAt: new Date(0).toISOString(),
  };
}

function makeFolder(): { root: string; outside: string } {
  const root = fs.mkdtempSync(path.join(tmp, 'models-'));
  const outside = fs.mkdtempSync(path.join(tmp, 'outside-'));
  write(path.join(root, 'org--done'), { 'config.json': CONFIG, 'model.safetensors': Buffer.alloc(1000) });
  writeManifest(path.join(root, 'org--done'), manifest('org/done', true, { 'config.json': CONFIG.length, 'model.safetensors': 1000 }));
  write(path.join(root, 'org--half'), { 'config.json': CONFIG, 'model.safetensors.part': Buffer.alloc(300) });
  writeManifest(path.join(root, 'org--half'), manifest('org/half', false, { 'config.json': CONFIG.length }));
  write(path.join(root, 'org--damaged'), { 'config.json': CONFIG });
  writeManifest(path.join(root, 'org--damaged'), manifest('org/damaged', true, { 'config.json': CONFIG.length, 'model.safetensors': 1000 }));
  write(path.join(root, 'by-hand'), { 'config.json': CONFIG, 'a.safetensors': Buffer.alloc(10), 'b.safetensors': Buffer.alloc(20) });
  write(path.join(root, 'leftover'), { 'model.safetensors.part': Buffer.alloc(5) });
  write(path.join(root, 'notes'), { 'README.md': 'hi' });
  write(path.join(root, 'bad-config'), { 'config.json': '{', 'model.safetensors': Buffer.alloc(1) });
  write(path.join(root, '.hidden'), { 'config.json': CONFIG });
  fs.writeFileSync(path.join(root, 'stray-file.txt'), 'x');
  write(path.join(outside, 'elsewhere'), { 'config.json': CONFIG, 'model.safetensors': Buffer.alloc(7) });
  fs.symlinkSync(path.join(outside, 'elsewhere'), path.join(root, 'linked'));
  return { root, outside };
}

describe('listModels', () => {
  test('lists each model folder with its state, size, repo and architecture', async () => {
    const { root } = makeFolder();
    const list = await listModels(root);
    const by = Object.fromEntries(list.map((m) => [m.name, m]));
    assert.deepEqual(
      list.map((m) => m.name),
      ['bad-config', 'by-hand', 'leftover', 'linked', 'notes', 'org--damaged', 'org--done', 'org--half'],
    );
    const done = by['org--done']!;
    assert.equal(done.state, 'complete');
    assert.equal(done.repo, 'org/done');
    assert.equal(done.commit, 'a'.repeat(40));
    assert.equal(done.architecture, 'DeepseekV2ForCausalLM');
    assert.equal(done.modelType, 'deepseek_v2');
    assert.equal(done.path, path.join(root, 'org--done'));
    assert.equal(done.sizeBytes, CONFIG.length + 1000 + fs.statSync(path.join(root, 'org--done', MANIFEST_FILE)).size);
    assert.equal(by['org--half']!.state, 'partial');
    assert.match(by['org--half']!.problem!, /has not finished.*resume/);
    assert.equal(by['org--damaged']!.state, 'invalid');
    assert.match(by['org--damaged']!.problem!, /model\.safetensors is missing/);
    assert.equal(by['by-hand']!.state, 'complete');
    assert.equal(by['by-hand']!.repo, undefined);
    assert.equal(by['by-hand']!.sizeBytes, CONFIG.length + 30);
    assert.equal(by['leftover']!.state, 'partial');
    assert.equal(by['notes']!.state, 'invalid');
    assert.match(by['notes']!.problem!, /no config\.json/);
    assert.equal(by['bad-config']!.state, 'invalid');
    assert.match(by['bad-config']!.problem!, /config\.json cannot be read/);
    assert.equal(by['linked']!.state, 'complete');
  });

  test('parameter counts: from config.json alone for DeepSeek-V4 (even before its weights), from the headers of other complete checkpoints', async () => {
    const root = fs.mkdtempSync(path.join(tmp, 'counts-'));
    const flash = fs.readFileSync(path.join(repoDir(), 'test', 'fixtures', 'deepseek-v4-flash', 'config.json'));
    write(path.join(root, 'v4-config-only'), { 'config.json': flash });
    write(path.join(root, 'v4-downloading'), { 'config.json': flash, 'model-00001-of-00046.safetensors.part': Buffer.alloc(10) });
    const v2 = path.join(sharedDir(), 'oracle', 'deepseek_v2_lite');
    fs.symlinkSync(v2, path.join(root, 'v2-real'));
    write(path.join(root, 'v2-no-weights'), { 'config.json': fs.readFileSync(path.join(v2, 'config.json')) });
    const by = Object.fromEntries((await listModels(root)).map((m) => [m.name, m]));
    const flashSpec = specFromConfig(JSON.parse(flash.toString('utf8')) as Record<string, unknown>, 'config.json');
    const expected = countParams(flashSpec, v4Tensors(flashSpec));
    for (const n of ['v4-config-only', 'v4-downloading']) {
      assert.equal(by[n]!.parameters, expected.total, n);
      assert.equal(by[n]!.activeParameters, expected.active, n);
    }
    assert.equal(by['v4-config-only']!.state, 'invalid', 'no weights: listed, sized, but not usable');
    const ckpt = Checkpoint.open(v2);
    try {
      const facts = modelFacts(specFromConfig(ckpt.config, ckpt.configPath), ckpt);
      assert.equal(by['v2-real']!.parameters, facts.totalParams);
      assert.equal(by['v2-real']!.activeParameters, facts.activeParams);
    } finally {
      ckpt.close();
    }
    assert.equal(by['v2-no-weights']!.parameters, undefined, 'not countable without its weights');
  });

  test('an absent folder has no models; a file in its place is a clear error', async () => {
    assert.deepEqual(await listModels(path.join(tmp, 'does-not-exist')), []);
    const file = path.join(tmp, 'file');
    fs.writeFileSync(file, 'x');
    await assert.rejects(listModels(file), (e: unknown) => e instanceof ModelStoreError && e.message.includes(file) && /not a directory/.test(e.message));
  });
});

describe('removeModel', () => {
  test('removes a model folder, by path or by name', async () => {
    const { root } = makeFolder();
    await removeModel(root, path.join(root, 'org--done'));
    await removeModel(root, 'org--half');
    assert.equal(fs.existsSync(path.join(root, 'org--done')), false);
    assert.equal(fs.existsSync(path.join(root, 'org--half')), false);
    assert.ok(fs.existsSync(path.join(root, 'by-hand')));
  });

  test('a link is removed, not the model it points to', async () => {
    const { root, outside } = makeFolder();
    await removeModel(root, 'linked');
    assert.equal(fs.existsSync(path.join(root, 'linked')), false);
    assert.ok(fs.existsSync(path.join(outside, 'elsewhere', 'config.json')));
  });

  test('refuses anything that is not a model folder directly inside the folder', async () => {
    const { root, outside } = makeFolder();
    const refused = (e: unknown) => e instanceof ModelStoreError && /refusing to remove/.test(e.message);
    await assert.rejects(removeModel(root, root), refused);
    await assert.rejects(removeModel(root, '.'), refused);
    await assert.rejects(removeModel(root, '..'), refused);
    await assert.rejects(removeModel(root, path.join(outside, 'elsewhere')), refused);
    await assert.rejects(removeModel(root, `../${path.basename(outside)}/elsewhere`), refused);
    await assert.rejects(removeModel(root, path.join('by-hand', 'config.json')), refused);
    await assert.rejects(removeModel(root, path.join('linked', 'config.json')), refused); // climbs out through the link
    await assert.rejects(removeModel(root, 'stray-file.txt'), /not a model folder/);
    await assert.rejects(removeModel(root, 'nope'), (e: unknown) => e instanceof ModelStoreError && /nope: no such file/.test(e.message));
    assert.ok(fs.existsSync(path.join(outside, 'elsewhere', 'config.json')));
    assert.ok(fs.existsSync(path.join(root, 'by-hand', 'config.json')));
  });
});
