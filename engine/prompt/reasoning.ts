/**
 * Splits a streamed DeepSeek-R1-style answer into reasoning and content: text between `<think>`
 * and `</think>` is reasoning, the rest content. Deltas arrive as decoded text, so a tag may be cut
 * anywhere ('<th' + 'ink>'); text that could still be the start of a tag is held back until the
 * next delta (or flush()) shows what it is, so a partial tag is never emitted.
 *
 * One reasoning block per answer, as these models write it: after `</think>` everything is
 * content, tags included (an answer may well talk about `<think>`). Before it, `<think>` opens
 * reasoning wherever it appears. Templates that open `<think>` in the prompt (DeepSeek-R1's later
 * ones, Qwen3 with thinking forced) need `startInReasoning`. Whitespace around the tags is kept;
 * trimming is the caller's choice.
 */

export interface ReasoningDelta {
  reasoning?: string;
  content?: string;
}

export interface ReasoningSplitterOptions {
  /** The output starts inside a reasoning block (the prompt ended with the open tag). */
  startInReasoning?: boolean;
  /**
   * The prompt already closed the reasoning block (DeepSeek-V4's non-thinking turns open with
   * `</think>`): all output is content, a `<think>` in it too.
   */
  reasoningClosed?: boolean;
  /** Default '<think>'. */
  openTag?: string;
  /** Default '</think>'. */
  closeTag?: string;
}

export class ReasoningSplitter {
  readonly #open: string;
  readonly #close: string;
  #inReasoning: boolean;
  /** A reasoning block has been closed: no more are recognised. */
  #done = false;
  /** Text held back because it may be the start of a tag. */
  #held = '';

  constructor(opts: ReasoningSplitterOptions = {}) {
    this.#open = opts.openTag ?? '<think>';
    this.#close = opts.closeTag ?? '</think>';
    if (this.#open.length === 0 || this.#close.length === 0) throw new Error('reasoning tags must not be empty');
    this.#inReasoning = opts.startInReasoning ?? false;
    this.#done = opts.reasoningClosed ?? false;
    if (this.#inReasoning && this.#done) throw new Error('startInReasoning and reasoningClosed exclude each other');
  }

  /** Whether text now goes to reasoning. */
  get inReasoning(): boolean {
    return this.#inReasoning;
  }

  /**
   * Feeds the next text delta. Returns what can be emitted now, in order, each delta with exactly
   * one of reasoning / content (adjacent ones of a kind merged); empty when all is held back.
   */
  push(text: string): ReasoningDelta[] {
    const out: ReasoningDelta[] = [];
    let buf = this.#held + text;
    this.#held = '';
    while (buf.length > 0) {
      if (this.#done) {
        emit(out, 'content', buf);
        break;
      }
      const tag = this.#inReasoning ? this.#close : this.#open;
      const kind = this.#inReasoning ? 'reasoning' : 'content';
      const at = buf.indexOf(tag);
      if (at >= 0) {
        emit(out, kind, buf.slice(0, at));
        buf = buf.slice(at + tag.length);
        if (this.#inReasoning) this.#done = true;
        this.#inReasoning = !this.#inReasoning;
        continue;
      }
      const keep = partialTagLength(buf, tag);
      emit(out, kind, buf.slice(0, buf.length - keep));
      this.#held = buf.slice(buf.length - keep);
      break;
    }
    return out;
  }

  /** End of the stream: held-back text was not a tag after all; emit it where it belongs. */
  flush(): ReasoningDelta[] {
    const out: ReasoningDelta[] = [];
    emit(out, this.#inReasoning ? 'reasoning' : 'content', this.#held);
    this.#held = '';
    return out;
  }
}

/** Length of the longest end of `buf` that is a proper beginning of `tag`. */
function partialTagLength(buf: string, tag: string): number {
  for (let n = Math.min(buf.length, tag.length - 1); n > 0; n--) {
    if (buf.endsWith(tag.slice(0, n))) return n;
  }
  return 0;
}

function emit(out: ReasoningDelta[], kind: 'reasoning' | 'content', text: string): void {
  if (text.length === 0) return;
  const last = out[out.length - 1];
  if (last !== undefined && last[kind] !== undefined) last[kind] += text;
  else out.push({ [kind]: text });
}

/**
 * Whether a rendered chat prompt leaves the model inside a reasoning block (it ends with the open
 * tag, as DeepSeek-R1's later templates and Qwen3's forced thinking do): the value for
 * `startInReasoning`.
 */
export function promptOpensReasoning(promptText: string, openTag = '<think>'): boolean {
  return promptText.trimEnd().endsWith(openTag);
}
