/**
 * Events for tests and for the log. When SWITCHYARD_TRACE_FILE is set (the end-to-end tests set
 * it in the editor's environment), each event is appended to it whole, as one JSON line. The
 * "Switchyard" output channel gets each event through `sink` at two levels, because some events
 * carry the user's code (a completion, a chat answer, a proposed edit's text):
 * - info: what happened, with sizes, timings and ids; never the content;
 * - trace: the whole event, content included. VS Code writes trace lines only when the user sets
 *   the channel's log level to Trace ("Developer: Set Log Level..."), so content is opt-in.
 * Appends are synchronous: events are rare (a few per completion) and a test must be able to read a
 * line as soon as the event happened.
 */
import { appendFileSync } from 'node:fs';

export type TraceEvent =
  | { event: 'engine-start'; pid: number }
  | { event: 'engine-ready'; pid: number; provider?: string; model?: string }
  | { event: 'engine-exit'; pid: number; code: number | null; signal?: string | null }
  | { event: 'completion-request'; file: string; line: number }
  | { event: 'completion-result'; text: string; ms: number; finishReason?: string; error?: string }
  | { event: 'chat-request'; backend: 'local' | 'remote'; messages: number }
  | { event: 'chat-result'; backend: 'local' | 'remote'; text: string; finishReason?: string; error?: string }
  | { event: 'edit-proposed'; uri: string; title: string; newText: string }
  | { event: 'edit-result'; uri: string; accepted: boolean };

/** The levels of the output channel that trace events go to. */
export type TraceLevel = 'info' | 'trace';

/**
 * The event as the info level shows it: content fields (`text`, `newText`) replaced by their
 * length in characters (`chars`), so the log says that a 40-character completion came back in
 * 120 ms, not what it was. `hasContent`: the event carries content (then only trace shows it whole).
 */
export function describeEvent(e: TraceEvent): { summary: Record<string, unknown>; hasContent: boolean } {
  if (e.event === 'completion-result' || e.event === 'chat-result') {
    const { text, ...rest } = e;
    return { summary: { ...rest, chars: text.length }, hasContent: text !== '' };
  }
  if (e.event === 'edit-proposed') {
    const { newText, ...rest } = e;
    return { summary: { ...rest, chars: newText.length }, hasContent: true };
  }
  return { summary: e, hasContent: false };
}

export class Trace {
  constructor(
    private readonly file: string | undefined = process.env.SWITCHYARD_TRACE_FILE || undefined,
    private readonly sink: (level: TraceLevel, line: string) => void = () => {},
  ) {}

  event(e: TraceEvent): void {
    const line = JSON.stringify(e);
    const { summary, hasContent } = describeEvent(e);
    this.sink('info', JSON.stringify(summary));
    if (hasContent) this.sink('trace', line);
    if (!this.file) return;
    try {
      appendFileSync(this.file, `${line}\n`);
    } catch {
      // tracing must never break the extension
    }
  }
}
