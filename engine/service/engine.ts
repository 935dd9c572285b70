/**
 * The engine as a service: one loaded model, a prefix cache, and the turn queue that lets many
 * requests share the session. The JSON-RPC server (server.ts) and the OpenAI-compatible HTTP
 * server (http/openai.ts) are thin adapters over this class.
 */
import * as path from 'node:path';
import { Checkpoint } from '../checkpoint/checkpoint.ts';
import { EngineInputError } from '../errors.ts';
import { humanBytes, kvCacheBytesAt, modelFacts } from '../model/info.ts';
import { kvBytesPerToken, specFromConfig } from '../model/spec.ts';
import { defaultMemoryBudget, describeEstimate, estimateMemory, refusalMessage } from '../runtime/memory.ts';
import { loadModel, type LoadedModel } from '../runtime/load.ts';
import { parseProviderList } from '../runtime/providers.ts';
import { PrefixCache } from '../runtime/prefix-cache.ts';
import type { SamplingOptions } from '../runtime/sampler.ts';
import type {
  CacheStats,
  ChatParams,
  ChatResult,
  CompleteParams,
  CompleteResult,
  LoadModelParams,
  LoadModelResult,
  ProgressParams,
  SamplingParams,
  StatusResult,
} from '../protocol/protocol.ts';
import { fitContext } from './context-fit.ts';
import { generate, PREFILL_CHUNK, type GenerateResult } from './generate.ts';
import type { StopDetector } from '../generate/stops.ts';
import { Turns, type Priority } from './turns.ts';
import { checkChat, checkComplete, checkCountTokens, checkLoadModel } from './validate.ts';
import { buildChatPrompt, buildCompletionPrompt, detectFormats, encodeRawPrompt, stopsFor, type PromptFormats } from './prompts.ts';

export const ENGINE_VERSION = '0.1.0';
const DEFAULT_CONTEXT_CAP = 32768;
const DEFAULT_PREFIX_CACHE = 1024 ** 3;

export class NoModelError extends Error {
  constructor() {
    super('no model is loaded: call loadModel first');
    this.name = 'NoModelError';
  }
}

export class LoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoadError';
  }
}

interface Loaded {
  model: LoadedModel;
  info: LoadModelResult;
  cache: PrefixCache;
  formats: PromptFormats;
  contextLength: number;
}

export class Engine {
  #loaded: Loaded | null = null;
  #loading: Promise<LoadModelResult> | null = null;
  readonly turns = new Turns();
  #running = 0;
  #counts = { completed: 0, cancelled: 0, failed: 0 };

  constructor(private readonly log: (level: 'info' | 'warn' | 'error', message: string) => void = () => {}) {}

  /** The context the loaded model was loaded with (null before a load). */
  get contextLength(): number | null {
    return this.#loaded?.contextLength ?? null;
  }

  get loaded(): boolean {
    return this.#loaded !== null;
  }

  async loadModel(p: LoadModelParams, onProgress?: (p: Omit<ProgressParams, 'progressId'>) => void): Promise<LoadModelResult> {
    checkLoadModel(p);
    if (this.#loading) throw new LoadError('a model is already loading');
    this.#loading = this.#load(p, onProgress);
    try {
      return await this.#loading;
    } finally {
      this.#loading = null;
    }
  }

  async #load(p: LoadModelParams, onProgress?: (p: Omit<ProgressParams, 'progressId'>) => void): Promise<LoadModelResult> {
    const quant = p.quant ?? 'none';
    if (quant !== 'none' && quant !== 'int8' && quant !== 'int4') throw new LoadError(`quant must be none, int8 or int4 (got '${String(quant)}')`);
    let providers;
    try {
      providers = p.providers ? parseProviderList(p.providers.join(',')) : undefined;
    } catch (e) {
      throw new LoadError((e as Error).message);
    }
    onProgress?.({ phase: 'reading', done: 0, total: 1, message: `reading ${p.model}` });
    const dir = path.resolve(p.model);
    const ckpt = Checkpoint.open(dir);
    let estimateLine: string;
    let contextLength: number;
    let prefixBytes = p.prefixCacheBytes ?? DEFAULT_PREFIX_CACHE;
    let limitedBy: LoadModelResult['contextLimitedBy'];
    try {
      const spec = specFromConfig(ckpt.config, ckpt.configPath);
      const budget = p.memoryBudgetBytes ?? defaultMemoryBudget();
      const need = (n: number, prefixCacheBytes: number) => estimateMemory(spec, ckpt, { quant, contextLength: n, prefillChunk: PREFILL_CHUNK, prefixCacheBytes });
      if (p.contextLength === 'auto') {
        const fit = fitContext({
          maxPositions: spec.maxPositions,
          budgetBytes: budget,
          cacheBytesAt: (n) => kvCacheBytesAt(spec, n),
          needBytes: (n, pc) => need(n, p.prefixCacheBytes ?? pc).totalBytes,
          minPrefixCacheBytes: p.prefixCacheBytes ?? DEFAULT_PREFIX_CACHE,
        });
        contextLength = fit.contextLength;
        limitedBy = fit.limitedBy;
        prefixBytes = p.prefixCacheBytes ?? fit.prefixCacheBytes;
      } else {
        const wanted = p.contextLength ?? Math.min(spec.maxPositions, DEFAULT_CONTEXT_CAP);
        contextLength = Math.min(wanted, spec.maxPositions);
        limitedBy = wanted < spec.maxPositions ? 'request' : 'model';
      }
      const est = need(contextLength, prefixBytes);
      estimateLine = describeEstimate(est);
      if (est.totalBytes > budget) {
        const at = (q: typeof quant) => estimateMemory(spec, ckpt, { quant: q, contextLength, prefillChunk: PREFILL_CHUNK, prefixCacheBytes: prefixBytes }).totalBytes;
        const byQuant = { none: at('none'), int8: at('int8'), int4: at('int4') };
        throw new EngineInputError(dir, refusalMessage(est, { budgetBytes: budget, quant, contextLength, byQuant }));
      }
    } finally {
      ckpt.close();
    }
    const previous = this.#loaded;
    const model = await loadModel(dir, {
      quant,
      providers,
      cacheDir: p.cacheDir,
      gpuMemoryBudgetBytes: p.gpuMemoryBudgetBytes,
      log: (line) => this.log('info', line),
      onProgress: (e) => onProgress?.({ phase: e.phase, done: e.done, total: e.total, message: e.message }),
    });
    if (!model.tokenizer) {
      await model.close();
      throw new EngineInputError(path.join(dir, 'tokenizer.json'), 'file not found (the engine service needs the tokenizer)');
    }
    const facts = modelFacts(model.built.spec, model.ckpt);
    const formats = detectFormats(model.tokenizer, facts.modelType);
    const info: LoadModelResult = {
      model: dir,
      architecture: facts.architecture,
      modelType: facts.modelType,
      provider: model.session.provider,
      providerAttempts: model.session.attempts,
      kvCache: model.session.kvLocation,
      experts: (({ mode, gpuLayers, cpuLayers, summary }) => ({ mode, gpuLayers, cpuLayers, summary }))(model.session.placement),
      quant,
      fromCache: model.built.fromCache,
      contextLength,
      maxContextLength: model.built.spec.maxPositions,
      contextLimitedBy: limitedBy,
      kvBytesPerToken: kvBytesPerToken(model.built.spec, 4),
      kvCacheBytes: kvCacheBytesAt(model.built.spec, contextLength),
      prefixCacheBytes: prefixBytes,
      fimFormat: formats.fim?.family ?? null,
      hasChatTemplate: !!model.tokenizer.chatTemplate,
    };
    this.log('info', `loaded ${facts.architecture} on ${info.provider} (${quant}, KV cache on ${info.kvCache === 'gpu-buffer' ? 'the GPU' : 'the host'}; ${model.session.placement.summary}); memory estimate ${estimateLine}`);
    this.log('info', `context ${contextLength} of the model's ${info.maxContextLength} tokens (set by ${limitedBy === 'memory' ? 'the memory budget' : limitedBy === 'model' ? 'the model' : 'the request'}); a full window's KV cache ${humanBytes(info.kvCacheBytes)}, prefix cache up to ${humanBytes(prefixBytes)}`);
    this.#loaded = {
      model,
      info,
      cache: new PrefixCache(prefixBytes, () => model.session.newState()),
      formats,
      contextLength,
    };
    onProgress?.({ phase: 'done', done: 1, total: 1, message: 'ready' });
    if (previous) await this.#unload(previous);
    return info;
  }

  async #unload(l: Loaded): Promise<void> {
    l.cache.clear();
    // Wait until no request holds the session, then release it.
    const release = await this.turns.acquire('completion');
    try {
      await l.model.close();
    } finally {
      release();
    }
  }

  #need(): Loaded {
    if (!this.#loaded) throw new NoModelError();
    return this.#loaded;
  }

  countTokens(text: string): number {
    checkCountTokens({ text });
    return this.#need().model.tokenizer!.encode(text, { addSpecialTokens: false }).length;
  }

  /** The ids a raw completion prompt gets (see encodeRawPrompt): `engine serve`'s /tokenize. */
  tokenize(text: string, o: { specialTokens: boolean; addBos: boolean }): number[] {
    checkCountTokens({ text });
    return encodeRawPrompt(this.#need().model.tokenizer!, text, o);
  }

  async complete(p: CompleteParams, signal: AbortSignal, onDelta?: (text: string) => void): Promise<CompleteResult> {
    checkComplete(p);
    const l = this.#need();
    const tok = l.model.tokenizer!;
    const prompt = buildCompletionPrompt(l.formats, tok, p);
    const indent = p.indentStop !== undefined ? { cursorIndent: p.indentStop, tabWidth: p.tabWidth } : undefined;
    const r = await this.#run(l, 'completion', prompt.ids, p, stopsFor(p, prompt.stopIds, indent), signal, onDelta);
    return { text: r.text, finishReason: r.finishReason, usage: r.usage };
  }

  async chat(p: ChatParams, signal: AbortSignal, onDelta?: (d: { content?: string; reasoning?: string; tokens?: number }) => void): Promise<ChatResult> {
    checkChat(p);
    const l = this.#need();
    const tok = l.model.tokenizer!;
    const prompt = buildChatPrompt(l.formats, tok, p.messages, { thinking: p.thinking });
    if (prompt.fallback) this.log('warn', `chat template: ${prompt.fallback}`);
    const split = prompt.reasoning;
    let content = '';
    let reasoning = '';
    let tokens = 0;
    let sentTokens = 0;
    const forward = (ds: { content?: string; reasoning?: string }[]) => {
      for (const d of ds) {
        content += d.content ?? '';
        reasoning += d.reasoning ?? '';
        onDelta?.({ ...d, tokens });
        sentTokens = tokens;
      }
    };
    const onText = (delta: string, n: number) => {
      tokens = n;
      forward(split.push(delta));
    };
    const r = await this.#run(l, 'chat', prompt.ids, p, stopsFor(p, prompt.stopIds), signal, onText, p.promptLookup);
    tokens = r.usage.completionTokens;
    forward(split.flush());
    // Tokens that showed no text (an end-of-turn token, a held-back stop string) still count: the final total.
    if (sentTokens !== tokens) onDelta?.({ tokens });
    return { text: content, reasoning, finishReason: r.finishReason, usage: r.usage };
  }

  async #run(
    l: Loaded,
    priority: Priority,
    prompt: number[],
    p: SamplingParams & { maxTokens?: number; promptBudgetMs?: number; predictBudgetMs?: number },
    stops: StopDetector,
    signal: AbortSignal,
    onText?: (delta: string, tokens: number) => void,
    promptLookup?: boolean,
  ): Promise<GenerateResult> {
    this.#running++;
    try {
      const r = await generate(
        { session: l.model.session, tokenizer: l.model.tokenizer!, cache: l.cache, turns: this.turns, contextLength: l.contextLength },
        {
          prompt,
          priority,
          sampling: samplingOf(p),
          maxTokens: p.maxTokens ?? (priority === 'completion' ? 128 : 1024),
          stops,
          promptLookup,
          promptBudgetMs: p.promptBudgetMs,
          predictBudgetMs: p.predictBudgetMs,
          signal,
          onText,
        },
      );
      if (r.finishReason === 'cancelled') this.#counts.cancelled++;
      else this.#counts.completed++;
      return r;
    } catch (e) {
      this.#counts.failed++;
      throw e;
    } finally {
      this.#running--;
    }
  }

  status(): StatusResult {
    const mem = process.memoryUsage();
    const empty: CacheStats = { entries: 0, bytes: 0, budgetBytes: 0, hits: 0, misses: 0, reusedTokens: 0, prefilledTokens: 0 };
    return {
      model: this.#loaded?.info ?? null,
      loading: this.#loading !== null,
      memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, externalBytes: mem.external + mem.arrayBuffers },
      cache: this.#loaded?.cache.stats() ?? empty,
      queue: { running: this.#running, waiting: this.turns.waiting },
      requests: { ...this.#counts },
    };
  }

  async shutdown(): Promise<void> {
    const l = this.#loaded;
    this.#loaded = null;
    if (l) await this.#unload(l);
  }
}

export function samplingOf(p: SamplingParams): SamplingOptions {
  const t = p.temperature ?? 0;
  return {
    greedy: t === 0,
    temperature: t,
    topK: p.topK,
    topP: p.topP,
    minP: p.minP,
    repetitionPenalty: p.repetitionPenalty,
    presencePenalty: p.presencePenalty,
    frequencyPenalty: p.frequencyPenalty,
    seed: p.seed,
  } as SamplingOptions;
}
