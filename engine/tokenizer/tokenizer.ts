/**
 * The engine's tokenizer: a Hugging Face tokenizer folder (tokenizer.json + tokenizer_config.json,
 * optionally generation_config.json / chat_template.jinja) loaded with @huggingface/tokenizers,
 * plus what the engine needs on top: BOS/EOS handling as transformers does it, stop ids, and the
 * model's special tokens (FIM, repo/file markers, end of turn, think tags) found by their text in
 * the tokenizer files, never guessed from the model name.
 */
import { readFileSync, statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import * as hf from '@huggingface/tokenizers';
import { EngineInputError } from '../errors.ts';
import { applyDigitsOverride } from './digits-override.ts';

/**
 * The parts of @huggingface/tokenizers' `Tokenizer` used here, typed locally: the package's .d.ts
 * files use extensionless relative imports that do not resolve under NodeNext, so TypeScript
 * sees its exports as `any`.
 */
interface LibTokenizer {
  pre_tokenizer: unknown;
  encode(text: string, options?: { add_special_tokens?: boolean }): { ids: number[] };
  decode(ids: number[], options?: { skip_special_tokens?: boolean; clean_up_tokenization_spaces?: boolean }): string;
  token_to_id(token: string): number | undefined;
  id_to_token(id: number): string | undefined;
  get_added_tokens_decoder(): Map<number, { content: string; id: number; special: boolean }>;
  get_vocab(withAddedTokens?: boolean): Map<string, number>;
}
const LibTokenizerClass = (hf as unknown as { Tokenizer: new (tokenizerJson: object, config: object) => LibTokenizer })
  .Tokenizer;

export interface EncodeOptions {
  /**
   * Add the special tokens transformers would add (BOS if tokenizer_config says add_bos_token,
   * EOS if add_eos_token). Default false: the engine builds prompts itself.
   */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Leave out special tokens (as transformers' skip_special_tokens). Default false. */
  skipSpecialTokens?: boolean;
}

/** Token ids of the model's special tokens, where the tokenizer has them. */
export interface SpecialTokenIds {
  fimPrefix?: number;
  fimSuffix?: number;
  fimMiddle?: number;
  fimPad?: number;
  repoName?: number;
  fileSep?: number;
  /** Tokens that end a chat turn (`<|im_end|>`, `<|EOT|>`, `<｜end▁of▁sentence｜>`, `<|eot_id|>`...). */
  endOfTurn: number[];
  /** The end-of-document token (`<|endoftext|>`, `<|end_of_text|>`, `</s>`), if any. */
  endOfText?: number;
  thinkStart?: number;
  thinkEnd?: number;
}

export interface EngineTokenizer {
  /** The folder it was loaded from. */
  readonly dir: string;
  /** Highest token id + 1 (base vocabulary plus added tokens). */
  readonly vocabSize: number;
  readonly bosId?: number;
  /**
   * Ids that end generation: tokenizer_config eos_token first, then generation_config.json
   * eos_token_id, then the end-of-turn and end-of-text tokens found. No duplicates.
   */
  readonly eosIds: number[];
  /** tokenizer_config add_bos_token (prompts for this model start with BOS). */
  readonly addBos: boolean;
  /** tokenizer_config add_eos_token. */
  readonly addEos: boolean;
  readonly special: SpecialTokenIds;
  /** The Jinja chat template, if the model has one ("default" of the named-template form). */
  readonly chatTemplate?: string;
  /** Texts of BOS / EOS (for chat templates that print `bos_token`). */
  readonly bosToken?: string;
  readonly eosToken?: string;
  encode(text: string, opts?: EncodeOptions): number[];
  decode(ids: readonly number[], opts?: DecodeOptions): string;
  idToToken(id: number): string | undefined;
  tokenToId(token: string): number | undefined;
  /** True for ids that decode() leaves out with skipSpecialTokens. */
  isSpecial(id: number): boolean;
}

/**
 * Texts of the special tokens, first match wins. Looked up among the added tokens of
 * tokenizer.json and tokenizer_config.json (added_tokens_decoder).
 * '｜' is U+FF5C (fullwidth vertical line) and '▁' U+2581, as in DeepSeek's tokenizers.
 */
const SPECIAL_CANDIDATES = {
  fimPrefix: ['<|fim_prefix|>', '<fim_prefix>', '<｜fim▁begin｜>', '<|fim▁begin|>', '[PREFIX]'],
  fimSuffix: ['<|fim_suffix|>', '<fim_suffix>', '<｜fim▁hole｜>', '<|fim▁hole|>', '[SUFFIX]'],
  fimMiddle: ['<|fim_middle|>', '<fim_middle>', '<｜fim▁end｜>', '<|fim▁end|>', '[MIDDLE]'],
  fimPad: ['<|fim_pad|>', '<fim_pad>'],
  repoName: ['<|repo_name|>', '<repo_name>', '<reponame>'],
  fileSep: ['<|file_sep|>', '<file_sep>'],
  endOfText: ['<|endoftext|>', '<|end_of_text|>', '</s>'],
  thinkStart: ['<think>'],
  thinkEnd: ['</think>'],
} as const;

/** All of these that exist end a turn. */
const END_OF_TURN_CANDIDATES = [
  '<|im_end|>',
  '<|EOT|>',
  '<|eot_id|>',
  '<｜end▁of▁sentence｜>',
  '<|end▁of▁sentence|>',
  '<end_of_turn>',
  '<|end|>',
];

/** The raw contents of a tokenizer folder. */
interface TokenizerFiles {
  dir: string;
  tokenizerFile: string;
  tokenizerJson: Record<string, unknown>;
  configFile: string;
  config: Record<string, unknown>;
  generationFile: string;
  generationConfig?: Record<string, unknown>;
  chatTemplateFile?: string;
}

const TOKENIZER_JSON = 'tokenizer.json';
const TOKENIZER_CONFIG = 'tokenizer_config.json';
const GENERATION_CONFIG = 'generation_config.json';
const CHAT_TEMPLATE_JINJA = 'chat_template.jinja';

/** Loads the tokenizer in `dir`. Throws EngineInputError naming the file for any problem with it. */
export async function loadTokenizer(dir: string): Promise<EngineTokenizer> {
  const abs = path.resolve(dir);
  checkDir(abs, await stat(abs).catch((e: unknown) => e as NodeJS.ErrnoException));
  const read = async (name: string, required: boolean): Promise<string | undefined> => {
    const file = path.join(abs, name);
    try {
      return await readFile(file, 'utf8');
    } catch (e) {
      return readProblem(file, e as NodeJS.ErrnoException, required);
    }
  };
  const [tok, cfg, gen, tmpl] = await Promise.all([
    read(TOKENIZER_JSON, true),
    read(TOKENIZER_CONFIG, false),
    read(GENERATION_CONFIG, false),
    read(CHAT_TEMPLATE_JINJA, false),
  ]);
  return build(parseFiles(abs, tok as string, cfg, gen, tmpl));
}

/** Synchronous loadTokenizer. */
export function loadTokenizerSync(dir: string): EngineTokenizer {
  const abs = path.resolve(dir);
  let st: import('node:fs').Stats | NodeJS.ErrnoException;
  try {
    st = statSync(abs);
  } catch (e) {
    st = e as NodeJS.ErrnoException;
  }
  checkDir(abs, st);
  const read = (name: string, required: boolean): string | undefined => {
    const file = path.join(abs, name);
    try {
      return readFileSync(file, 'utf8');
    } catch (e) {
      return readProblem(file, e as NodeJS.ErrnoException, required);
    }
  };
  const tok = read(TOKENIZER_JSON, true) as string;
  return build(
    parseFiles(abs, tok, read(TOKENIZER_CONFIG, false), read(GENERATION_CONFIG, false), read(CHAT_TEMPLATE_JINJA, false)),
  );
}

function checkDir(dir: string, st: import('node:fs').Stats | NodeJS.ErrnoException): void {
  if (st instanceof Error) {
    if (st.code === 'ENOENT' || st.code === 'ENOTDIR') {
      throw new EngineInputError(dir, 'tokenizer folder not found');
    }
    throw new EngineInputError(dir, `cannot read tokenizer folder (${st.code ?? st.message})`);
  }
  if (!st.isDirectory()) {
    throw new EngineInputError(dir, `is not a folder (expected a folder holding ${TOKENIZER_JSON})`);
  }
}

function readProblem(file: string, e: NodeJS.ErrnoException, required: boolean): undefined {
  if (e.code === 'ENOENT') {
    if (!required) return undefined;
    throw new EngineInputError(file, 'file not found (a Hugging Face tokenizer.json is required)');
  }
  if (e.code === 'EISDIR') throw new EngineInputError(file, 'is a folder, expected a file');
  throw new EngineInputError(file, `cannot read file (${e.code ?? e.message})`);
}

function parseJsonObject(file: string, text: string): Record<string, unknown> {
  if (text.startsWith('version https://git-lfs')) {
    throw new EngineInputError(file, 'is a Git LFS pointer, not the file itself (fetch it with `git lfs pull`)');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new EngineInputError(file, `invalid JSON (${(e as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new EngineInputError(file, 'invalid content: expected a JSON object');
  }
  return value as Record<string, unknown>;
}

function parseFiles(
  dir: string,
  tokenizerText: string,
  configText: string | undefined,
  generationText: string | undefined,
  chatTemplateText: string | undefined,
): TokenizerFiles {
  const tokenizerFile = path.join(dir, TOKENIZER_JSON);
  const configFile = path.join(dir, TOKENIZER_CONFIG);
  const generationFile = path.join(dir, GENERATION_CONFIG);
  const tokenizerJson = parseJsonObject(tokenizerFile, tokenizerText);
  const config = configText === undefined ? {} : parseJsonObject(configFile, configText);
  const generationConfig = generationText === undefined ? undefined : parseJsonObject(generationFile, generationText);
  return { dir, tokenizerFile, tokenizerJson, configFile, config, generationFile, generationConfig, chatTemplateFile: chatTemplateText };
}

/** A token field of tokenizer_config.json: a string, `{content: string}` (AddedToken), or null. */
function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v !== null && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') {
    return (v as { content: string }).content;
  }
  return undefined;
}

function pickChatTemplate(file: string, v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    // Named-template form: [{name: 'default', template: '...'}, {name: 'tool_use', ...}].
    const named = v.filter(
      (x): x is { name: string; template: string } =>
        x !== null && typeof x === 'object' && typeof x.name === 'string' && typeof x.template === 'string',
    );
    return (named.find((x) => x.name === 'default') ?? named[0])?.template;
  }
  throw new EngineInputError(file, 'chat_template must be a string or a list of {name, template}');
}

function build(files: TokenizerFiles): EngineTokenizer {
  const { tokenizerJson: tj, tokenizerFile, config, configFile } = files;
  if (tj.model === null || typeof tj.model !== 'object' || Array.isArray(tj.model)) {
    throw new EngineInputError(tokenizerFile, 'not a Hugging Face tokenizer.json (no "model" object)');
  }
  if (tj.added_tokens !== undefined && !Array.isArray(tj.added_tokens)) {
    throw new EngineInputError(tokenizerFile, '"added_tokens" must be a list');
  }
  // Optional parts may be absent (the Rust library reads them as null); the JS library needs the keys.
  const tokenizerSpec: Record<string, unknown> = {
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    ...tj,
    added_tokens: tj.added_tokens ?? [],
  };
  // The library reads string token fields from the config; normalise {content} objects to strings.
  const libConfig: Record<string, unknown> = { ...config };
  for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token']) {
    if (key in libConfig) libConfig[key] = tokenText(libConfig[key]) ?? null;
  }
  const additional = Array.isArray(config.additional_special_tokens)
    ? config.additional_special_tokens.map(tokenText).filter((x): x is string => x !== undefined)
    : [];
  libConfig.additional_special_tokens = additional;

  let lib: LibTokenizer;
  try {
    lib = new LibTokenizerClass(tokenizerSpec, libConfig);
  } catch (e) {
    throw new EngineInputError(tokenizerFile, `unsupported or broken tokenizer (${(e as Error).message})`);
  }
  applyDigitsOverride(lib);

  // Added tokens: tokenizer.json, then tokenizer_config added_tokens_decoder for any it lacks.
  const added = new Map<string, { id: number; special: boolean }>();
  for (const t of lib.get_added_tokens_decoder().values()) added.set(t.content, { id: t.id, special: t.special });
  const atd = config.added_tokens_decoder;
  if (atd !== null && typeof atd === 'object' && !Array.isArray(atd)) {
    for (const [idText, v] of Object.entries(atd as Record<string, unknown>)) {
      const content = tokenText(v);
      const id = Number(idText);
      if (content === undefined || !Number.isInteger(id)) continue;
      const special = (v as { special?: unknown }).special === true;
      const known = added.get(content);
      if (!known) added.set(content, { id, special });
      else if (special && !known.special) added.set(content, { id: known.id, special });
    }
  }
  const tokenToId = (s: string): number | undefined => added.get(s)?.id ?? lib.token_to_id(s);
  const findAdded = (cands: readonly string[]): number | undefined => {
    for (const c of cands) {
      const t = added.get(c);
      if (t) return t.id;
    }
    return undefined;
  };

  const special: SpecialTokenIds = { endOfTurn: [] };
  for (const [key, cands] of Object.entries(SPECIAL_CANDIDATES) as [keyof typeof SPECIAL_CANDIDATES, readonly string[]][]) {
    const id = findAdded(cands);
    if (id !== undefined) special[key] = id;
  }
  for (const c of END_OF_TURN_CANDIDATES) {
    const id = added.get(c)?.id;
    if (id !== undefined && !special.endOfTurn.includes(id)) special.endOfTurn.push(id);
  }

  const bosToken = tokenText(config.bos_token);
  const eosToken = tokenText(config.eos_token);
  const resolve = (field: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const id = tokenToId(text);
    if (id === undefined) throw new EngineInputError(configFile, `${field} "${text}" is not a token of ${TOKENIZER_JSON}`);
    return id;
  };
  const bosId = resolve('bos_token', bosToken);
  const eosId = resolve('eos_token', eosToken);

  const eosIds: number[] = [];
  const addEosId = (id: number | undefined) => {
    if (id !== undefined && !eosIds.includes(id)) eosIds.push(id);
  };
  addEosId(eosId);
  if (files.generationConfig) {
    const g = files.generationConfig.eos_token_id;
    const list = Array.isArray(g) ? g : g === undefined || g === null ? [] : [g];
    for (const x of list) {
      if (typeof x !== 'number' || !Number.isInteger(x) || x < 0) {
        throw new EngineInputError(files.generationFile, 'eos_token_id must be a token id or a list of token ids');
      }
      addEosId(x);
    }
  }
  for (const id of special.endOfTurn) addEosId(id);
  addEosId(special.endOfText);

  // Ids left out by skipSpecialTokens: as transformers' all_special_ids.
  const specialIds = new Set<number>();
  for (const t of added.values()) if (t.special) specialIds.add(t.id);
  for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token']) {
    const text = tokenText(config[key]);
    const id = text === undefined ? undefined : tokenToId(text);
    if (id !== undefined) specialIds.add(id);
  }
  for (const text of additional) {
    const id = tokenToId(text);
    if (id !== undefined) specialIds.add(id);
  }

  let maxId = -1;
  for (const id of lib.get_vocab(true).values()) if (id > maxId) maxId = id;
  for (const t of added.values()) if (t.id > maxId) maxId = t.id;

  const chatTemplate = pickChatTemplate(configFile, config.chat_template) ?? files.chatTemplateFile;

  return new HfEngineTokenizer(files.dir, lib, {
    vocabSize: maxId + 1,
    bosId,
    eosId,
    eosIds,
    addBos: config.add_bos_token === true,
    addEos: config.add_eos_token === true,
    special,
    chatTemplate,
    bosToken,
    eosToken,
    specialIds,
  });
}

interface Meta {
  vocabSize: number;
  bosId?: number;
  eosId?: number;
  eosIds: number[];
  addBos: boolean;
  addEos: boolean;
  special: SpecialTokenIds;
  chatTemplate?: string;
  bosToken?: string;
  eosToken?: string;
  specialIds: Set<number>;
}

class HfEngineTokenizer implements EngineTokenizer {
  readonly vocabSize: number;
  readonly bosId?: number;
  readonly eosIds: number[];
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly special: SpecialTokenIds;
  readonly chatTemplate?: string;
  readonly bosToken?: string;
  readonly eosToken?: string;
  readonly #eosId?: number;
  readonly #specialIds: Set<number>;

  constructor(
    readonly dir: string,
    private readonly lib: LibTokenizer,
    meta: Meta,
  ) {
    this.vocabSize = meta.vocabSize;
    this.bosId = meta.bosId;
    this.#eosId = meta.eosId;
    this.eosIds = meta.eosIds;
    this.addBos = meta.addBos;
    this.addEos = meta.addEos;
    this.special = meta.special;
    this.chatTemplate = meta.chatTemplate;
    this.bosToken = meta.bosToken;
    this.eosToken = meta.eosToken;
    this.#specialIds = meta.specialIds;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    // The library's post-processor is not used: like transformers, BOS/EOS come from
    // tokenizer_config (add_bos_token / add_eos_token), which tokenizer.json alone may not encode
    // (DeepSeek-Coder's tokenizer.json has a ByteLevel post-processor that adds nothing).
    const ids = text.length === 0 ? [] : this.lib.encode(text, { add_special_tokens: false }).ids;
    for (const id of ids) {
      if (id === undefined) {
        throw new Error(`${this.dir}: text has a piece that is not in the vocabulary and there is no unk token`);
      }
    }
    if (opts.addSpecialTokens) {
      if (this.addBos && this.bosId !== undefined) ids.unshift(this.bosId);
      if (this.addEos && this.#eosId !== undefined) ids.push(this.#eosId);
    }
    return ids;
  }

  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const list = opts.skipSpecialTokens ? ids.filter((id) => !this.#specialIds.has(id)) : [...ids];
    if (list.length === 0) return '';
    // No clean_up_tokenization_spaces: it rewrites " ." / " ," etc., which corrupts code, and it
    // would make decoding depend on context (the stream decoder relies on prefix stability).
    // Ids outside the vocabulary decode to nothing.
    return this.lib.decode(list, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  }

  idToToken(id: number): string | undefined {
    return this.lib.id_to_token(id);
  }

  tokenToId(token: string): number | undefined {
    return this.lib.token_to_id(token);
  }

  isSpecial(id: number): boolean {
    return this.#specialIds.has(id);
  }
}
