/**
 * The engine CLI: `npm run -s engine -- <command>`.
 *   generate  --model DIR (--prompt TEXT | --prompt-ids 1,2,3) [--max-tokens N] [--greedy] [--quant none|int8|int4] [--ep LIST] [--json]
 *   tokenize  --model DIR            JSON lines {"text": ...} on stdin -> {"ids": [...]} on stdout
 *   info      --model DIR [--ep LIST] [--quant Q] [--context N] [--memory-budget SIZE] [--json]   (config.json alone is enough for DeepSeek-V4)
 *   fidelity  [--oracle DIR] [--quant none|int8|int4] [--ep LIST]
 *   serve     --model DIR [--port P] [--context N] [--quant ...] [--ep LIST] [--no-suffix]   OpenAI-compatible HTTP on 127.0.0.1
 *   download  <owner/name> [--dir D] [--revision R] [--hub-url U]   a model from the Hugging Face hub (token: $HF_TOKEN)
 *   models    [--dir D] [--json]     the models in the models folder
 * Errors print one line on stderr (a stack trace only with --verbose) and exit non-zero.
 * `--help` (or `help [command]`) prints the commands, `<command> --help` its options (help.ts).
 */
import * as path from 'node:path';
import * as readline from 'node:readline';
import { parseArgs } from 'node:util';
import { Checkpoint, defaultCacheDir } from '../checkpoint/checkpoint.ts';
import { isEngineInputError } from '../errors.ts';
import { agreementFloors, formatCase, oracleCases, runOracleCase } from '../fidelity/oracle.ts';
import type { Quant } from '../graph/linear.ts';
import { humanBytes, humanCount, modelFacts } from '../model/info.ts';
import { downloadModel } from '../models/download.ts';
import { describeProgress, formatSize } from '../models/format.ts';
import { listModels } from '../models/store.ts';
import { specFromConfig, type ModelSpec } from '../model/spec.ts';
import { loadModel } from '../runtime/load.ts';
import { startOpenAIServer } from '../http/openai.ts';
import { Engine } from '../service/engine.ts';
import { DEFAULT_PREFERENCE, parseProviderList, probeProvider, type ProviderName } from '../runtime/providers.ts';
import { Sampler } from '../runtime/sampler.ts';
import { defaultMemoryBudget, describeEstimate, estimateMemory, refusalMessage, type MemoryEstimate } from '../runtime/memory.ts';
import { gpuBudget, parseBytes, placeFromSpec } from '../runtime/placement.ts';
import { closeModelFolder, openModelFolder, type ModelSource } from '../model/folder.ts';
import { DEFAULT_CONTEXT_CAP, DEFAULT_PREFIX_CACHE } from '../models/inspect.ts';
import { PREFILL_CHUNK } from '../service/generate.ts';
import { defaultExpertMode, expertModeFromEnv } from '../runtime/experts.ts';
import { COMMAND_HELP, commandHelp, generalHelp, wantsHelp } from './help.ts';
import { StreamDecoder } from '../tokenizer/stream-decoder.ts';
import { loadTokenizer } from '../tokenizer/tokenizer.ts';

class UsageError extends Error {}

const COMMON = {
  model: { type: 'string' },
  quant: { type: 'string', default: 'none' },
  ep: { type: 'string' },
  json: { type: 'boolean', default: false },
  verbose: { type: 'boolean', default: false },
  'cache-dir': { type: 'string' },
} as const;

function quantOf(v: string | undefined): Quant {
  if (v === 'none' || v === 'int8' || v === 'int4') return v;
  throw new UsageError(`--quant must be none, int8 or int4 (got '${v}')`);
}

function providersOf(v: string | undefined): ProviderName[] {
  if (!v) return DEFAULT_PREFERENCE;
  try {
    return parseProviderList(v);
  } catch (e) {
    throw new UsageError(`--ep: ${(e as Error).message}`);
  }
}

function requireModel(v: string | undefined): string {
  if (!v) throw new UsageError('--model DIR is required');
  return v;
}

function progressPrinter(enabled: boolean) {
  let last = '';
  return (p: { phase: string; done: number; total: number; message: string }) => {
    if (!enabled) return;
    const line = p.phase === 'hashing' ? `hashing checkpoint ${Math.floor((100 * p.done) / Math.max(1, p.total))}%` : p.message;
    if (line === last) return;
    last = line;
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${line}${p.phase === 'done' ? '\n' : ''}`);
    else if (p.phase !== 'hashing' || p.done === p.total) process.stderr.write(`${line}\n`);
  };
}

async function cmdGenerate(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...COMMON,
      prompt: { type: 'string' },
      'prompt-ids': { type: 'string' },
      'max-tokens': { type: 'string', default: '64' },
      greedy: { type: 'boolean', default: false },
      temperature: { type: 'string' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      seed: { type: 'string' },
      progress: { type: 'boolean', default: false },
    },
  });
  const dir = requireModel(values.model);
  if ((values.prompt === undefined) === (values['prompt-ids'] === undefined)) throw new UsageError('give exactly one of --prompt TEXT or --prompt-ids 1,2,3');
  const maxTokens = Number(values['max-tokens']);
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new UsageError('--max-tokens must be a non-negative integer');
  const model = await loadModel(dir, {
    quant: quantOf(values.quant),
    providers: providersOf(values.ep),
    cacheDir: values['cache-dir'],
    onProgress: progressPrinter(values.progress || (process.stderr.isTTY && !values.json)),
    log: values.verbose ? (l) => process.stderr.write(`${l}\n`) : undefined,
  });
  try {
    const tok = model.tokenizer;
    let ids: number[];
    if (values['prompt-ids'] !== undefined) {
      ids = values['prompt-ids'].split(',').map((s) => Number(s.trim()));
      if (ids.length === 0 || ids.some((x) => !Number.isInteger(x) || x < 0 || x >= model.built.spec.vocab)) {
        throw new UsageError(`--prompt-ids must be comma-separated token ids below the vocabulary size ${model.built.spec.vocab}`);
      }
    } else {
      if (!tok) throw new UsageError(`${path.join(model.ckpt.dir, 'tokenizer.json')} not found: use --prompt-ids with this checkpoint`);
      ids = tok.encode(values.prompt!);
      if (tok.addBos && tok.bosId !== undefined) ids.unshift(tok.bosId);
      if (ids.length === 0) throw new UsageError('the prompt encodes to no tokens');
    }
    const maxCtx = model.built.spec.maxPositions;
    if (ids.length + maxTokens > maxCtx) throw new UsageError(`prompt (${ids.length} tokens) + --max-tokens ${maxTokens} exceeds the model's context of ${maxCtx}`);
    const eos = new Set([...(tok?.eosIds ?? []), ...model.built.spec.eosTokenIds]);
    const sampler = new Sampler({
      greedy: values.greedy,
      temperature: values.temperature !== undefined ? Number(values.temperature) : undefined,
      topK: values['top-k'] !== undefined ? Number(values['top-k']) : undefined,
      topP: values['top-p'] !== undefined ? Number(values['top-p']) : undefined,
      seed: values.seed !== undefined ? Number(values.seed) : undefined,
    });
    const session = model.session;
    const state = session.newState();
    const decoder = tok ? new StreamDecoder(tok, { skipSpecialTokens: true, contextIds: ids }) : null;
    const out: number[] = [];
    let text = '';
    const t0 = performance.now();
    let logits = maxTokens > 0 ? (await session.forward(state, ids)).logits : new Float32Array(0);
    const prefillMs = performance.now() - t0;
    const t1 = performance.now();
    for (let i = 0; i < maxTokens; i++) {
      const next = sampler.next(logits);
      out.push(next);
      const piece = decoder ? decoder.push(next) : '';
      text += piece;
      if (!values.json && piece) process.stdout.write(piece);
      if (eos.has(next) || i + 1 === maxTokens) break;
      logits = (await session.forward(state, [next])).logits;
    }
    const decodeMs = performance.now() - t1;
    if (decoder) {
      const rest = decoder.flush();
      text += rest;
      if (!values.json && rest) process.stdout.write(rest);
    }
    const decodeSteps = Math.max(0, out.length - 1);
    if (values.json) {
      process.stdout.write(
        JSON.stringify({
          ids: out,
          text: tok ? text : out.join(' '),
          prompt_tokens: ids.length,
          prefill_tok_s: ids.length / (prefillMs / 1000),
          decode_tok_s: decodeSteps > 0 ? decodeSteps / (decodeMs / 1000) : null,
          execution_provider: session.provider,
          quant: model.built.quant,
          built_from_cache: model.built.fromCache,
        }) + '\n',
      );
    } else {
      if (!tok) process.stdout.write(out.join(' '));
      process.stdout.write('\n');
    }
  } finally {
    await model.close();
  }
}

async function cmdTokenize(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { ...COMMON } });
  const tok = await loadTokenizer(requireModel(values.model));
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  let lineNo = 0;
  for await (const line of rl) {
    lineNo++;
    if (!line.trim()) continue;
    let text: unknown;
    try {
      text = (JSON.parse(line) as { text?: unknown }).text;
    } catch {
      throw new UsageError(`stdin line ${lineNo}: not JSON (expected {"text": "..."})`);
    }
    if (typeof text !== 'string') throw new UsageError(`stdin line ${lineNo}: expected {"text": "..."} with a string`);
    process.stdout.write(JSON.stringify({ ids: tok.encode(text) }) + '\n');
  }
}

/** Where the routed experts would run, from config.json alone (sizes estimated at `quant`). */
function expertsLine(spec: ModelSpec, src: ModelSource, quant: Quant, provider: ProviderName, kvBytes: number): string {
  if (!spec.moe) return 'none (dense model)';
  if (provider === 'cpu') {
    const mode = expertModeFromEnv() ?? defaultExpertMode(quant);
    return mode === 'dispatch'
      ? `on the CPU, the chosen ones dispatched per expert at ${quant} (SWITCHYARD_EXPERTS=fused: the fused kernel)`
      : `on the CPU, in the fused kernel at ${quant} (SWITCHYARD_EXPERTS=dispatch: one session per expert)`;
  }
  if (quant === 'none') return `on the CPU (float32: ${provider} has no float MoE kernel; int8/int4 put them on the GPU)`;
  return `${placeFromSpec(spec, src, quant, gpuBudget(), kvBytes).summary.replace(/^routed experts /, '')} (estimated at ${quant})`;
}

/** "128K" / "1M" for round context lengths. */
function tokensLabel(n: number): string {
  if (n % (1 << 20) === 0) return `${n >> 20}M`;
  if (n % 1024 === 0) return `${n >> 10}K`;
  return String(n);
}

async function cmdInfo(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { ...COMMON, context: { type: 'string' }, 'memory-budget': { type: 'string' } } });
  let budget = defaultMemoryBudget();
  if (values['memory-budget'] !== undefined) {
    try {
      budget = parseBytes(values['memory-budget']);
    } catch (e) {
      throw new UsageError(`--memory-budget: ${(e as Error).message}`);
    }
  }
  const src = openModelFolder(requireModel(values.model));
  try {
    const spec = specFromConfig(src.config, src.configPath);
    const facts = modelFacts(spec, src);
    const quant = quantOf(values.quant === 'none' && !argv.includes('--quant') ? 'int8' : values.quant);
    const context = values.context !== undefined ? Number(values.context) : Math.min(spec.maxPositions, DEFAULT_CONTEXT_CAP);
    if (!Number.isInteger(context) || context < 16) throw new UsageError(`--context must be an integer >= 16 (got '${values.context}')`);
    if (context > spec.maxPositions) throw new UsageError(`--context ${context} exceeds the model's context of ${spec.maxPositions} (max_position_embeddings)`);
    const probe = await probeProvider(providersOf(values.ep));
    const opts = { contextLength: context, prefillChunk: PREFILL_CHUNK, prefixCacheBytes: DEFAULT_PREFIX_CACHE };
    const byQuant = Object.fromEntries((['none', 'int8', 'int4'] as const).map((q) => [q, estimateMemory(spec, src, { ...opts, quant: q })])) as Record<Quant, MemoryEstimate>;
    const est = byQuant[quant];
    const fits = est.totalBytes <= budget;
    const memory = fits
      ? `fits: needs ${humanBytes(est.totalBytes)} of ${humanBytes(budget)}${values['memory-budget'] === undefined ? ", 80% of this machine's memory" : ''} (${describeEstimate(est)})`
      : `does not fit: ${refusalMessage(est, { budgetBytes: budget, quant, contextLength: context, byQuant: { none: byQuant.none.totalBytes, int8: byQuant.int8.totalBytes, int4: byQuant.int4.totalBytes } })}`;
    const experts = expertsLine(spec, src, quant, probe.provider, est.kvBytes);
    const result = {
      ...facts,
      executionProvider: probe.provider,
      providerAttempts: probe.attempts,
      contextLength: spec.maxPositions,
      weightsBytesByQuant: { none: byQuant.none.weightsBytes, int8: byQuant.int8.weightsBytes, int4: byQuant.int4.weightsBytes },
      memory: { quant, contextLength: context, estimate: est, budgetBytes: budget, fits, message: memory },
      routedExperts: experts,
    };
    if (values.json) {
      process.stdout.write(JSON.stringify(result, null, 2) + '\n');
      return;
    }
    const v4 = spec.attention.kind === 'v4';
    const lines = [
      `architecture        ${facts.architecture} (model_type ${facts.modelType})`,
      `attention           ${facts.attention}`,
      `layers              ${facts.layers} (${facts.moeLayers} MoE)`,
      facts.experts ? `experts             ${facts.experts} routed, ${facts.expertsPerToken} per token` : `experts             none (dense)`,
      `parameters          ${humanCount(facts.totalParams)} total, ${humanCount(facts.activeParams)} active per token` +
        (facts.activeParamsExclEmbedding !== facts.activeParams ? ` (${humanCount(facts.activeParamsExclEmbedding)} without the embedding table)` : '') +
        (facts.countedFrom === 'config' ? '; counted from config.json' : ''),
      `KV cache per token  ${humanBytes(facts.kvBytesPerTokenFp16)} fp16 / ${humanBytes(facts.kvBytesPerTokenFp32)} fp32` +
        (spec.attention.kind === 'mla' ? ` (full K/V would be ${humanBytes(facts.fullKvBytesPerTokenFp16)} fp16)` : '') +
        (v4 ? ` (average at 128K tokens: a sliding window plus compressed entries; full K/V would be ${humanBytes(facts.fullKvBytesPerTokenFp16)} fp16)` : ''),
      `KV cache at         ${facts.kvCacheAt.map((k) => `${tokensLabel(k.tokens)} tokens ${humanBytes(k.fp16Bytes)} fp16 / ${humanBytes(k.fp32Bytes)} fp32`).join('; ')}`,
      `context length      ${spec.maxPositions}`,
      `dtype               ${facts.dtype}`,
      `weights as built    ${(['none', 'int8', 'int4'] as const).map((q) => `${q === 'none' ? 'float32' : q} ${humanBytes(byQuant[q].weightsBytes)}`).join(' / ')}`,
      `fit check           at ${quant}, ${context} tokens: ${memory}`,
      `execution provider  ${probe.provider}` +
        (probe.attempts.some((a) => !a.ok) ? ` (skipped: ${probe.attempts.filter((a) => !a.ok).map((a) => `${a.provider}: ${a.reason}`).join('; ')})` : ''),
      `routed experts      ${experts}`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    closeModelFolder(src);
  }
}

async function cmdFidelity(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { ...COMMON, oracle: { type: 'string', default: path.resolve(process.cwd(), '..', 'shared', 'oracle') }, tolerance: { type: 'string' } },
  });
  const quant = quantOf(values.quant);
  const providers = values.ep ? providersOf(values.ep) : (['cpu'] as ProviderName[]);
  const onGpu = providers[0] !== 'cpu';
  const tolerance = values.tolerance ? Number(values.tolerance) : onGpu ? 1e-3 : 1e-4;
  let allPass = true;
  for (const c of oracleCases(values.oracle!)) {
    const r = await runOracleCase(c, {
      quant,
      providers,
      cacheDir: values['cache-dir'],
      tolerance,
      ...agreementFloors(c, quant),
    });
    if (providers[0] !== 'cpu' && r.provider !== providers[0]) {
      process.stderr.write(`warning: case ${r.name} ran on ${r.provider}, not ${providers[0]}\n`);
    }
    process.stdout.write(formatCase(r, quant) + '\n');
    allPass &&= r.pass;
  }
  return allPass ? 0 : 1;
}

async function cmdServe(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { ...COMMON, port: { type: 'string', default: '8080' }, context: { type: 'string' }, 'model-id': { type: 'string' }, progress: { type: 'boolean', default: true }, 'no-suffix': { type: 'boolean', default: false } },
  });
  const model = requireModel(values.model);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0-65535 (got '${values.port}')`);
  const context = values.context !== undefined ? Number(values.context) : undefined;
  if (context !== undefined && (!Number.isInteger(context) || context < 16)) throw new UsageError(`--context must be an integer >= 16`);
  const log = (level: string, message: string) => process.stderr.write(`${level === 'info' ? '' : `${level}: `}${message}
`);
  const engine = new Engine(log);
  const info = await engine.loadModel(
    { model, quant: quantOf(values.quant), providers: values.ep ? providersOf(values.ep) : undefined, contextLength: context, cacheDir: values['cache-dir'] },
    (p) => progressPrinter(values.progress!)({ ...p }),
  );
  const modelId = values['model-id'] ?? path.basename(path.resolve(model));
  const server = await startOpenAIServer({ engine, modelId, port, log: (l) => log('error', l), suffix: !values['no-suffix'] });
  const addr = server.address() as { port: number };
  // The first stdout line is machine-readable so scripts (and tests) can find the port.
  process.stdout.write(`listening on http://127.0.0.1:${addr.port}/v1 (model ${modelId}, ${info.provider}, ${info.quant}, context ${info.contextLength})\n`);
  await new Promise<void>((resolve) => {
    const stop = () => server.close(() => resolve());
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await engine.shutdown();
  return 0;
}

/** Where `download` puts models and `models` looks, unless --dir says otherwise. */
function defaultModelsDir(): string {
  return path.join(defaultCacheDir(), 'models');
}

async function cmdDownload(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { dir: { type: 'string' }, revision: { type: 'string', default: 'main' }, 'hub-url': { type: 'string' }, verbose: { type: 'boolean', default: false } },
  });
  if (positionals.length !== 1) throw new UsageError('usage: engine download <owner/name> [--dir D] [--revision R] [--hub-url U]');
  const ac = new AbortController();
  // Ctrl-C stops at the next network read and keeps the .part files; the next run resumes them.
  process.once('SIGINT', () => ac.abort());
  let last = '';
  let lastFile = '';
  const r = await downloadModel({
    repo: positionals[0]!,
    revision: values.revision,
    dir: values.dir ?? defaultModelsDir(),
    hubUrl: values['hub-url'] ?? process.env.HF_ENDPOINT,
    accessToken: process.env.HF_TOKEN ?? process.env.HUGGING_FACE_HUB_TOKEN,
    signal: ac.signal,
    onProgress: (p) => {
      const line = describeProgress(p);
      if (line === last) return;
      last = line;
      if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${line}${p.phase === 'done' ? '\n' : ''}`);
      else if (p.phase !== 'downloading' || p.file !== lastFile) process.stderr.write(`${line}\n`);
      lastFile = p.file;
    },
  });
  for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
  // stdout: the model folder alone, for scripts (`--model "$(engine download ...)"`).
  process.stdout.write(`${r.path}\n`);
  return 0;
}

async function cmdModels(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { dir: { type: 'string' }, json: { type: 'boolean', default: false }, verbose: { type: 'boolean', default: false } } });
  const dir = values.dir ?? defaultModelsDir();
  const models = await listModels(dir);
  if (values.json) {
    process.stdout.write(JSON.stringify(models, null, 2) + '\n');
    return;
  }
  if (models.length === 0) {
    process.stderr.write(`no models in ${dir}\n`);
    return;
  }
  const rows = models.map((m) => [m.name, m.state, formatSize(m.sizeBytes), m.architecture ?? '-', m.repo ?? '-', m.problem ?? '']);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) process.stdout.write(r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i]!) : c)).join('  ').trimEnd() + '\n');
}

const COMMANDS: Record<string, (argv: string[]) => Promise<number | void>> = {
  serve: cmdServe,
  generate: cmdGenerate,
  tokenize: cmdTokenize,
  info: cmdInfo,
  fidelity: cmdFidelity,
  download: cmdDownload,
  models: cmdModels,
};

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  const verbose = rest.includes('--verbose');
  if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    const topic = cmd === 'help' ? rest[0] : undefined;
    if (topic && COMMAND_HELP[topic]) process.stdout.write(commandHelp(topic));
    else (cmd ? process.stdout : process.stderr).write(generalHelp());
    return cmd ? 0 : 2;
  }
  const run = COMMANDS[cmd];
  if (!run) {
    process.stderr.write(`error: unknown command '${cmd}'\n\n${generalHelp()}`);
    return 2;
  }
  if (wantsHelp(rest)) {
    process.stdout.write(commandHelp(cmd));
    return 0;
  }
  try {
    return (await run(rest)) ?? 0;
  } catch (e) {
    if (verbose) process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    else if (isEngineInputError(e) || e instanceof UsageError) process.stderr.write(`error: ${(e as Error).message}\n`);
    else if ((e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) process.stderr.write(`error: ${(e as Error).message}\n`);
    else process.stderr.write(`error: ${String((e as Error).message ?? e).split('\n')[0]}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
