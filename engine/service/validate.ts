/**
 * Parameter checks for protocol requests: JSON-RPC peers can send anything, so every field is
 * checked before use and a wrong one is named in the error ("complete: maxTokens must be ...").
 * Shared by the JSON-RPC server and the OpenAI-compatible HTTP server.
 */
import type { ChatParams, CompleteParams, CountTokensParams, InitializeParams, LoadModelParams } from '../protocol/protocol.ts';

export class ParamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ParamError';
  }
}

type Obj = Record<string, unknown>;

function obj(method: string, p: unknown): Obj {
  if (p === null || typeof p !== 'object' || Array.isArray(p)) throw new ParamError(`${method}: params must be an object`);
  return p as Obj;
}

function str(method: string, o: Obj, k: string, required = false): void {
  if (o[k] === undefined && !required) return;
  if (typeof o[k] !== 'string') throw new ParamError(`${method}: ${k} must be a string${required ? ' (required)' : ''}`);
}

function num(method: string, o: Obj, k: string, opts: { min?: number; max?: number; int?: boolean } = {}): void {
  const v = o[k];
  if (v === undefined) return;
  const bad =
    typeof v !== 'number' || !Number.isFinite(v) || (opts.int && !Number.isInteger(v)) || (opts.min !== undefined && v < opts.min) || (opts.max !== undefined && v > opts.max);
  if (bad) {
    const range = [opts.min !== undefined ? `>= ${opts.min}` : '', opts.max !== undefined ? `<= ${opts.max}` : ''].filter(Boolean).join(' and ');
    throw new ParamError(`${method}: ${k} must be ${opts.int ? 'an integer' : 'a number'}${range ? ` ${range}` : ''}`);
  }
}

function strArray(method: string, o: Obj, k: string): void {
  const v = o[k];
  if (v === undefined) return;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new ParamError(`${method}: ${k} must be an array of strings`);
}

function sampling(method: string, o: Obj): void {
  num(method, o, 'temperature', { min: 0, max: 100 });
  num(method, o, 'topK', { min: 0, int: true });
  num(method, o, 'topP', { min: 0, max: 1 });
  num(method, o, 'minP', { min: 0, max: 1 });
  num(method, o, 'repetitionPenalty', { min: 0 });
  num(method, o, 'presencePenalty', { min: -2, max: 2 });
  num(method, o, 'frequencyPenalty', { min: -2, max: 2 });
  num(method, o, 'seed', { int: true });
  num(method, o, 'maxTokens', { min: 0, int: true });
  num(method, o, 'promptBudgetMs', { min: 0 });
  num(method, o, 'predictBudgetMs', { min: 0 });
  strArray(method, o, 'stop');
}

export function checkInitialize(p: unknown): asserts p is InitializeParams {
  const o = obj('initialize', p);
  str('initialize', o, 'clientName', true);
  str('initialize', o, 'clientVersion');
}

export function checkLoadModel(p: unknown): asserts p is LoadModelParams {
  const o = obj('loadModel', p);
  str('loadModel', o, 'model', true);
  if (o.quant !== undefined && o.quant !== 'none' && o.quant !== 'int8' && o.quant !== 'int4') {
    throw new ParamError(`loadModel: quant must be "none", "int8" or "int4"`);
  }
  strArray('loadModel', o, 'providers');
  const ctx = o.contextLength;
  if (ctx !== undefined && ctx !== 'auto' && (typeof ctx !== 'number' || !Number.isInteger(ctx) || ctx < 16)) {
    throw new ParamError(`loadModel: contextLength must be an integer >= 16 or "auto" (got ${JSON.stringify(ctx)})`);
  }
  num('loadModel', o, 'memoryBudgetBytes', { min: 0 });
  num('loadModel', o, 'prefixCacheBytes', { min: 0 });
  str('loadModel', o, 'cacheDir');
  str('loadModel', o, 'progressId');
}

export function checkComplete(p: unknown): asserts p is CompleteParams {
  const o = obj('complete', p);
  str('complete', o, 'prefix', true);
  str('complete', o, 'suffix', true);
  str('complete', o, 'filePath');
  str('complete', o, 'repoName');
  str('complete', o, 'indentStop');
  if (o.raw !== undefined && typeof o.raw !== 'boolean') throw new ParamError('complete: raw must be a boolean');
  if (o.specialTokens !== undefined && typeof o.specialTokens !== 'boolean') throw new ParamError('complete: specialTokens must be a boolean');
  num('complete', o, 'tabWidth', { min: 1, max: 16, int: true });
  if (o.relatedFiles !== undefined) {
    const ok = Array.isArray(o.relatedFiles) && o.relatedFiles.every((f) => f && typeof f === 'object' && typeof (f as Obj).path === 'string' && typeof (f as Obj).text === 'string');
    if (!ok) throw new ParamError('complete: relatedFiles must be an array of {path: string, text: string}');
  }
  sampling('complete', o);
}

export function checkChat(p: unknown): asserts p is ChatParams {
  const o = obj('chat', p);
  const ok =
    Array.isArray(o.messages) &&
    o.messages.length > 0 &&
    o.messages.every((m) => m && typeof m === 'object' && ['system', 'user', 'assistant'].includes((m as Obj).role as string) && typeof (m as Obj).content === 'string');
  if (!ok) throw new ParamError('chat: messages must be a non-empty array of {role: "system"|"user"|"assistant", content: string}');
  str('chat', o, 'streamId');
  if (o.promptLookup !== undefined && typeof o.promptLookup !== 'boolean') throw new ParamError('chat: promptLookup must be a boolean');
  if (o.thinking !== undefined && typeof o.thinking !== 'boolean') throw new ParamError('chat: thinking must be a boolean');
  (o.messages as Obj[]).forEach((m, i) => {
    if (m.reasoning !== undefined && typeof m.reasoning !== 'string') throw new ParamError(`chat: messages[${i}].reasoning must be a string`);
  });
  sampling('chat', o);
}

export function checkCountTokens(p: unknown): asserts p is CountTokensParams {
  str('countTokens', obj('countTokens', p), 'text', true);
}
