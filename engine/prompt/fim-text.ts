/**
 * Fill-in-the-middle prompts as text, for servers that tokenize the prompt themselves (vLLM,
 * SGLang, llama.cpp's server read special-token texts in a prompt as the tokens): the same layouts
 * as buildFimPrompt in fim.ts, with each special token written as its text. A server then gets the
 * token ids buildFimPrompt would have built (test/engine/prompt/fim-text.test.ts checks this with
 * the real tokenizers; keep the two in step). BOS is left out: those servers add it themselves.
 *
 * Unlike buildFimPrompt, a file that contains a FIM token's literal text reaches the server as
 * that token: the server parses the whole prompt. Every FIM client that sends text has this limit.
 */
import type { FimFamily, FimRequest } from './fim.ts';

export interface FimTextTokens {
  prefix: string;
  suffix: string;
  /** Absent for Codestral (suffix first, the completion continues the prefix). */
  middle?: string;
  repoName?: string;
  fileSep?: string;
}

export interface FimTextLayout {
  family: FimFamily;
  order: 'psm' | 'spm';
  tokens: FimTextTokens;
  /** Texts that end a completion: the FIM, repo and file tokens and the family's end-of-text tokens. */
  stop: string[];
}

export interface FimTextFamily {
  family: FimFamily;
  order: 'psm' | 'spm';
  /** Spellings of the FIM tokens, the usual first (DeepSeek: full-width bars, or ASCII bars in some conversions). */
  spellings: FimTextTokens[];
  /** End-of-text tokens of the family's tokenizers, stop strings beside the FIM tokens. */
  endTexts: string[];
}

/** The layouts the engine knows (fim.ts), with their token texts (tokenizer.ts's candidates). */
export const FIM_TEXT_FAMILIES: readonly FimTextFamily[] = [
  {
    family: 'deepseek-coder',
    order: 'psm',
    spellings: [
      { prefix: '<｜fim▁begin｜>', suffix: '<｜fim▁hole｜>', middle: '<｜fim▁end｜>' },
      { prefix: '<|fim▁begin|>', suffix: '<|fim▁hole|>', middle: '<|fim▁end|>' },
    ],
    endTexts: ['<｜end▁of▁sentence｜>', '<|EOT|>'],
  },
  {
    family: 'qwen-coder',
    order: 'psm',
    spellings: [{ prefix: '<|fim_prefix|>', suffix: '<|fim_suffix|>', middle: '<|fim_middle|>', repoName: '<|repo_name|>', fileSep: '<|file_sep|>' }],
    endTexts: ['<|endoftext|>', '<|fim_pad|>', '<|im_end|>'],
  },
  {
    family: 'starcoder',
    order: 'psm',
    spellings: [{ prefix: '<fim_prefix>', suffix: '<fim_suffix>', middle: '<fim_middle>', repoName: '<repo_name>', fileSep: '<file_sep>' }],
    endTexts: ['<|endoftext|>', '<fim_pad>'],
  },
  { family: 'codestral', order: 'spm', spellings: [{ prefix: '[PREFIX]', suffix: '[SUFFIX]' }], endTexts: ['</s>'] },
];

/**
 * The layout of `family` with `spelling` (default the family's usual one, repo tokens included);
 * detection passes the spelling the served tokenizer has, without the repo tokens it lacks.
 */
export function fimTextLayout(family: FimFamily, spelling?: FimTextTokens): FimTextLayout {
  const def = FIM_TEXT_FAMILIES.find((f) => f.family === family);
  if (!def) throw new Error(`no text FIM layout for '${family}'`);
  const tokens = spelling ?? def.spellings[0]!;
  const stop = [tokens.prefix, tokens.suffix, tokens.middle, tokens.repoName, tokens.fileSep, ...def.endTexts].filter((t): t is string => t !== undefined);
  return { family, order: def.order, tokens, stop: [...new Set(stop)] };
}

/** The FIM prompt for `req` as text, laid out as buildFimPrompt lays out ids (see fim.ts). */
export function buildFimText(layout: FimTextLayout, req: FimRequest): string {
  const t = layout.tokens;
  const related = req.relatedFiles ?? [];
  const repoForm = t.fileSep !== undefined && (related.length > 0 || req.repoName !== undefined || req.filePath !== undefined);
  let out = '';
  if (repoForm && layout.family === 'qwen-coder') {
    if (req.repoName !== undefined && t.repoName !== undefined) out += `${t.repoName}${req.repoName}\n`;
    for (const f of related) out += `${t.fileSep}${f.path}\n${f.text}\n`;
    out += t.fileSep;
    if (req.filePath !== undefined) out += `${req.filePath}\n`;
    return `${out}${t.prefix}${req.prefix}${t.suffix}${req.suffix}${t.middle}`;
  }
  if (repoForm) {
    if (req.repoName !== undefined && t.repoName !== undefined) out += `${t.repoName}${req.repoName}`;
    for (const f of related) out += `${t.fileSep}${f.path}\n${f.text}`;
    const path = req.filePath !== undefined ? `${req.filePath}\n` : '';
    return `${out}${t.fileSep}${t.prefix}${path}${req.prefix}${t.suffix}${req.suffix}${t.middle}`;
  }
  const mark = req.lineComment ?? '#';
  let context = related.map((f) => `${mark} ${f.path}\n${f.text}\n`).join('');
  if (related.length > 0 && req.filePath !== undefined) context += `${mark} ${req.filePath}\n`;
  if (layout.order === 'psm') return `${t.prefix}${context}${req.prefix}${t.suffix}${req.suffix}${t.middle ?? ''}`;
  return `${t.suffix}${req.suffix}${t.prefix}${context}${req.prefix}`;
}
