/**
 * The extension's settings as plain data: types, defaults and normalisation of whatever the user
 * wrote in settings.json. No 'vscode' import, so the rules are unit-tested without an editor;
 * settings.ts reads the values from VS Code and passes them through `normalizeSettings`.
 *
 * The defaults here must match `contributes.configuration` in package.json (a test checks that).
 */
import type { Quant } from '../engine/protocol/protocol.ts';
import { REMOTE_FIM_SETTINGS, type RemoteFimSetting } from './backend/remote-fim.ts';

export interface Settings {
  modelPath: string;
  quantization: Quant;
  executionProviders: string[];
  /** GiB of GPU memory the model's weights may take (0: the adapter's, when known). */
  gpuMemoryBudgetGiB: number;
  /** Empty: VS Code's own binary as Node (process.execPath with ELECTRON_RUN_AS_NODE=1). */
  nodePath: string;
  completionsEnabled: boolean;
  /** languageId -> enabled; "*" is the fallback for languages not listed. */
  languages: Record<string, boolean>;
  debounceMs: number;
  maxTokens: number;
  /** Completions' context budget; 0: follow the model's context and the memory (see context/budget.ts). */
  budgetTokens: number;
  /** Chat and refactors: most tokens one answer may generate, and the context budget of its code windows (0: follow the model). */
  chatMaxTokens: number;
  chatBudgetTokens: number;
  /** Chat with models that have a thinking mode (DeepSeek-V4): reason before answering. */
  chatThinking: boolean;
  /** An OpenAI-compatible base URL (".../v1"); when set it replaces the local engine everywhere. */
  remoteEndpoint: string;
  /** Model name sent to the endpoint; empty: the first one its /v1/models lists. */
  remoteModel: string;
  remoteTimeoutSeconds: number;
  remoteContextLength: number;
  /** How completions reach the remote endpoint: detected ('auto'), `suffix`, a FIM layout sent as the prompt, or llama.cpp's /infill. */
  remoteFimFormat: RemoteFimSetting;
  /** Where downloaded models go; empty: the extension's global storage folder. */
  modelsFolder: string;
  /** The Hugging Face hub (or a mirror with the same URL layout). */
  hubUrl: string;
}

export const DEFAULT_SETTINGS: Settings = {
  modelPath: '',
  quantization: 'int8',
  executionProviders: ['webgpu', 'cuda', 'cpu'],
  gpuMemoryBudgetGiB: 0,
  nodePath: '',
  completionsEnabled: true,
  languages: { '*': true, plaintext: false, markdown: false },
  debounceMs: 150,
  maxTokens: 64,
  budgetTokens: 0,
  chatMaxTokens: 1024,
  chatBudgetTokens: 0,
  chatThinking: false,
  remoteEndpoint: '',
  remoteModel: '',
  remoteTimeoutSeconds: 60,
  remoteContextLength: 32768,
  remoteFimFormat: 'auto',
  modelsFolder: '',
  hubUrl: 'https://huggingface.co',
};

const QUANTS: readonly Quant[] = ['none', 'int8', 'int4'];

/** Raw values keyed by the setting's name under "switchyard." (undefined = not set). */
export type RawSettings = Partial<Record<'model.path' | 'model.quantization' | 'engine.executionProviders' | 'engine.gpuMemoryBudget' | 'engine.nodePath' | 'completions.enabled' | 'completions.languages' | 'completions.debounceMs' | 'completions.maxTokens' | 'context.budgetTokens' | 'chat.maxTokens' | 'chat.budgetTokens' | 'chat.thinking' | 'remote.endpoint' | 'remote.model' | 'remote.timeoutSeconds' | 'remote.contextLength' | 'remote.fimFormat' | 'models.folder' | 'models.hubUrl', unknown>>;

function int(v: unknown, def: number, min: number, max: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? Math.min(max, Math.max(min, Math.round(v))) : def;
}

/** A token budget: 0 (or less) is automatic; a set value is at least `min`. */
function budget(v: unknown, def: number, min: number, max: number): number {
  return typeof v === 'number' && Number.isFinite(v) && v <= 0 ? 0 : int(v, def, min, max);
}

/** Typed values with defaults; out-of-range numbers are clamped rather than rejected (a typo must not disable completions). */
export function normalizeSettings(raw: RawSettings): Settings {
  const d = DEFAULT_SETTINGS;
  const str = (v: unknown, def: string) => (typeof v === 'string' ? v.trim() : def);
  const eps = raw['engine.executionProviders'];
  const langs = raw['completions.languages'];
  return {
    modelPath: str(raw['model.path'], d.modelPath),
    quantization: QUANTS.includes(raw['model.quantization'] as Quant) ? (raw['model.quantization'] as Quant) : d.quantization,
    executionProviders:
      Array.isArray(eps) && eps.length > 0 && eps.every((e) => typeof e === 'string') ? eps.map((e: string) => e.trim().toLowerCase()) : [...d.executionProviders],
    gpuMemoryBudgetGiB: typeof raw['engine.gpuMemoryBudget'] === 'number' && Number.isFinite(raw['engine.gpuMemoryBudget']) ? Math.min(4096, Math.max(0, raw['engine.gpuMemoryBudget'] as number)) : d.gpuMemoryBudgetGiB,
    nodePath: str(raw['engine.nodePath'], d.nodePath),
    completionsEnabled: typeof raw['completions.enabled'] === 'boolean' ? raw['completions.enabled'] : d.completionsEnabled,
    languages:
      langs && typeof langs === 'object' && !Array.isArray(langs)
        ? Object.fromEntries(Object.entries(langs as Record<string, unknown>).filter(([, v]) => typeof v === 'boolean')) as Record<string, boolean>
        : { ...d.languages },
    debounceMs: int(raw['completions.debounceMs'], d.debounceMs, 0, 5000),
    maxTokens: int(raw['completions.maxTokens'], d.maxTokens, 1, 4096),
    budgetTokens: budget(raw['context.budgetTokens'], d.budgetTokens, 256, 1 << 21),
    chatMaxTokens: int(raw['chat.maxTokens'], d.chatMaxTokens, 16, 32768),
    chatBudgetTokens: budget(raw['chat.budgetTokens'], d.chatBudgetTokens, 256, 1 << 21),
    chatThinking: typeof raw['chat.thinking'] === 'boolean' ? raw['chat.thinking'] : d.chatThinking,
    remoteEndpoint: str(raw['remote.endpoint'], d.remoteEndpoint).replace(/\/+$/, ''),
    remoteModel: str(raw['remote.model'], d.remoteModel),
    remoteTimeoutSeconds: int(raw['remote.timeoutSeconds'], d.remoteTimeoutSeconds, 1, 3600),
    remoteContextLength: int(raw['remote.contextLength'], d.remoteContextLength, 512, 1 << 21),
    remoteFimFormat: REMOTE_FIM_SETTINGS.includes(raw['remote.fimFormat'] as RemoteFimSetting) ? (raw['remote.fimFormat'] as RemoteFimSetting) : d.remoteFimFormat,
    modelsFolder: str(raw['models.folder'], d.modelsFolder),
    hubUrl: str(raw['models.hubUrl'], d.hubUrl).replace(/\/+$/, '') || d.hubUrl,
  };
}

/**
 * The context the local engine is loaded with. With both budgets set: what the completion windows
 * or a chat message (code context + answer; earlier turns are trimmed to fit) send at most, plus
 * room for the prompt layout, rather than the model's full length, so the memory estimate and KV
 * budget match use. With either automatic (0, the default): 'auto', the longest context the model
 * allows whose caches fit the memory (the engine decides; it knows both).
 */
export function engineContextLength(s: Pick<Settings, 'budgetTokens' | 'maxTokens' | 'chatBudgetTokens' | 'chatMaxTokens'>): number | 'auto' {
  if (s.budgetTokens <= 0 || s.chatBudgetTokens <= 0) return 'auto';
  return Math.max(s.budgetTokens + s.maxTokens, s.chatBudgetTokens + s.chatMaxTokens) + 512;
}

/** Whether completions run for `languageId`: its own entry, else "*", else on. */
export function isLanguageEnabled(languages: Record<string, boolean>, languageId: string): boolean {
  if (Object.hasOwn(languages, languageId)) return languages[languageId]!;
  if (Object.hasOwn(languages, '*')) return languages['*']!;
  return true;
}

/** Whether a completion request may be sent at all for this document. */
export function completionsAllowed(s: Pick<Settings, 'completionsEnabled' | 'languages'>, languageId: string): boolean {
  return s.completionsEnabled && isLanguageEnabled(s.languages, languageId);
}
