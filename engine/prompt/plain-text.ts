/**
 * Encoding user text (file contents, paths) as plain text, never as control tokens.
 *
 * The tokenizer matches added tokens anywhere in the text it is given, so a source file that
 * contains the literal text `<|fim_prefix|>` (this repository's own tests do) would otherwise
 * become the FIM control id and corrupt the prompt. Here every occurrence of a control token's
 * text is cut in two before encoding, so the added-token matcher never sees it whole.
 *
 * Where it is cut: right after the token's first run of letters (`<|fim` | `_prefix|>`,
 * `<｜fim` | `▁begin｜>`, `[PREFIX` | `]`). The pre-tokenizers of the code-model families here
 * (GPT-2/StarCoder, Qwen2, DeepSeek-Coder) always split a letter run from a following non-letter,
 * and BPE never merges across a pre-token boundary, so the ids equal what the tokenizer would give
 * the literal as ordinary text (transformers' split_special_tokens=True).
 */
import type { EngineTokenizer } from '../tokenizer/tokenizer.ts';

/** Control-token texts of a tokenizer, longest first (cached per tokenizer). */
const cache = new WeakMap<EngineTokenizer, readonly string[]>();

/**
 * Texts of the tokens user text must not turn into: every special token (BOS/EOS/pad, chat
 * markers, anything the tokenizer files mark special) plus the FIM / repo / file / think / end of
 * turn tokens found by the tokenizer, which some tokenizers (DeepSeek-Coder, Qwen2.5) do not mark
 * special. Single characters are left out: they cannot be split, and such added tokens (DeepSeek's
 * 'õ', 'ü'...) are ordinary text.
 */
export function controlTokenTexts(tok: EngineTokenizer): readonly string[] {
  const hit = cache.get(tok);
  if (hit) return hit;
  const ids = new Set<number>();
  // EngineTokenizer does not list its added tokens; isSpecial() over all ids finds the special ones.
  for (let id = 0; id < tok.vocabSize; id++) if (tok.isSpecial(id)) ids.add(id);
  const s = tok.special;
  for (const id of [s.fimPrefix, s.fimSuffix, s.fimMiddle, s.fimPad, s.repoName, s.fileSep, s.endOfText]) {
    if (id !== undefined) ids.add(id);
  }
  for (const id of [s.thinkStart, s.thinkEnd, tok.bosId, ...s.endOfTurn, ...tok.eosIds]) {
    if (id !== undefined) ids.add(id);
  }
  const texts = new Set<string>();
  for (const id of ids) {
    const t = tok.idToToken(id);
    if (t !== undefined && [...t].length > 1) texts.add(t);
  }
  const list = [...texts].sort((a, b) => b.length - a.length);
  cache.set(tok, list);
  return list;
}

/** Where to cut a control token's text: after its first letter run (see the file comment). */
function cutOffset(literal: string): number {
  const m = /\p{L}+/u.exec(literal);
  if (m) {
    const end = m.index + m[0].length;
    if (end < literal.length) return end;
    if (m.index > 0) return m.index;
  }
  // No letters (or all letters): cut after the first code point.
  return literal.codePointAt(0)! > 0xffff ? 2 : 1;
}

/** Splits `text` so that no piece contains a whole control-token text. */
export function splitControlLiterals(text: string, literals: readonly string[]): string[] {
  let at = -1;
  let len = 0;
  for (const lit of literals) {
    const i = text.indexOf(lit);
    if (i >= 0 && (at < 0 || i < at || (i === at && lit.length > len))) {
      at = i;
      len = lit.length;
    }
  }
  if (at < 0) return [text];
  // Both halves are strictly shorter than text, so this ends.
  const cut = at + cutOffset(text.slice(at, at + len));
  return [...splitControlLiterals(text.slice(0, cut), literals), ...splitControlLiterals(text.slice(cut), literals)];
}

export interface PlainTextOptions {
  /**
   * Let the tokenizer put its word-start marker before the text as a fresh encode() does
   * (sentencepiece-style tokenizers: '▁'). False for text that continues other text, such as
   * Codestral's FIM suffix. Default true. No effect on tokenizers without such a marker.
   */
  wordStart?: boolean;
}

/**
 * Token ids of `text` as plain text: no control token is ever produced from it.
 *
 * With sentencepiece-style tokenizers each encode() call starts with '▁', so the pieces after a
 * cut are encoded without it; there BPE may merge across the cut, so a literal control-token text
 * can tokenize differently from the uncut text (it still never becomes the control id).
 */
export function encodePlainText(tok: EngineTokenizer, text: string, opts: PlainTextOptions = {}): number[] {
  if (text.length === 0) return [];
  const out: number[] = [];
  splitControlLiterals(text, controlTokenTexts(tok)).forEach((piece, i) => {
    out.push(...(i === 0 && opts.wordStart !== false ? tok.encode(piece) : encodeContinued(tok, piece)));
  });
  return out;
}

const markerCache = new WeakMap<EngineTokenizer, boolean>();

/** True when encode() puts a word-start marker before the text (sentencepiece / Metaspace). */
function addsWordStartMarker(tok: EngineTokenizer): boolean {
  let hit = markerCache.get(tok);
  if (hit === undefined) {
    const first = tok.encode('a')[0];
    const t = first === undefined ? undefined : tok.idToToken(first);
    hit = t !== undefined && (t.startsWith('\u2581') || t.startsWith('\u0120'));
    markerCache.set(tok, hit);
  }
  return hit;
}

/**
 * encode() without the word-start marker, as mistral-common encodes a FIM suffix: encode
 * '☺' + text and drop the ids of '☺' (checked; else the plain encoding).
 */
function encodeContinued(tok: EngineTokenizer, text: string): number[] {
  if (!addsWordStartMarker(tok)) return tok.encode(text);
  const head = tok.encode('\u263a');
  const ids = tok.encode('\u263a' + text);
  return head.every((x, i) => ids[i] === x) ? ids.slice(head.length) : tok.encode(text);
}
