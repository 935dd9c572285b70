/**
 * The downloader against a local fake of the hub (fake-hub.ts) serving a tiny real checkpoint, through
 * @huggingface/hub's own listFiles / fileDownloadInfo pointed at it with `hubUrl`.
 */
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Checkpoint } from '../../../engine/checkpoint/checkpoint.ts';
import { specFromConfig } from '../../../engine/model/spec.ts';
import { DownloadError, downloadModel, planFiles, shardsFromIndex, type DownloadOptions, type DownloadProgress } from '../../../engine/models/download.ts';
import { MANIFEST_FILE, readManifest } from '../../../engine/models/manifest.ts';
import { modelFolderName, parseRepoId, repoIdProblem } from '../../../engine/models/repo-id.ts';
import { tinyModel } from '../../helpers/tiny-model.ts';
import { FakeHub, gitOid, sha256 } from './fake-hub.ts';

const REPO = 'tiny-org/Tiny-Coder-V2';
const SHARD = 'model-00001-of-00001.safetensors';
const NEEDED = ['config.json', 'model.safetensors.index.json', SHARD, 'tokenizer.json', 'tokenizer_config.json'];
const COMMIT = 'c0ffee'.padEnd(40, '0');
const src = tinyModel('deepseek-coder-v1');
const hub = new FakeHub();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-download-'));
let hubUrl = '';
let n = 0;

/** A fresh models folder per test. */
function freshDir(): string {
  return fs.mkdtempSync(path.join(tmp, `t${n++}-`));
}

async function fails(p: Promise<unknown>): Promise<DownloadError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof DownloadError, `expected a DownloadError, got ${String((e as Error)?.stack ?? e)}`);
    return e;
  }
  assert.fail('expected the download to fail');
}

function dl(dir: string, o: Partial<DownloadOptions> = {}) {
  return downloadModel({ repo: REPO, dir, hubUrl, ...o });
}

const modelDir = (dir: string) => path.join(dir, 'tiny-org--Tiny-Coder-V2');
const shardBytes = () => hub.repos.get(REPO)!.files.get(SHARD)!;

before(async () => {
  const files = new Map<string, Buffer>();
  for (const f of NEEDED) files.set(f, fs.readFileSync(path.join(src, f)));
  // What a real repo also holds, none of which the engine needs.
  files.set('pytorch_model.bin', Buffer.alloc(4096, 7));
  files.set('README.md', Buffer.from('# Tiny\n'));
  files.set('modeling_deepseek.py', Buffer.from('print("remote code")\n'));
  files.set('consolidated.safetensors', Buffer.alloc(2048, 3)); // not in the index: not needed
  files.set('original/consolidated.00.safetensors', Buffer.alloc(1024, 1));
  hub.repos.set(REPO, { files, lfs: new Set([SHARD, 'tokenizer.json', 'pytorch_model.bin', 'consolidated.safetensors', 'original/consolidated.00.safetensors']), commit: COMMIT });
  hub.repos.set('tiny-org/gated', { files: new Map(files), lfs: new Set([SHARD, 'tokenizer.json']), commit: COMMIT, token: 'hf_good' });
  hub.repos.set('tiny-org/bin-only', {
    files: new Map([
      ['config.json', files.get('config.json')!],
      ['pytorch_model.bin', Buffer.alloc(1000)],
    ]),
    lfs: new Set(['pytorch_model.bin']),
    commit: COMMIT,
  });
  hubUrl = await hub.start();
});
beforeEach(() => hub.reset());
after(async () => {
  await hub.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('downloadModel', () => {
  let dir = '';

  test('downloads only what the engine needs, byte-identical, through the hub client routes', async () => {
    dir = freshDir();
    const events: DownloadProgress[] = [];
    const r = await dl(dir, { onProgress: (p) => events.push(p) });
    assert.equal(r.path, modelDir(dir));
    assert.deepEqual(fs.readdirSync(r.path).sort(), [...NEEDED, MANIFEST_FILE].sort());
    for (const f of NEEDED) assert.ok(fs.readFileSync(path.join(r.path, f)).equals(fs.readFileSync(path.join(src, f))), `${f} differs`);
    // The engine reads it.
    const ckpt = Checkpoint.open(r.path);
    try {
      assert.equal(specFromConfig(ckpt.config, ckpt.configPath).modelType, 'deepseek_v2');
    } finally {
      ckpt.close();
    }
    // The library's own routes were used: the tree listing, 1-byte probes on resolve, the CDN redirect.
    assert.ok(hub.requests.some((q) => q.url.startsWith(`/api/models/${REPO}/tree/main?recursive=false`)));
    assert.ok(hub.requests.some((q) => q.url === `/${REPO}/resolve/main/model.safetensors.index.json` && q.range === 'bytes=0-0'));
    assert.ok(hub.requests.some((q) => q.file === SHARD && q.status === 302));
    // Files after the first are resolved at the commit the hub named.
    assert.ok(hub.requests.some((q) => q.url.startsWith(`/${REPO}/resolve/${COMMIT}/`)));
    assert.equal(hub.requests.filter((q) => q.file && !NEEDED.includes(q.file)).length, 0, 'fetched a file it does not need');
    const total = NEEDED.reduce((a, f) => a + fs.statSync(path.join(src, f)).size, 0);
    const last = events.at(-1)!;
    assert.equal(last.phase, 'done');
    assert.equal(last.bytesDone, total);
    assert.equal(last.bytesTotal, total);
    assert.equal(last.filesDone, NEEDED.length);
    assert.ok(events.some((e) => e.file === SHARD && e.phase === 'downloading'));
    for (let i = 1; i < events.length; i++) assert.ok(events[i]!.bytesDone >= events[i - 1]!.bytesDone, 'progress went backwards');
    // The total only shrinks (once the index says consolidated.safetensors is not needed), so a progress bar never has to go back.
    const totals = events.filter((e) => e.phase !== 'listing').map((e) => e.bytesTotal);
    for (let i = 1; i < totals.length; i++) assert.ok(totals[i]! <= totals[i - 1]!, 'the total grew');
    assert.equal(r.downloadedBytes, total);
    assert.equal(r.commit, COMMIT);
    const m = readManifest(r.path)!;
    assert.equal(m.complete, true);
    assert.equal(m.repo, REPO);
    assert.equal(m.commit, COMMIT);
    assert.deepEqual(
      m.files.find((f) => f.path === SHARD),
      { path: SHARD, size: shardBytes().length, sha256: sha256(shardBytes()) },
    );
    assert.equal(m.files.find((f) => f.path === 'config.json')!.gitOid, gitOid(fs.readFileSync(path.join(src, 'config.json'))));
  });

  test('a second run skips the verified files: no GET of the weights', async () => {
    const r = await dl(dir);
    assert.deepEqual(r.skipped.sort(), [...NEEDED].sort());
    assert.equal(r.downloadedBytes, 0);
    assert.equal(hub.requests.filter((q) => q.file === SHARD).length, 0);
    assert.equal(hub.requests.filter((q) => q.file).length, 0);
    assert.equal(readManifest(r.path)!.commit, COMMIT);
  });

  test('an interrupted transfer resumes on the next run with a Range request for the rest only', async () => {
    const d = freshDir();
    hub.cutAfter = { file: SHARD, bytes: 3_000_000, times: 1 };
    const e = await fails(dl(d, { retries: 0 }));
    assert.equal(e.kind, 'network');
    assert.match(e.message, new RegExp(`${SHARD}: the download was interrupted after \\d+ of ${shardBytes().length} bytes.*resume`));
    const part = path.join(modelDir(d), `${SHARD}.part`);
    const have = fs.statSync(part).size;
    assert.ok(have > 0 && have <= 3_000_000, `part has ${have} bytes`);
    assert.equal(fs.existsSync(path.join(modelDir(d), SHARD)), false);
    assert.equal(readManifest(modelDir(d))!.complete, false);

    hub.reset();
    await dl(d);
    const reqs = hub.dataRequests(SHARD);
    assert.equal(reqs.length, 1);
    assert.equal(reqs[0]!.range, `bytes=${have}-`);
    assert.equal(reqs[0]!.status, 206);
    assert.equal(reqs[0]!.bytesSent, shardBytes().length - have);
    assert.ok(fs.readFileSync(path.join(modelDir(d), SHARD)).equals(shardBytes()));
    assert.equal(fs.existsSync(part), false);
    // The files verified in the first run were not fetched again.
    assert.equal(hub.requests.filter((q) => q.file === 'config.json').length, 0);
  });

  test('within one run a dropped connection is resumed with Range (retries)', async () => {
    const d = freshDir();
    hub.cutAfter = { file: SHARD, bytes: 1_000_000, times: 1 };
    await dl(d);
    const reqs = hub.dataRequests(SHARD);
    assert.equal(reqs.length, 2);
    assert.match(reqs[1]!.range ?? '', /^bytes=\d+-$/);
    assert.ok(fs.readFileSync(path.join(modelDir(d), SHARD)).equals(shardBytes()));
  });

  test('a server that ignores Range (200) restarts the file cleanly', async () => {
    const d = freshDir();
    fs.mkdirSync(modelDir(d), { recursive: true });
    fs.writeFileSync(path.join(modelDir(d), `${SHARD}.part`), shardBytes().subarray(0, 1_000_000));
    hub.ignoreRange = true;
    await dl(d);
    const reqs = hub.dataRequests(SHARD);
    assert.equal(reqs.length, 1);
    assert.equal(reqs[0]!.range, 'bytes=1000000-');
    assert.equal(reqs[0]!.status, 200);
    assert.ok(fs.readFileSync(path.join(modelDir(d), SHARD)).equals(shardBytes()));
  });

  test('the resumed prefix is hashed too: a corrupt .part fails verification and is deleted', async () => {
    const d = freshDir();
    fs.mkdirSync(modelDir(d), { recursive: true });
    const bad = Buffer.from(shardBytes().subarray(0, 500_000));
    bad[1234]! ^= 1;
    fs.writeFileSync(path.join(modelDir(d), `${SHARD}.part`), bad);
    const e = await fails(dl(d));
    assert.equal(e.kind, 'verify');
    assert.equal(hub.dataRequests(SHARD)[0]!.range, 'bytes=500000-');
    assert.equal(fs.existsSync(path.join(modelDir(d), `${SHARD}.part`)), false);
  });

  test('a corrupted byte: sha256 mismatch naming the file, nothing left in place', async () => {
    const d = freshDir();
    hub.corrupt = { file: SHARD, offset: 4_000_000 };
    const e = await fails(dl(d));
    assert.equal(e.kind, 'verify');
    assert.equal(e.details.file, SHARD);
    assert.ok(e.message.includes(SHARD));
    assert.ok(e.message.includes(`expected ${sha256(shardBytes())}`), e.message);
    const bad = Buffer.from(shardBytes());
    bad[4_000_000]! ^= 0xff;
    assert.ok(e.message.includes(`got ${sha256(bad)}`), e.message);
    assert.equal(fs.existsSync(path.join(modelDir(d), SHARD)), false);
    assert.equal(fs.existsSync(path.join(modelDir(d), `${SHARD}.part`)), false);
  });

  test('a wrong size: size mismatch naming the file, nothing left in place', async () => {
    const d = freshDir();
    hub.shortBody = 'tokenizer_config.json';
    const size = fs.statSync(path.join(src, 'tokenizer_config.json')).size;
    const e = await fails(dl(d));
    assert.equal(e.kind, 'verify');
    assert.match(e.message, new RegExp(`tokenizer_config\\.json: size mismatch: expected ${size} bytes, got ${size - 1}`));
    assert.equal(fs.existsSync(path.join(modelDir(d), 'tokenizer_config.json')), false);
    assert.equal(fs.existsSync(path.join(modelDir(d), 'tokenizer_config.json.part')), false);
  });

  test('401 from a gated repo says it needs a token; the right token works, a wrong one is named', async () => {
    const d = freshDir();
    const e = await fails(dl(d, { repo: 'tiny-org/gated' }));
    assert.equal(e.kind, 'auth');
    assert.equal(e.details.status, 401);
    assert.match(e.message, /tiny-org\/gated.*needs a Hugging Face token/);
    const wrong = await fails(dl(d, { repo: 'tiny-org/gated', accessToken: 'hf_bad' }));
    assert.equal(wrong.kind, 'auth');
    assert.match(wrong.message, /refused your Hugging Face token|gated model/);
    const bogus = await fails(dl(d, { repo: 'tiny-org/gated', accessToken: 'not-a-token' }));
    assert.equal(bogus.kind, 'auth');
    hub.reset();
    const r = await dl(d, { repo: 'tiny-org/gated', accessToken: 'hf_good' });
    assert.ok(fs.readFileSync(path.join(r.path, SHARD)).equals(shardBytes()));
    assert.ok(hub.requests.filter((q) => !q.url.startsWith('/cdn/')).every((q) => q.auth === 'Bearer hf_good'));
  });

  test('404: an unknown repo and an unknown revision', async () => {
    const d = freshDir();
    const repo = await fails(dl(d, { repo: 'tiny-org/nope' }));
    assert.equal(repo.kind, 'not-found');
    assert.equal(repo.details.status, 404);
    assert.match(repo.message, /tiny-org\/nope: model repo not found/);
    const rev = await fails(dl(d, { revision: 'v9' }));
    assert.equal(rev.kind, 'not-found');
    assert.match(rev.message, /revision 'v9' not found/);
    assert.equal(fs.existsSync(path.join(d, 'tiny-org--nope')), false);
  });

  test('a repo without safetensors is refused before anything is downloaded', async () => {
    const d = freshDir();
    const e = await fails(dl(d, { repo: 'tiny-org/bin-only' }));
    assert.equal(e.kind, 'no-safetensors');
    assert.match(e.message, /no \.safetensors weights \(only pytorch_model\.bin\)/);
    assert.equal(hub.requests.filter((q) => q.file).length, 0);
  });

  test('cancellation keeps the .part, and the next run resumes it', async () => {
    const d = freshDir();
    hub.slow = { file: SHARD, chunk: 256 * 1024, delayMs: 20 };
    const ac = new AbortController();
    const e = await fails(
      dl(d, {
        signal: ac.signal,
        onProgress: (p) => {
          if (p.file === SHARD && p.fileBytesDone >= 1_000_000) ac.abort();
        },
      }),
    );
    assert.equal(e.kind, 'cancelled');
    assert.match(e.message, /cancelled.*resume/);
    const part = path.join(modelDir(d), `${SHARD}.part`);
    const have = fs.statSync(part).size;
    assert.ok(have >= 1_000_000 && have < shardBytes().length, `part has ${have} bytes`);
    hub.reset();
    await dl(d);
    assert.equal(hub.dataRequests(SHARD)[0]!.range, `bytes=${have}-`);
    assert.ok(fs.readFileSync(path.join(modelDir(d), SHARD)).equals(shardBytes()));
  });

  test('a folder that cannot be written is a disk error naming the path', async () => {
    const file = path.join(freshDir(), 'a-file');
    fs.writeFileSync(file, 'x');
    const e = await fails(dl(file));
    assert.equal(e.kind, 'disk');
    assert.ok(e.message.includes(file), e.message);
  });

  test('a network failure names the hub', async () => {
    const e = await fails(dl(freshDir(), { hubUrl: 'http://127.0.0.1:1' }));
    assert.equal(e.kind, 'network');
    assert.match(e.message, /cannot reach http:\/\/127\.0\.0\.1:1/);
    const bad = await fails(dl(freshDir(), { hubUrl: 'ftp://example.com' }));
    assert.equal(bad.kind, 'invalid');
    assert.match(bad.message, /not an http\(s\) URL/);
  });
});

describe('file selection and repo ids', () => {
  test('planFiles takes the side files and safetensors at the top level only', () => {
    const p = planFiles('o/m', [
      { path: 'config.json', size: 1 },
      { path: 'model.safetensors', size: 10 },
      { path: 'original/x.safetensors', size: 10 },
      { path: 'pytorch_model.bin', size: 10 },
      { path: 'tokenizer.json', size: 1 },
    ]);
    assert.deepEqual(p.side.map((f) => f.path), ['config.json', 'tokenizer.json']);
    assert.deepEqual(p.weights.map((f) => f.path), ['model.safetensors']);
    assert.equal(p.index, undefined);
    assert.match(p.warnings.join('\n'), /no tokenizer_config\.json/);
    assert.throws(() => planFiles('o/m', [{ path: 'model.safetensors', size: 1 }]), /no config\.json/);
  });

  test('shardsFromIndex takes the shards the index names, each of which must exist', () => {
    const listed = [
      { path: 'a.safetensors', size: 1 },
      { path: 'b.safetensors', size: 1 },
      { path: 'consolidated.safetensors', size: 1 },
    ];
    const idx = JSON.stringify({ weight_map: { x: 'a.safetensors', y: 'b.safetensors', z: 'a.safetensors' } });
    assert.deepEqual(shardsFromIndex('o/m', idx, listed).map((f) => f.path), ['a.safetensors', 'b.safetensors']);
    assert.throws(() => shardsFromIndex('o/m', JSON.stringify({ weight_map: { x: 'c.safetensors' } }), listed), /names the shard "c\.safetensors"/);
    assert.throws(() => shardsFromIndex('o/m', '{', listed), /not valid JSON/);
  });

  test('repo ids', () => {
    assert.equal(repoIdProblem('deepseek-ai/DeepSeek-Coder-V2-Lite-Base'), null);
    assert.equal(repoIdProblem('gpt2'), null);
    assert.deepEqual(parseRepoId(' Qwen/Qwen2.5-Coder-1.5B '), { owner: 'Qwen', name: 'Qwen2.5-Coder-1.5B', id: 'Qwen/Qwen2.5-Coder-1.5B' });
    assert.equal(modelFolderName('deepseek-ai/DeepSeek-Coder-V2-Lite-Base'), 'deepseek-ai--DeepSeek-Coder-V2-Lite-Base');
    for (const bad of ['', 'a/b/c', '../x', 'a/..', 'a--b/c', '-a/b', 'a/b.', 'datasets/x/y', 'a b/c', 'a/b.git']) {
      assert.ok(repoIdProblem(bad), `accepted ${JSON.stringify(bad)}`);
    }
  });
});
