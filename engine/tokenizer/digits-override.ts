/**
 * Override of one step of @huggingface/tokenizers: the `Digits` pre-tokenizer.
 *
 * Why: @huggingface/tokenizers 0.2.0 builds Digits from `[^\d]+|\d` (or `\d+`), and in a JS regex
 * `\d` is ASCII 0-9 only, even with the `u` flag. The Rust `tokenizers` crate, whose output the
 * models were trained on, splits with `char::is_numeric` (pre_tokenizers/digits.rs), i.e. every
 * character of the Unicode general categories Nd, Nl and No: '½', '²', '٣' (Arabic-Indic), '𝟙'...
 * With the ASCII-only version, DeepSeek-Coder's pre-tokenizer keeps ' ½' as one piece instead of
 * ' ' + '½', so 'ied 4 ½ months' gets different ids than Hugging Face (one of llama.cpp's test
 * vectors). JS `\p{N}` is exactly Nd + Nl + No, so we swap the splitting of each Digits instance
 * for one built on `\p{N}` and keep the library for everything else (no fork).
 *
 * Semantics of the Rust version:
 *  - individual_digits = true  -> SplitDelimiterBehavior::Isolated: every numeric char is its own
 *    piece ('a12' -> 'a', '1', '2');
 *  - individual_digits = false -> SplitDelimiterBehavior::Contiguous: a run of numeric chars is one
 *    piece ('a12' -> 'a', '12').
 *  Non-numeric runs stay whole; no empty pieces; a piece is a sequence of whole code points.
 */
import * as hf from '@huggingface/tokenizers';

/**
 * The parts of the library used here, typed locally: the package's .d.ts files use extensionless
 * relative imports, which do not resolve under NodeNext, so apart from `Tokenizer` (typed `any`)
 * its named exports are invisible to TypeScript although they exist at run time.
 */
export interface LibPreTokenizer {
  pre_tokenize_text(text: string, options?: unknown): string[];
}
export interface LibDigitsPreTokenizer extends LibPreTokenizer {
  config: { type: 'Digits'; individual_digits?: boolean };
  pattern: RegExp;
}
interface LibSequencePreTokenizer extends LibPreTokenizer {
  tokenizers: (LibPreTokenizer | null)[];
}
/** The library's Digits pre-tokenizer class (exported for tests). */
export const DigitsPreTokenizer = (hf as unknown as {
  DigitsPreTokenizer: new (config: { type: 'Digits'; individual_digits?: boolean }) => LibDigitsPreTokenizer;
}).DigitsPreTokenizer;

const ISOLATED = /[^\p{N}]+|\p{N}/gu;
const CONTIGUOUS = /[^\p{N}]+|\p{N}+/gu;

/** Splits `text` the way the Rust `Digits` pre-tokenizer does (Unicode numerics). */
export function splitDigits(text: string, individualDigits: boolean): string[] {
  // String.prototype.match with a /g regex restarts at lastIndex 0, so sharing the regex is safe.
  return text.match(individualDigits ? ISOLATED : CONTIGUOUS) ?? [];
}

/** Marker so that patching twice is harmless and tests can see that the override is in place. */
const PATCHED = Symbol.for('switchyard.digitsOverride');

type Patched = LibDigitsPreTokenizer & { [PATCHED]?: true };

function isDigits(pre: object): pre is LibDigitsPreTokenizer {
  // Duck-typed rather than instanceof: the package ships separate CJS and ESM builds, and an
  // instance from one is not an instance of the other's class.
  const config = (pre as { config?: { type?: unknown } }).config;
  return config !== null && typeof config === 'object' && config.type === 'Digits';
}

function isSequence(pre: object): pre is LibSequencePreTokenizer {
  return Array.isArray((pre as { tokenizers?: unknown }).tokenizers);
}

/**
 * Replaces the splitting of one Digits pre-tokenizer instance (own property, so the shared class
 * prototype is untouched). Returns true if it was patched now, false if it already was.
 */
export function patchDigitsPreTokenizer(pre: LibDigitsPreTokenizer): boolean {
  const target = pre as Patched;
  if (target[PATCHED]) return false;
  const individual = pre.config.individual_digits === true;
  const pattern = individual ? ISOLATED : CONTIGUOUS;
  // Keep the library's `pattern` field consistent for anyone who reads it...
  pre.pattern = new RegExp(pattern.source, pattern.flags);
  // ...and do not depend on it: the step itself is ours.
  pre.pre_tokenize_text = (text: string): string[] => splitDigits(text, individual);
  target[PATCHED] = true;
  return true;
}

/** True if `pre` is a Digits pre-tokenizer carrying this override. */
export function isDigitsOverridden(pre: LibDigitsPreTokenizer): boolean {
  return (pre as Patched)[PATCHED] === true;
}

/**
 * Finds every Digits pre-tokenizer in a pre-tokenizer tree (nested Sequences included) and
 * patches it. Returns the number of Digits steps found (patched now or before).
 */
export function overrideDigitsInPreTokenizer(pre: unknown): number {
  if (pre === null || (typeof pre !== 'object' && typeof pre !== 'function')) return 0;
  // (Library objects are "callable" class instances, i.e. functions.)
  if (isDigits(pre)) {
    patchDigitsPreTokenizer(pre);
    return 1;
  }
  if (isSequence(pre)) {
    let n = 0;
    for (const child of pre.tokenizers) n += overrideDigitsInPreTokenizer(child);
    return n;
  }
  return 0;
}

/**
 * Applies the override to a constructed @huggingface/tokenizers `Tokenizer`.
 * Returns the number of Digits steps found.
 */
export function applyDigitsOverride(tokenizer: { pre_tokenizer: unknown }): number {
  return overrideDigitsInPreTokenizer(tokenizer.pre_tokenizer);
}
