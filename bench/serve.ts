/**
 * `npm run bench:serve [-- options]`: the engine service as the editor uses it, through the real
 * protocol (EngineClient -> engine child process) on the bench checkpoint (synthetic-checkpoint.ts)
 * with the real DeepSeek-Coder tokenizer. Prints numbers; asserts nothing.
 *
 * 1. Typing trace: a file window of this repository's own TypeScript (4K and 16K tokens: a long
 *    prefix and a short suffix, as the completion provider builds them); a line is typed at the
 *    cursor one character per keystroke (5 characters/s is 200 ms a key; each keystroke asks for a
 *    completion of up to 16 tokens and we time it alone). Prefix cache on and off, in the same run.
 *    Cache-off keystrokes re-prefill the whole window, so fewer of them are timed.
 * 2. Chat decode tok/s.
 * 3. Prompt lookup on a refactor prompt: plain greedy vs lookup, same output checked.
 *
 *   --layers N (default 4)  --quant none|int8|int4 (default int8)  --ep LIST
 *   --keys N (cache-on keystrokes per window, default 20)  --cold-keys N (cache-off, default 3)
 *   --windows 4096,16384
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { defaultCacheDir } from '../engine/checkpoint/checkpoint.ts';
import { EngineClient } from '../engine/protocol/client.ts';
import type { Quant } from '../engine/protocol/protocol.ts';
import { loadTokenizer } from '../engine/tokenizer/tokenizer.ts';
import { benchModelWithTokenizer } from './synthetic-checkpoint.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    layers: { type: 'string', default: '4' },
    quant: { type: 'string', default: 'int8' },
    ep: { type: 'string' },
    keys: { type: 'string', default: '20' },
    'cold-keys': { type: 'string', default: '3' },
    windows: { type: 'string', default: '4096,16384' },
  },
});
const log = (s: string) => process.stderr.write(`${s}\n`);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ckptDir = benchModelWithTokenizer(defaultCacheDir(), Number(values.layers), log);

/** This repository's own TypeScript, concatenated: real code for the file windows. */
function corpus(): string {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const n of fs.readdirSync(d).sort()) {
      const p = path.join(d, n);
      if (fs.statSync(p).isDirectory()) walk(p);
      else if (n.endsWith('.ts')) files.push(`// ${path.relative(repo, p)}\n${fs.readFileSync(p, 'utf8')}`);
    }
  };
  walk(path.join(repo, 'engine'));
  walk(path.join(repo, 'test'));
  return files.join('\n');
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function engineWith(prefixCacheBytes: number, contextLength: number): Promise<EngineClient> {
  const c = EngineClient.spawn({ args: ['--import', 'tsx', path.join(repo, 'engine', 'service', 'main.ts')], cwd: repo, onStderr: () => {} });
  await c.initialize('bench');
  const info = await c.loadModel({
    model: ckptDir,
    quant: values.quant as Quant,
    providers: values.ep ? values.ep.split(',') : undefined,
    contextLength,
    prefixCacheBytes,
  });
  log(`engine: ${info.architecture} ${info.quant} on ${info.provider}, context ${info.contextLength}, prefix cache ${prefixCacheBytes > 0 ? 'on' : 'off'}`);
  return c;
}

const TYPED = 'const total = items.reduce((sum, item) => sum + item.price * item.quantity, 0);';

async function typingTrace(c: EngineClient, prefix: string, suffix: string, keys: number) {
  const lat: number[] = [];
  const prefilled: number[] = [];
  let first = 0;
  for (let k = 0; k <= keys; k++) {
    const typed = TYPED.slice(0, (k % TYPED.length) + 1);
    const t0 = performance.now();
    const r = await c.complete({ prefix: prefix + typed, suffix, maxTokens: 16 });
    const ms = performance.now() - t0;
    if (k === 0) first = ms; // opening the file: nothing cached yet
    else {
      lat.push(ms);
      prefilled.push(r.usage.promptTokens - r.usage.cachedTokens);
    }
  }
  return { first, lat, prefilled };
}

async function main(): Promise<void> {
  const tok = await loadTokenizer(ckptDir);
  const ids = tok.encode(corpus());
  const rows: string[][] = [['window tokens', 'prefix cache', 'keystrokes', 'p50 ms', 'p95 ms', 'tokens prefilled per key (median)', 'first open ms']];
  const windows = values.windows.split(',').map(Number);
  for (const w of windows) {
    const suffixTokens = 256;
    const start = 1000;
    const prefix = tok.decode(ids.slice(start, start + w - suffixTokens - 64));
    const suffix = tok.decode(ids.slice(start + w, start + w + suffixTokens));
    for (const cacheOn of [true, false]) {
      const c = await engineWith(cacheOn ? 1024 ** 3 : 0, w + 512);
      const keys = cacheOn ? Number(values.keys) : Number(values['cold-keys']);
      log(`typing ${keys} keys in a ${w}-token window, cache ${cacheOn ? 'on' : 'off'}...`);
      const r = await typingTrace(c, prefix, suffix, keys);
      rows.push([String(w), cacheOn ? 'on' : 'off', String(keys), pct(r.lat, 50).toFixed(0), pct(r.lat, 95).toFixed(0), String(pct(r.prefilled, 50)), r.first.toFixed(0)]);
      log(`  p50 ${pct(r.lat, 50).toFixed(0)} ms, p95 ${pct(r.lat, 95).toFixed(0)} ms`);
      await c.shutdown();
    }
  }
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);

  // Chat decode speed and prompt lookup on a refactor prompt.
  const c = await engineWith(1024 ** 3, 8192);
  const code = tok.decode(ids.slice(5000, 5400));
  const chat = await c.chat({ messages: [{ role: 'user', content: 'Explain what this engine does.' }], maxTokens: 64 });
  console.log(`chat: ${chat.usage.completionTokens} tokens at ${((1000 * chat.usage.completionTokens) / chat.usage.decodeMs).toFixed(2)} tok/s decode (${chat.usage.promptTokens} prompt tokens)`);
  const refactor = { messages: [{ role: 'user' as const, content: `Rename the variables in this code to clearer names and return the whole code:\n\n${code}` }], maxTokens: 96 };
  await c.chat({ ...refactor, maxTokens: 1 }); // prefill once, so both runs below reuse it
  const t0 = performance.now();
  const plain = await c.chat(refactor);
  const plainMs = performance.now() - t0;
  const t1 = performance.now();
  const fast = await c.chat({ ...refactor, promptLookup: true });
  const fastMs = performance.now() - t1;
  console.log(
    `prompt lookup on a refactor prompt: ${plain.usage.completionTokens} tokens, plain ${plainMs.toFixed(0)} ms, lookup ${fastMs.toFixed(0)} ms ` +
      `(x${(plainMs / fastMs).toFixed(2)}), drafts accepted ${fast.usage.acceptedTokens}/${fast.usage.draftedTokens}, ` +
      `forwards ${fast.usage.forwards} vs ${plain.usage.forwards}, identical output: ${fast.text === plain.text}`,
  );
  await c.shutdown();
}

await main();
