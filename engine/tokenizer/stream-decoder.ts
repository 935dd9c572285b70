/**
 * Incremental detokenisation: feed generated token ids one at a time, get back only the new text.
 *
 * Same scheme as Hugging Face text-generation-inference (`decode_token`) and transformers'
 * TextStreamer: keep a small window of ids, `prefix` (already emitted; kept only as context) and
 * `pending` (not yet emitted). For each new id, decode prefix and prefix+pending and emit the
 * difference. Decoding with context matters because a token's text can depend on its neighbours:
 *  - SentencePiece/Metaspace decoders drop the leading space of the *first* token only, so
 *    decoding a token alone would lose the space between words;
 *  - byte-level BPE tokens can hold part of a multi-byte UTF-8 character; decoding them gives
 *    U+FFFD until the rest arrives. While the new text ends in U+FFFD we hold back and emit once
 *    the character is complete.
 * After emitting, the ids just emitted become the new prefix, so each push decodes only a few
 * tokens: O(1) amortised per token, never the whole sequence.
 */
import type { EngineTokenizer } from './tokenizer.ts';

export interface StreamDecoderOptions {
  /** Leave out special tokens (default false). */
  skipSpecialTokens?: boolean;
  /**
   * Ids that come before the generated ones (e.g. the last few prompt tokens), used only as
   * decoding context for the first generated token; never emitted.
   */
  contextIds?: readonly number[];
  /**
   * Longest run of ids held back waiting for a character to complete, after which the text is
   * emitted as is (with U+FFFD for bytes that are really invalid). A UTF-8 character is at most 4
   * bytes, so complete characters never need more. Default 8.
   */
  maxPending?: number;
}

const REPLACEMENT = '\uFFFD';

export class StreamDecoder {
  readonly #tok: EngineTokenizer;
  readonly #skipSpecial: boolean;
  readonly #maxPending: number;
  /** Ids already emitted, kept as decoding context (at most the last emitted group). */
  #prefix: number[];
  /** decode(#prefix), cached. */
  #prefixText: string;
  /** Ids pushed but not emitted yet. */
  #pending: number[] = [];

  constructor(tok: EngineTokenizer, opts: StreamDecoderOptions = {}) {
    this.#tok = tok;
    this.#skipSpecial = opts.skipSpecialTokens ?? false;
    this.#maxPending = Math.max(1, opts.maxPending ?? 8);
    // Context longer than a few tokens adds nothing but cost.
    this.#prefix = [...(opts.contextIds ?? [])].slice(-4);
    this.#prefixText = this.#decode(this.#prefix);
  }

  /** Adds one generated id; returns the text that is now complete (often '', never half a character). */
  push(id: number): string {
    this.#pending.push(id);
    const text = this.#decode(this.#prefix.concat(this.#pending));
    const complete = text.length > this.#prefixText.length && !text.endsWith(REPLACEMENT);
    if (!complete && this.#pending.length < this.#maxPending) return '';
    return this.#emit(text);
  }

  /** Ends the stream: returns whatever is still held back (possibly with U+FFFD) and resets. */
  flush(): string {
    if (this.#pending.length === 0) return '';
    const out = this.#emit(this.#decode(this.#prefix.concat(this.#pending)));
    this.#prefix = [];
    this.#prefixText = '';
    return out;
  }

  #emit(text: string): string {
    // Decoding is prefix-stable for the decoders used here (text starts with #prefixText), so the
    // new text is the tail; like TGI, slice by length.
    const out = text.slice(this.#prefixText.length);
    this.#prefix = this.#pending;
    this.#pending = [];
    this.#prefixText = this.#decode(this.#prefix);
    return out;
  }

  #decode(ids: readonly number[]): string {
    return ids.length === 0 ? '' : this.#tok.decode(ids, { skipSpecialTokens: this.#skipSpecial });
  }
}
