/**
 * The CLI as a user runs it: a real child process on real (deliberately broken) checkpoint files.
 * Every bad input must give one line on stderr naming the file and the problem, a non-zero exit
 * well within seconds, and no stack trace unless --verbose.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SafetensorsFile } from '../../../engine/checkpoint/safetensors.ts';
import { writeCheckpoint, type WriterTensor } from '../../../engine/checkpoint/safetensors-writer.ts';
import { repoDir, sharedDir } from '../../helpers/paths.ts';

const CLI = path.join(repoDir(), 'engine', 'cli', 'main.ts');
const SOURCE = path.join(sharedDir(), 'oracle', 'deepseek_v2_lite');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-cli-'));
const cacheDir = path.join(tmp, 'cache');
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function cli(args: string[], input?: string): Run {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: repoDir(),
    input,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
}

const config = () => JSON.parse(fs.readFileSync(path.join(SOURCE, 'config.json'), 'utf8')) as Record<string, unknown>;

function tensorsOf(file: string): Record<string, WriterTensor> {
  const st = SafetensorsFile.open(file);
  const out: Record<string, WriterTensor> = {};
  for (const n of st.names()) out[n] = { dtype: 'F32', shape: [...st.info(n).shape], data: st.readF32(n) };
  st.close();
  return out;
}

/** A copy of the oracle checkpoint with edits applied. */
function variant(name: string, edit: { config?: (c: Record<string, unknown>) => void; tensors?: (t: Record<string, WriterTensor>) => void }): string {
  const dir = path.join(tmp, name);
  const c = config();
  edit.config?.(c);
  const t = tensorsOf(path.join(SOURCE, 'model.safetensors'));
  edit.tensors?.(t);
  writeCheckpoint(dir, c, t);
  return dir;
}

/** Assert the one-line error contract and return the line. */
function expectCleanError(r: Run, ...mustContain: Array<string | RegExp>): string {
  assert.notEqual(r.code, 0, `exit code should be non-zero; stderr: ${r.stderr}`);
  assert.ok(r.code !== null, 'the process must exit on its own (no hang or timeout)');
  assert.ok(r.ms < 15_000, `took ${r.ms} ms`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `expected exactly one stderr line, got:\n${r.stderr}`);
  const line = lines[0]!;
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace without --verbose');
  for (const m of mustContain) {
    if (typeof m === 'string') assert.ok(line.includes(m), `'${line}' should mention '${m}'`);
    else assert.match(line, m);
  }
  if (process.env.SY_SHOW_ERRORS) console.log(line);
  return line;
}

const generate = (dir: string, ...extra: string[]) =>
  cli(['generate', '--model', dir, '--prompt-ids', '1,2,3', '--max-tokens', '2', '--greedy', '--ep', 'cpu', '--cache-dir', cacheDir, ...extra]);

describe('CLI bad input: one clear line, non-zero exit', () => {
  let good = '';
  before(() => {
    good = variant('good', {});
  });

  test('the unbroken copy runs (so the failures below are the edits)', () => {
    const r = generate(good, '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { ids: number[]; prefill_tok_s: number; decode_tok_s: number; text: string };
    assert.equal(out.ids.length, 2);
    assert.ok(out.prefill_tok_s > 0 && out.decode_tok_s > 0);
    assert.equal(typeof out.text, 'string');
  });

  test('missing directory', () => {
    const missing = path.join(tmp, 'no-such-model');
    expectCleanError(generate(missing), missing, /does not exist|not found|no such/i);
  });

  test('missing config.json', () => {
    const dir = path.join(tmp, 'no-config');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(SOURCE, 'model.safetensors'), path.join(dir, 'model.safetensors'));
    expectCleanError(generate(dir), 'config.json', /missing|not found|does not exist|no such/i);
  });

  test('invalid config.json', () => {
    const dir = path.join(tmp, 'bad-config');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'config.json'), '{"model_type": "deepseek_v2", ');
    fs.copyFileSync(path.join(SOURCE, 'model.safetensors'), path.join(dir, 'model.safetensors'));
    expectCleanError(generate(dir), 'config.json', /JSON/i);
  });

  test('config.json missing a required field', () => {
    const dir = variant('no-hidden', { config: (c) => delete c.hidden_size });
    expectCleanError(generate(dir), 'config.json', 'hidden_size');
  });

  test('unknown model_type', () => {
    const dir = variant('unknown-type', { config: (c) => (c.model_type = 'gpt_bigcode_moe') });
    expectCleanError(generate(dir), 'config.json', 'gpt_bigcode_moe');
  });

  test('truncated safetensors file (header cut short)', () => {
    const dir = path.join(tmp, 'truncated');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(SOURCE, 'config.json'), path.join(dir, 'config.json'));
    const bytes = fs.readFileSync(path.join(SOURCE, 'model.safetensors'));
    fs.writeFileSync(path.join(dir, 'model.safetensors'), bytes.subarray(0, 200));
    expectCleanError(generate(dir), 'model.safetensors', /truncated|header|shorter/i);
  });

  test('truncated safetensors file (data cut short)', () => {
    const dir = path.join(tmp, 'truncated-data');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(SOURCE, 'config.json'), path.join(dir, 'config.json'));
    const bytes = fs.readFileSync(path.join(SOURCE, 'model.safetensors'));
    fs.writeFileSync(path.join(dir, 'model.safetensors'), bytes.subarray(0, bytes.length - 1000));
    expectCleanError(generate(dir), 'model.safetensors', /truncated|shorter|beyond|end of file/i);
  });

  test('corrupt safetensors header (not JSON)', () => {
    const dir = path.join(tmp, 'corrupt');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(SOURCE, 'config.json'), path.join(dir, 'config.json'));
    const bytes = Buffer.from(fs.readFileSync(path.join(SOURCE, 'model.safetensors')));
    bytes.fill(0x7a, 8, 40); // scribble over the start of the JSON header
    fs.writeFileSync(path.join(dir, 'model.safetensors'), bytes);
    expectCleanError(generate(dir), 'model.safetensors', /header|JSON/i);
  });

  test('a tensor whose shape disagrees with config.json', () => {
    const dir = variant('bad-shape', {
      tensors: (t) => {
        const e = t['model.embed_tokens.weight']!;
        const [v, h] = e.shape as [number, number];
        t['model.embed_tokens.weight'] = { dtype: 'F32', shape: [v, h - 1], data: (e.data as Float32Array).subarray(0, v * (h - 1)) };
      },
    });
    expectCleanError(generate(dir), 'model.embed_tokens.weight', /shape/i);
  });

  test('a missing tensor', () => {
    const dir = variant('missing-tensor', { tensors: (t) => delete t['model.layers.1.self_attn.kv_a_layernorm.weight'] });
    expectCleanError(generate(dir), 'model.layers.1.self_attn.kv_a_layernorm.weight', /missing|not found/i);
  });

  test('an unsupported dtype', () => {
    const dir = variant('bad-dtype', {});
    // Rewrite one tensor's dtype to F64 in place (same byte length: 2x elements of half the shape).
    const file = path.join(dir, 'model.safetensors');
    const bytes = Buffer.from(fs.readFileSync(file));
    const n = Number(bytes.readBigUInt64LE(0));
    const header = bytes.subarray(8, 8 + n).toString('utf8');
    const patched = header.replace(/("model\.norm\.weight":\{"dtype":)"F32"/, '$1"F64"');
    assert.notEqual(patched, header, 'fixture: the header should contain model.norm.weight as F32');
    Buffer.from(patched, 'utf8').copy(bytes, 8);
    fs.writeFileSync(file, bytes);
    expectCleanError(generate(dir), 'model.norm.weight', 'F64');
  });

  test('info and tokenize report bad input the same way', () => {
    const missing = path.join(tmp, 'still-missing');
    expectCleanError(cli(['info', '--model', missing, '--ep', 'cpu']), missing);
    const noTok = path.join(tmp, 'no-tokenizer');
    fs.mkdirSync(noTok);
    expectCleanError(cli(['tokenize', '--model', noTok], '{"text":"x"}\n'), 'tokenizer.json');
  });

  test('usage errors are one line too', () => {
    expectCleanError(cli(['generate', '--prompt', 'x']), '--model');
    expectCleanError(generate(good, '--quant', 'int3'), '--quant');
    expectCleanError(cli(['generate', '--model', good, '--prompt-ids', '1', '--ep', 'tpu']), 'tpu');
  });

  test('--help lists every command; <command> --help its options; an unknown command says so with the list', () => {
    const all = cli(['--help']);
    assert.equal(all.code, 0);
    for (const c of ['generate', 'tokenize', 'info', 'fidelity', 'serve', 'download', 'models']) {
      assert.match(all.stdout, new RegExp(`^  ${c} `, 'm'), `${c} is listed`);
      const one = cli([c, '--help']);
      assert.equal(one.code, 0, `${c} --help exits 0`);
      assert.match(one.stdout, new RegExp(`^usage: engine ${c} `), `${c} --help shows its usage`);
    }
    assert.match(cli(['info', '--help']).stdout, /--model DIR .*--ep LIST/);
    assert.match(cli(['serve', '-h']).stdout, /--port P/);
    assert.match(cli(['help', 'download']).stdout, /--hub-url U/);
    const bad = cli(['bogus']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown command 'bogus'/);
    assert.match(bad.stderr, /^  generate /m);
  });

  test('--verbose adds the stack trace', () => {
    const r = cli(['generate', '--model', path.join(tmp, 'gone'), '--prompt-ids', '1', '--verbose']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /^\s+at /m);
  });
});
