/**
 * Events for tests and for the log. When SWITCHYARD_TRACE_FILE is set (the end-to-end tests set
 * it in the editor's environment), each event is appended to it as one JSON line; every event also
 * goes to the "Switchyard" output channel through `sink`. Appends are synchronous: events are rare
 * (a few per completion) and a test must be able to read a line as soon as the event happened.
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

export class Trace {
  constructor(
    private readonly file: string | undefined = process.env.SWITCHYARD_TRACE_FILE || undefined,
    private readonly sink: (line: string) => void = () => {},
  ) {}

  event(e: TraceEvent): void {
    const line = JSON.stringify(e);
    this.sink(line);
    if (!this.file) return;
    try {
      appendFileSync(this.file, `${line}\n`);
    } catch {
      // tracing must never break the extension
    }
  }
}
