/**
 * A server-sent-events parser (the WHATWG "event stream" format) for streamed OpenAI-style answers.
 *
 * Hand-written because no maintained SSE library is installed (the `openai` package has one, but
 * as an internal module, not a public API) and adding a dependency for ~80 lines is not worth it.
 * It takes decoded text in arbitrary pieces (a line, a field or a CRLF pair may be cut anywhere)
 * and returns the events completed so far. Follows the spec's line rules (LF, CRLF or CR; `:`
 * comments; one optional space after the colon; multi-line `data` joined with LF; a leading BOM),
 * with one deliberate leniency: end() dispatches an event that the stream closed without its blank
 * line, because some servers end with `data: [DONE]\n` and nothing after it.
 */

export interface SseEvent {
  /** The `event:` field, 'message' when absent. */
  event: string;
  data: string;
  /** The `id:` field of this event, when it had one. */
  id?: string;
}

export class SseParser {
  /** Text of the current, unfinished line. */
  #line = '';
  #data: string[] = [];
  #event = '';
  #id: string | undefined;
  /** The last piece ended with CR: a LF starting the next piece belongs to the same line break. */
  #skipLf = false;
  #started = false;

  /** Feeds the next piece of decoded text; returns the events it completed, in order. */
  push(text: string): SseEvent[] {
    if (!this.#started && text.length > 0) {
      this.#started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.#skipLf && text.charCodeAt(0) === 10) text = text.slice(1);
    this.#skipLf = false;
    const out: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.#processLine(this.#line + text.slice(start, i), out);
      this.#line = '';
      if (c === 13) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else {
          this.#skipLf = true;
        }
      }
      start = i + 1;
    }
    this.#line += text.slice(start);
    return out;
  }

  /** The stream ended: finishes a last line and event that lacked their terminators. */
  end(): SseEvent[] {
    const out: SseEvent[] = [];
    if (this.#line.length > 0) this.#processLine(this.#line, out);
    this.#line = '';
    this.#dispatch(out);
    return out;
  }

  #processLine(line: string, out: SseEvent[]): void {
    if (line.length === 0) {
      this.#dispatch(out);
      return;
    }
    if (line.charCodeAt(0) === 58 /* ':' comment, e.g. keep-alive pings */) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === 'data') this.#data.push(value);
    else if (field === 'event') this.#event = value;
    else if (field === 'id' && !value.includes('\0')) this.#id = value;
    // 'retry' and unknown fields are ignored, as the spec says.
  }

  #dispatch(out: SseEvent[]): void {
    if (this.#data.length > 0) {
      const ev: SseEvent = { event: this.#event || 'message', data: this.#data.join('\n') };
      if (this.#id !== undefined) ev.id = this.#id;
      out.push(ev);
    }
    this.#data = [];
    this.#event = '';
    this.#id = undefined;
  }
}
