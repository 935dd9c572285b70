/**
 * Fill-in-the-middle (code completion at the cursor) prompts.
 *
 * The layout is chosen from the tokenizer's own FIM tokens (which texts its vocabulary has), never
 * from the model name: fine-tunes and merges keep their base model's tokens but not its name.
 *
 * | family         | FIM tokens (as in the tokenizer)                   | layout                          |
 * | -------------- | -------------------------------------------------- | ------------------------------- |
 * | deepseek-coder | `<｜fim▁begin｜>` `<｜fim▁hole｜>` `<｜fim▁end｜>`      | BOS begin P hole S end          |
 * | qwen-coder     | `<|fim_prefix|>` `<|fim_suffix|>` `<|fim_middle|>`  | pre P suf S mid (+ repo form)   |
 * | starcoder      | `<fim_prefix>` `<fim_suffix>` `<fim_middle>`        | pre P suf S mid (+ repo form)   |
 * | codestral      | `[PREFIX]` `[SUFFIX]`                              | BOS [SUFFIX] S [PREFIX] P       |
 *
 * DeepSeek-Coder V1 and V2 use the same token texts (different ids; V2 has its own vocabulary),
 * and the ASCII-bar spelling `<|fim▁begin|>` some conversions use is accepted too. Qwen3-Coder
 * keeps Qwen2.5-Coder's tokens. StarCoder (1) has `<fim_*>` but no `<file_sep>`: no repo form.
 *
 * Special tokens go in as their single ids; all user text (code, paths, repo name) is encoded as
 * plain text (plain-text.ts), so a file that contains a FIM token's text cannot inject it. The
 * text between two special tokens is encoded in one piece, as in training.
 *
 * Cache-friendliness: what changes least comes first. Related files (and the repo name, the path)
 * lead, then the prefix, so a prompt for the next keystroke shares every token up to the cursor
 * with the last one, and a KV cache keyed on the token prefix can be reused to there. In the PSM
 * formats (DeepSeek, Qwen, StarCoder: trained prefix-suffix-middle only) the suffix follows the
 * prefix and is recomputed; Codestral puts the suffix first, so there typing changes only the tail
 * but moving the cursor changes everything.
 */
import type { EngineTokenizer } from '../tokenizer/tokenizer.ts';
import { encodePlainText } from './plain-text.ts';

export type FimFamily = 'deepseek-coder' | 'qwen-coder' | 'starcoder' | 'codestral';

export interface FimFormat {
  readonly family: FimFamily;
  readonly tokenizer: EngineTokenizer;
  /** 'psm': prefix, suffix, middle. 'spm': suffix first, generation continues the prefix (Codestral). */
  readonly order: 'psm' | 'spm';
  readonly ids: {
    readonly prefix: number;
    readonly suffix: number;
    /** Absent for Codestral, whose completion simply continues after the prefix. */
    readonly middle?: number;
    /** Repository-level tokens, where the family has them (Qwen, StarCoder2). */
    readonly repoName?: number;
    readonly fileSep?: number;
  };
  /** BOS to put first (the tokenizer adds BOS: DeepSeek, Codestral), else undefined. */
  readonly bos?: number;
  /**
   * Ids that end a completion: the tokenizer's EOS ids and end-of-text, and every FIM / repo /
   * file token (a model that emits `<|file_sep|>` has finished this file and started another).
   */
  readonly stopIds: readonly number[];
}

export interface FimRelatedFile {
  /** Path as the model should see it (relative to the workspace). */
  path: string;
  text: string;
}

export interface FimRequest {
  /** Text before the cursor. */
  prefix: string;
  /** Text after the cursor. */
  suffix: string;
  /** Other files for context, least relevant first (the nearest ends up next to the cursor). */
  relatedFiles?: FimRelatedFile[];
  repoName?: string;
  /** The current file's path. */
  filePath?: string;
  /**
   * Line-comment marker of the current language, to label related files in formats without a
   * file-separator token (`# path`, as DeepSeek-Coder's repository-level examples). Default '#'.
   */
  lineComment?: string;
}

export interface FimPrompt {
  ids: number[];
  /** The same prompt as text (special tokens as their text), for logs. */
  text: string;
}

interface FamilyDef {
  family: FimFamily;
  order: 'psm' | 'spm';
  /** Texts of the FIM prefix token that identify the family. */
  prefixTexts: string[];
  /** Texts its repo-level tokens must have to be used (else no repo form). */
  repoName?: string;
  fileSep?: string;
}

const FAMILIES: FamilyDef[] = [
  { family: 'deepseek-coder', order: 'psm', prefixTexts: ['<｜fim▁begin｜>', '<|fim▁begin|>'] },
  {
    family: 'qwen-coder',
    order: 'psm',
    prefixTexts: ['<|fim_prefix|>'],
    repoName: '<|repo_name|>',
    fileSep: '<|file_sep|>',
  },
  { family: 'starcoder', order: 'psm', prefixTexts: ['<fim_prefix>'], repoName: '<repo_name>', fileSep: '<file_sep>' },
  { family: 'codestral', order: 'spm', prefixTexts: ['[PREFIX]'] },
];

/** The FIM layout of this tokenizer's model, or null when it has no FIM tokens we know. */
export function detectFimFormat(tok: EngineTokenizer): FimFormat | null {
  const s = tok.special;
  if (s.fimPrefix === undefined || s.fimSuffix === undefined) return null;
  const prefixText = tok.idToToken(s.fimPrefix);
  const def = FAMILIES.find((f) => prefixText !== undefined && f.prefixTexts.includes(prefixText));
  if (!def) return null;
  if (def.order === 'psm' && s.fimMiddle === undefined) return null;

  // Repo form only with this family's own file separator (StarCoder 1 has `<reponame>` but none).
  const own = (id: number | undefined, text: string | undefined) =>
    id !== undefined && text !== undefined && tok.idToToken(id) === text ? id : undefined;
  const fileSep = own(s.fileSep, def.fileSep);
  const repoName = fileSep === undefined ? undefined : own(s.repoName, def.repoName);

  const stop: number[] = [];
  const add = (id: number | undefined) => {
    if (id !== undefined && !stop.includes(id)) stop.push(id);
  };
  for (const id of tok.eosIds) add(id);
  add(s.endOfText);
  for (const id of [s.fimPrefix, s.fimSuffix, s.fimMiddle, s.fimPad, s.repoName, s.fileSep]) add(id);

  return {
    family: def.family,
    tokenizer: tok,
    order: def.order,
    ids: { prefix: s.fimPrefix, suffix: s.fimSuffix, middle: s.fimMiddle, repoName, fileSep },
    bos: tok.addBos ? tok.bosId : undefined,
    stopIds: stop,
  };
}

/** A prompt under construction: special ids and user text, in order. */
type Part = { id: number } | { text: string; noWordStart?: boolean };

// fim-text.ts writes the same layouts as text for remote servers; keep the two in step.
/** Builds the FIM prompt for `req` in format `fmt` (see the file comment for the layouts). */
export function buildFimPrompt(fmt: FimFormat, req: FimRequest): FimPrompt {
  const parts: Part[] = [];
  const id = (x: number) => parts.push({ id: x });
  const text = (t: string) => parts.push({ text: t });
  const related = req.relatedFiles ?? [];
  const { ids } = fmt;

  if (fmt.bos !== undefined) id(fmt.bos);
  const repoForm =
    ids.fileSep !== undefined && (related.length > 0 || req.repoName !== undefined || req.filePath !== undefined);

  if (repoForm && fmt.family === 'qwen-coder') {
    // Qwen2.5-Coder report: <|repo_name|>name\n<|file_sep|>path\ncontent\n...<|file_sep|>path\n<|fim_prefix|>...
    if (req.repoName !== undefined && ids.repoName !== undefined) {
      id(ids.repoName);
      text(`${req.repoName}\n`);
    }
    for (const f of related) {
      id(ids.fileSep!);
      text(`${f.path}\n${f.text}\n`);
    }
    id(ids.fileSep!);
    if (req.filePath !== undefined) text(`${req.filePath}\n`);
    id(ids.prefix);
    text(req.prefix);
    id(ids.suffix);
    text(req.suffix);
    id(ids.middle!);
  } else if (repoForm) {
    // StarCoder2 paper: <repo_name>name<file_sep>path\ncode<file_sep><fim_prefix>path\nprefix<fim_suffix>...
    if (req.repoName !== undefined && ids.repoName !== undefined) {
      id(ids.repoName);
      text(req.repoName);
    }
    for (const f of related) {
      id(ids.fileSep!);
      text(`${f.path}\n${f.text}`);
    }
    id(ids.fileSep!);
    id(ids.prefix);
    text((req.filePath !== undefined ? `${req.filePath}\n` : '') + req.prefix);
    id(ids.suffix);
    text(req.suffix);
    id(ids.middle!);
  } else {
    // No file tokens: related files lead the prefix as plain text, each under a path comment.
    const mark = req.lineComment ?? '#';
    let context = related.map((f) => `${mark} ${f.path}\n${f.text}\n`).join('');
    if (related.length > 0 && req.filePath !== undefined) context += `${mark} ${req.filePath}\n`;
    if (fmt.order === 'psm') {
      id(ids.prefix);
      text(context + req.prefix);
      id(ids.suffix);
      text(req.suffix);
      id(ids.middle!);
    } else {
      // mistral-common's encode_fim: [BOS][SUFFIX]suffix[PREFIX]prefix, the suffix without the
      // sentencepiece word-start '▁' a fresh encode adds, the prefix with it.
      id(ids.suffix);
      parts.push({ text: req.suffix, noWordStart: true });
      id(ids.prefix);
      text(context + req.prefix);
    }
  }
  return assemble(fmt.tokenizer, parts);
}

function assemble(tok: EngineTokenizer, parts: Part[]): FimPrompt {
  const ids: number[] = [];
  let text = '';
  for (const p of parts) {
    if ('id' in p) {
      ids.push(p.id);
      text += tok.idToToken(p.id) ?? '';
    } else if (p.text.length > 0) {
      ids.push(...encodePlainText(tok, p.text, { wordStart: !p.noWordStart }));
      text += p.text;
    }
  }
  return { ids, text };
}
