/**
 * The engine's JSON-RPC 2.0 protocol (over stdio, framed by vscode-jsonrpc): one typed module that
 * both the engine (engine/service) and its clients (engine/protocol/client.ts, the extension)
 * import, so a change to a message shows up as a type error on both sides.
 *
 * Cancellation is JSON-RPC's own `$/cancelRequest`: vscode-jsonrpc turns it into the handler's
 * CancellationToken. Streaming (chat deltas, load progress) uses notifications that carry the
 * request's `streamId` / `progressId`, chosen by the client.
 */
import { NotificationType, RequestType, RequestType0 } from 'vscode-jsonrpc';

export const PROTOCOL_VERSION = 1;

/** JSON-RPC error codes the engine uses beyond the standard ones (-32700 ... -32603). */
export const ErrorCodes = {
  /** A request that needs a model arrived before loadModel finished. */
  NoModel: -32001,
  /** The prompt does not fit the context (or the prompt budget). */
  PromptTooLong: -32002,
  /** The model cannot be loaded: bad checkpoint, too large for the memory budget, ... */
  LoadFailed: -32003,
  /** The request was cancelled ($/cancelRequest or a newer request replaced it). */
  Cancelled: -32800,
} as const;

export type Quant = 'none' | 'int8' | 'int4';
export type FinishReason = 'stop' | 'length' | 'time' | 'cancelled';

export interface InitializeParams {
  clientName: string;
  clientVersion?: string;
}
export interface InitializeResult {
  engineVersion: string;
  protocolVersion: number;
  pid: number;
}

export interface LoadModelParams {
  /** A Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer.json, tokenizer_config.json). */
  model: string;
  quant?: Quant;
  /** Execution-provider preference, e.g. ["webgpu", "cpu"]. */
  providers?: string[];
  /**
   * Longest context the client will send (default: the model's, capped at 32768). 'auto': the
   * longest the model allows whose KV cache, and a prefix cache holding two such windows, fit the
   * memory budget (see engine/service/context-fit.ts).
   */
  contextLength?: number | 'auto';
  /** Refuse to load when weights + KV cache + activations would exceed this (bytes). */
  memoryBudgetBytes?: number;
  /** GPU memory the weights may take (bytes); routed experts beyond it run on the CPU. Default: the adapter's, when known. */
  gpuMemoryBudgetBytes?: number;
  /** Bytes the prefix cache may hold (default 1 GiB; with contextLength 'auto', enough for two full windows). */
  prefixCacheBytes?: number;
  cacheDir?: string;
  /** Client-chosen id that `progress` notifications carry. */
  progressId?: string;
}
export interface LoadModelResult {
  model: string;
  architecture: string;
  modelType: string;
  provider: string;
  providerAttempts: { provider: string; ok: boolean; reason?: string }[];
  /** Where the KV cache (and the prefix cache's entries) live: 'gpu-buffer' = on the WebGPU device. */
  kvCache: 'cpu' | 'gpu-buffer';
  /** Where the routed experts run: dispatched per expert on the CPU, or fused, per layer on the GPU or the CPU. */
  experts?: { mode: 'dispatch' | 'fused' | 'none'; gpuLayers: number[]; cpuLayers: number[]; summary: string };
  quant: Quant;
  fromCache: boolean;
  /** The context the model was loaded with: the longest prompt + answer a request may use. */
  contextLength: number;
  /** The model's own limit (max_position_embeddings). */
  maxContextLength: number;
  /** What set contextLength: the model's limit, the client's request, or the memory budget. */
  contextLimitedBy: 'model' | 'request' | 'memory';
  /** KV cache bytes per token (float32; for DeepSeek-V4 its average at 128K tokens, the cache not being linear). */
  kvBytesPerToken: number;
  /** KV cache bytes of one full window at contextLength (exact for DeepSeek-V4's compressed caches). */
  kvCacheBytes: number;
  /** Bytes the prefix cache may hold. */
  prefixCacheBytes: number;
  /** The FIM layout detected from the tokenizer's special tokens, or null when it has none. */
  fimFormat: string | null;
  hasChatTemplate: boolean;
}

export interface ProgressParams {
  progressId: string;
  phase: 'reading' | 'hashing' | 'building' | 'quantising' | 'creating session' | 'done';
  done: number;
  total: number;
  message: string;
}

/** Sampling settings shared by completions and chat (all optional; greedy when temperature is 0). */
export interface SamplingParams {
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repetitionPenalty?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  seed?: number;
}

export interface GenerationLimits {
  maxTokens?: number;
  /** Stop strings (matched across token boundaries; not included in the output). */
  stop?: string[];
  /** Give up (finishReason "time") if prefilling the prompt takes longer than this. */
  promptBudgetMs?: number;
  /** Stop after this long, but only once at least one full line has been produced. */
  predictBudgetMs?: number;
}

export interface RelatedFile {
  path: string;
  text: string;
}

export interface CompleteParams extends SamplingParams, GenerationLimits {
  prefix: string;
  suffix: string;
  /** Continue `prefix` as plain text (no fill-in-the-middle layout; suffix ignored). */
  raw?: boolean;
  /**
   * With `raw`: special-token texts in `prefix` become their tokens, as vLLM and llama.cpp's server
   * read a prompt (for clients that lay out fill-in-the-middle themselves). Default: plain text.
   */
  specialTokens?: boolean;
  filePath?: string;
  repoName?: string;
  relatedFiles?: RelatedFile[];
  /** Stop when a new line is indented less than this (the cursor line's indentation). */
  indentStop?: string;
  /** Tab width for indentStop (default 4). */
  tabWidth?: number;
}

export interface Usage {
  promptTokens: number;
  /** Prompt tokens whose KV came from the prefix cache. */
  cachedTokens: number;
  completionTokens: number;
  prefillMs: number;
  decodeMs: number;
  /** Forward passes this request ran (prefill chunks + decode steps). */
  forwards?: number;
  /** Prompt-lookup drafts: tokens proposed and tokens the model confirmed. */
  draftedTokens?: number;
  acceptedTokens?: number;
}

export interface CompleteResult {
  text: string;
  finishReason: FinishReason;
  usage: Usage;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
  /**
   * An earlier assistant answer's reasoning, where the client kept it. Encodings that drop
   * earlier reasoning (DeepSeek-V4's) leave it out; chat templates do not see it.
   */
  reasoning?: string;
}

export interface ChatParams extends SamplingParams, GenerationLimits {
  messages: ChatMessage[];
  /** Client-chosen id that `chat/delta` notifications carry. */
  streamId?: string;
  /** Speculate from n-gram matches in the prompt (greedy only; output identical). */
  promptLookup?: boolean;
  /**
   * Thinking mode, for chat encodings that have the switch (DeepSeek-V4's): true opens a
   * reasoning block (streamed as `reasoning`), false (the default) answers directly.
   */
  thinking?: boolean;
}

export interface ChatDeltaParams {
  streamId: string;
  content?: string;
  reasoning?: string;
  /** Tokens generated so far (reasoning included), so progress can be shown against maxTokens. */
  tokens?: number;
}

export interface ChatResult {
  text: string;
  reasoning: string;
  finishReason: FinishReason;
  usage: Usage;
}

export interface CountTokensParams {
  text: string;
}
export interface CountTokensResult {
  count: number;
}

export interface CacheStats {
  entries: number;
  bytes: number;
  budgetBytes: number;
  /** Requests that reused at least one cached token. */
  hits: number;
  misses: number;
  /** Prompt tokens served from the cache, and prompt tokens that had to be prefilled (totals). */
  reusedTokens: number;
  prefilledTokens: number;
}

export interface StatusResult {
  model: LoadModelResult | null;
  loading: boolean;
  memory: { rssBytes: number; heapUsedBytes: number; externalBytes: number };
  cache: CacheStats;
  queue: { running: number; waiting: number };
  requests: { completed: number; cancelled: number; failed: number };
}

/** Fit check before loading: reads config.json and the safetensors headers only, never the weights. */
export interface InspectModelParams {
  /** A Hugging Face checkpoint folder. */
  model: string;
  quant?: Quant;
  /** As loadModel (default: the model's, capped at 32768). */
  contextLength?: number;
  /** Execution-provider preference; the result says which one would be chosen. */
  providers?: string[];
  /** The memory to fit in (default: loadModel's budget, 80% of the machine's memory). */
  memoryBudgetBytes?: number;
  /** As loadModel (default 1 GiB). */
  prefixCacheBytes?: number;
}
export interface InspectModelResult {
  model: string;
  architecture: string;
  modelType: string;
  /** Total parameters, and those active per token (fewer for mixture-of-experts models). */
  parameters: number;
  activeParameters: number;
  quant: Quant;
  contextLength: number;
  /** What loadModel would need with these settings (it refuses when totalBytes > availableBytes). */
  /** snapshotBytes: DeepSeek-V4's cache snapshots for trim/copy (0 for other models). */
  estimate: { weightsBytes: number; kvBytes: number; snapshotBytes?: number; activationBytes: number; prefixCacheBytes: number; totalBytes: number };
  availableBytes: number;
  fits: boolean;
  /** One line: "needs 12.30 GiB of 31.00 GiB available ..., provider cuda", or why it does not fit and what would. */
  message: string;
  /** The execution provider that would be chosen, and why each preferred one before it was skipped. */
  provider: string;
  providerAttempts: { provider: string; ok: boolean; reason?: string }[];
  /** totalBytes under each quantisation, to suggest one that fits. */
  totalBytesByQuant: Record<Quant, number>;
  /** The weights alone under each quantisation, as built. */
  weightsBytesByQuant?: Record<Quant, number>;
  /** 'config': the folder has no weights (yet); the sizes come from config.json alone. */
  countedFrom?: 'checkpoint' | 'config';
}

export const Initialize = new RequestType<InitializeParams, InitializeResult, unknown>('initialize');
export const LoadModel = new RequestType<LoadModelParams, LoadModelResult, unknown>('loadModel');
export const Complete = new RequestType<CompleteParams, CompleteResult, unknown>('complete');
export const Chat = new RequestType<ChatParams, ChatResult, unknown>('chat');
export const CountTokens = new RequestType<CountTokensParams, CountTokensResult, unknown>('countTokens');
export const InspectModel = new RequestType<InspectModelParams, InspectModelResult, unknown>('inspectModel');
export const Status = new RequestType0<StatusResult, unknown>('status');
export const Shutdown = new RequestType0<void, unknown>('shutdown');

export const Progress = new NotificationType<ProgressParams>('progress');
export const ChatDelta = new NotificationType<ChatDeltaParams>('chat/delta');
/** Engine log lines (the extension shows them in its output channel). */
export const Log = new NotificationType<{ level: 'info' | 'warn' | 'error'; message: string }>('log');
