/**
 * `node --import tsx bench/context.ts [-- options]`: how much of each completion prompt the engine's
 * prefix cache serves while typing, for the extension's STABLE context ordering vs a NAIVE one, in
 * the same run. Prints numbers; asserts nothing.
 *
 * Simulated editor: a ~16K-token TypeScript "current file" (this repository's engine/ modules
 * concatenated) and, as open tabs, the test files of those modules and the modules that follow (8
 * at most). About 2/3 into the file a short existing statement is deleted and typed back one
 * character per keystroke (5 characters/s: a simulated clock, 200 ms a key, with one 3 s pause
 * halfway, after which the stable ordering's related-file snapshot refreshes). Each keystroke assembles the context the way the extension's
 * Completer (extension/completions/request.ts) does (assembleContext/fitExactly with the real
 * TokenCounter, RelatedContext and chunking) and sends it to a real engine child process (the
 * bench checkpoint with the DeepSeek-Coder tokenizer, as in serve.ts) for up to 8 tokens, timed
 * alone. Debounce, type-through and post-processing are left out: they do not change what is sent.
 * Each ordering gets a fresh engine (an empty prefix cache); the first request (opening the file)
 * is reported apart.
 *
 *   --layers N (default 2)  --quant none|int8|int4 (default int8)  --ep LIST (default cpu)
 *   --budget N (context.budgetTokens; default 8192, the README's figures; 0 = automatic, as the extension's default)  --keys N (at most; default 20)
 *   --file-tokens N (default 16384)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { defaultCacheDir } from '../engine/checkpoint/checkpoint.ts';
import { EngineClient } from '../engine/protocol/client.ts';
import type { CompleteParams, Quant } from '../engine/protocol/protocol.ts';
import { loadTokenizer } from '../engine/tokenizer/tokenizer.ts';
import { isMultilinePosition, lineIndent } from '../extension/completions/postprocess.ts';
import { assembleContext, fitExactly, queryAround, type AssembleInput, type AssembledContext } from '../extension/context/assemble.ts';
import { LAYOUT_RESERVE_TOKENS, relatedBudget, splitBudget, totalBudget } from '../extension/context/budget.ts';
import { chunkFile, withActivity, type Chunk } from '../extension/context/chunks.ts';
import { RecentActivity } from '../extension/context/recent.ts';
import { rankChunks, RelatedContext, selectWithinBudget } from '../extension/context/related.ts';
import { TokenCounter } from '../extension/context/tokens.ts';
import { suffixWindow } from '../extension/context/window.ts';
import { benchModelWithTokenizer } from './synthetic-checkpoint.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    layers: { type: 'string', default: '2' },
    quant: { type: 'string', default: 'int8' },
    ep: { type: 'string', default: 'cpu' },
    budget: { type: 'string', default: '8192' },
    keys: { type: 'string', default: '20' },
    'file-tokens': { type: 'string', default: '16384' },
  },
});
const log = (s: string) => process.stderr.write(`${s}\n`);
const t0run = performance.now();
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MAX_TOKENS = 8;
const CONTEXT_LENGTH = 20_000;
const BUDGET = Number(values.budget);

// The bench checkpoint with the real tokenizer copied in.
const ckptDir = benchModelWithTokenizer(defaultCacheDir(), Number(values.layers), log);

// --- The simulated editor -------------------------------------------------------------------

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const n of fs.readdirSync(path.join(repo, dir)).sort()) {
    const rel = path.join(dir, n);
    if (fs.statSync(path.join(repo, rel)).isDirectory()) out.push(...tsFiles(rel));
    else if (n.endsWith('.ts')) out.push(rel);
  }
  return out;
}

interface Tab {
  uri: string;
  path: string;
  text: string;
}

const tok = await loadTokenizer(ckptDir);
const FILE_PATH = 'engine/current.ts';
const FILE_URI = `file:///bench/${FILE_PATH}`;

/** engine/ modules concatenated and cut to `--file-tokens` at a line end; tabs: their test files. */
function workspace(): { file: string; tabs: Tab[] } {
  const modules = tsFiles('engine');
  const all = modules.map((p) => `// ${p}\n${fs.readFileSync(path.join(repo, p), 'utf8')}`).join('\n');
  const cut = tok.decode(tok.encode(all).slice(0, Number(values['file-tokens'])));
  const file = cut.slice(0, cut.lastIndexOf('\n') + 1);
  // Open tabs: the tests of the modules in the file (they share their names: the related chunks a
  // real session finds), topped up with the modules that follow the cut; 8 at most.
  const inFile = modules.filter((p) => file.includes(`// ${p}\n`));
  const tests = inFile.map((p) => p.replace(/^engine\//, 'test/engine/').replace(/\.ts$/, '.test.ts')).filter((p) => fs.existsSync(path.join(repo, p)));
  const tabs = [...tests, ...modules.filter((p) => !inFile.includes(p))]
    .slice(0, 8)
    .map((p) => ({ uri: `file:///bench/${p}`, path: p, text: fs.readFileSync(path.join(repo, p), 'utf8') }));
  return { file, tabs };
}

const { file, tabs } = workspace();

/** The statement to retype: the first indented code line of 12-20 characters from 2/3 of the file on (short: naive keys are slow). */
function typingSpot(text: string): { lineStart: number; indent: string; line: string } {
  for (let at = text.indexOf('\n', Math.floor((text.length * 2) / 3)) + 1; at > 0 && at < text.length; ) {
    const end = text.indexOf('\n', at);
    const line = text.slice(at, end);
    const indent = /^\s*/.exec(line)![0];
    const body = line.slice(indent.length);
    if (indent.length > 0 && body.length >= 12 && body.length <= 20 && !/^(\/\/|\*|\/\*)/.test(body)) return { lineStart: at, indent, line: body };
    at = end + 1;
  }
  throw new Error('no line to type found');
}

const spot = typingSpot(file);
const before = file.slice(0, spot.lineStart + spot.indent.length);
const after = file.slice(spot.lineStart + spot.indent.length + spot.line.length);
const KEYS = Math.min(Number(values.keys), spot.line.length);
const PAUSE_AFTER = Math.floor(KEYS / 2);

/** Editor state after `k` keystrokes, on the typing clock (ms). */
function stateAt(k: number): { text: string; cursor: number; now: number } {
  const typed = spot.line.slice(0, k);
  // 200 ms a key; the key after PAUSE_AFTER comes 3 s after the one before (> the 2 s idle).
  const now = 200 * k + (k > PAUSE_AFTER ? 2800 : 0);
  return { text: before + typed + after, cursor: before.length + k, now };
}

/** Candidates as WorkspaceContext.candidates builds them: recently visited files, then open tabs, chunked. */
function candidatesFrom(tabs: readonly Tab[], activity: RecentActivity): () => Chunk[] {
  const chunks = new Map(tabs.map((t) => [t.uri, chunkFile({ path: t.path, languageId: 'typescript', text: t.text })]));
  return () => {
    const order = [...new Set([...activity.files(), ...tabs.map((t) => t.uri)])].filter((u) => chunks.has(u));
    return order.flatMap((u) => withActivity(chunks.get(u)!, activity.lines(u)));
  };
}

// --- NAIVE ordering ---------------------------------------------------------------------------

/**
 * The common simple approach, for comparison. Same budgets, query, candidates, ranking and suffix
 * as the extension; what differs:
 * - related chunks are re-ranked by similarity to the text around the cursor on every keystroke
 *   and sent in that order (least relevant first, as the stable order places new chunks), with no
 *   snapshot: any change in the ranking or the selection changes the start of the prompt;
 * - the prefix window is exactly the last `budget` tokens before the cursor (by the same
 *   chars-per-token estimate), with no grid: its start slides with every typed character.
 */
function naiveContext(input: AssembleInput): AssembledContext {
  const split = splitBudget(totalBudget(input.settingsBudget, input.modelContext, input.maxTokens));
  const estimate = (s: string) => input.counter.estimate(s);
  const ranked = rankChunks(queryAround(input.text, input.cursor), input.candidates());
  const budget = relatedBudget(split, estimate(input.text.slice(0, input.cursor)));
  const { chosen, tokens } = selectWithinBudget(ranked, budget, (s) => input.counter.count(s));
  const prefixBudget = Math.max(0, split.total - split.suffix - tokens);
  const start = Math.max(0, input.cursor - Math.floor(prefixBudget * input.counter.charsPerToken));
  const prefixText = input.text.slice(start, input.cursor);
  const prefix = { start, end: input.cursor, text: prefixText, tokens: estimate(prefixText) };
  const suffix = suffixWindow(input.text, input.cursor, split.suffix, estimate);
  return {
    prefix,
    suffix,
    relatedFiles: [...chosen].reverse().map((r) => ({ path: r.chunk.path, text: r.chunk.text })),
    relatedTokens: tokens,
    tokens: tokens + prefix.tokens + suffix.tokens,
    split,
    refreshed: true,
  };
}

// --- The run ----------------------------------------------------------------------------------

/** The engine's `complete` params as Completer builds them from an assembled context. */
function paramsFor(ctx: AssembledContext, text: string, cursor: number): CompleteParams {
  const lineStart = text.lastIndexOf('\n', cursor - 1) + 1;
  const nl = text.indexOf('\n', cursor);
  const lineText = text.slice(lineStart, nl < 0 ? text.length : nl);
  const multiline = isMultilinePosition(lineText.slice(cursor - lineStart));
  return {
    prefix: ctx.prefix.text,
    suffix: ctx.suffix.text,
    filePath: FILE_PATH,
    repoName: 'switchyard',
    relatedFiles: ctx.relatedFiles,
    maxTokens: MAX_TOKENS,
    temperature: 0,
    ...(multiline ? { indentStop: lineIndent(lineText), tabWidth: 2 } : { stop: ['\n'] }),
  };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

interface KeyResult {
  ms: number;
  prompt: number;
  cached: number;
}

async function trace(ordering: 'stable' | 'naive'): Promise<{ first: KeyResult; keys: KeyResult[] }> {
  const c = EngineClient.spawn({ args: ['--import', 'tsx', path.join(repo, 'engine', 'service', 'main.ts')], cwd: repo, onStderr: () => {} });
  await c.initialize('bench');
  const info = await c.loadModel({ model: ckptDir, quant: values.quant as Quant, providers: values.ep.split(','), contextLength: CONTEXT_LENGTH });
  log(`${ordering}: engine ${info.architecture} ${info.quant} on ${info.provider}, context ${info.contextLength}`);

  // A session that has been running has calibrated the counter and counted the tabs' chunks
  // exactly; doing both up front keeps the windows from moving when those counts arrive mid-trace.
  const counter = new TokenCounter((t) => c.countTokens(t));
  await counter.calibrate(file);
  const activity = new RecentActivity();
  tabs.forEach((t, i) => activity.record(t.uri, 0, false, -60_000 + i * 1000)); // visited before opening the file
  const candidates = candidatesFrom(tabs, activity);
  for (const ch of candidates()) {
    counter.count(ch.text);
    counter.count(ch.path);
    await counter.settle();
  }

  const related = new RelatedContext();
  const results: KeyResult[] = [];
  for (let k = 0; k <= KEYS; k++) {
    const { text, cursor, now } = stateAt(k);
    const input: AssembleInput = { now, uri: FILE_URI, text, cursor, settingsBudget: BUDGET, modelContext: CONTEXT_LENGTH, maxTokens: MAX_TOKENS, candidates, counter, related };
    let ctx = ordering === 'stable' ? assembleContext(input) : naiveContext(input);
    ctx = await fitExactly(ctx, CONTEXT_LENGTH - MAX_TOKENS - LAYOUT_RESERVE_TOKENS, (t) => c.countTokens(t));
    const t0 = performance.now();
    const r = await c.complete(paramsFor(ctx, text, cursor));
    const ms = performance.now() - t0;
    results.push({ ms, prompt: r.usage.promptTokens, cached: r.usage.cachedTokens });
    log(
      `  ${ordering} ${k === 0 ? 'open ' : `key ${String(k).padStart(2)}`} t=${now} ms: ${ms.toFixed(0)} ms, prompt ${r.usage.promptTokens}, cached ${r.usage.cachedTokens}, ` +
        `${ctx.relatedFiles.length} related chunks${ctx.refreshed && ordering === 'stable' ? ' (refreshed)' : ''}, prefix from ${ctx.prefix.start}`,
    );
  }
  const s = await c.status();
  log(`  ${ordering} cache: ${s.cache.hits} hits, ${s.cache.misses} misses, ${s.cache.reusedTokens} reused / ${s.cache.prefilledTokens} prefilled tokens`);
  await c.shutdown();
  return { first: results[0]!, keys: results.slice(1) };
}

log(
  `file: ${tok.encode(file).length} tokens (${file.length} chars); ${tabs.length} open tabs; typing ${KEYS} of ${JSON.stringify(spot.line)} ` +
    `at offset ${before.length} (${((100 * before.length) / file.length).toFixed(0)}%), pause after key ${PAUSE_AFTER}; budget ${BUDGET}`,
);
const rows = [['ordering', 'keystrokes', 'prompt tokens (median)', 'share of prompt tokens from cache', 'tokens prefilled per key (median)', 'p50 ms', 'p95 ms', 'first open ms']];
for (const ordering of ['stable', 'naive'] as const) {
  const { first, keys } = await trace(ordering);
  const cached = keys.reduce((s, k) => s + k.cached, 0);
  const prompt = keys.reduce((s, k) => s + k.prompt, 0);
  const ms = keys.map((k) => k.ms);
  rows.push([
    ordering,
    String(keys.length),
    String(pct(keys.map((k) => k.prompt), 50)),
    `${((100 * cached) / prompt).toFixed(1)}%`,
    String(pct(keys.map((k) => k.prompt - k.cached), 50)),
    pct(ms, 50).toFixed(0),
    pct(ms, 95).toFixed(0),
    first.ms.toFixed(0),
  ]);
}
console.log(`${values.layers} layers, ${values.quant}, ${values.ep}; budget ${BUDGET} tokens, ${tok.encode(file).length}-token file; run ${((performance.now() - t0run) / 1000).toFixed(0)} s`);
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
