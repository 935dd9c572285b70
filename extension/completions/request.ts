/**
 * One inline completion from document text to shown text, without VS Code: type-through cache,
 * debounce, engine readiness, context assembly, the engine request with cancellation, and
 * post-processing. provider.ts adapts VS Code's documents, positions and cancellation tokens to
 * this, so the whole path is unit-tested with a fake engine.
 */
import type { CompleteParams, CompleteResult } from '../../engine/protocol/protocol.ts';
import { completionsAllowed, type Settings } from '../config.ts';
import { assembleContext, fitExactly } from '../context/assemble.ts';
import { LAYOUT_RESERVE_TOKENS } from '../context/budget.ts';
import type { Chunk } from '../context/chunks.ts';
import { RelatedContext } from '../context/related.ts';
import { TokenCounter } from '../context/tokens.ts';
import type { TraceEvent } from '../trace.ts';
import { AdaptiveDebounce } from './debounce.ts';
import { isMultilinePosition, lineIndent, postprocess } from './postprocess.ts';
import { TypeThroughCache } from './type-through.ts';

export interface CompletionEngine {
  complete(p: CompleteParams, signal?: AbortSignal): Promise<CompleteResult>;
  countTokens(text: string): Promise<number>;
}

export interface CompletionDoc {
  uri: string;
  /** Shown in the prompt (workspace-relative). */
  path: string;
  /** The file in traces (absolute path; the URI for unsaved documents). */
  tracePath: string;
  languageId: string;
  text: string;
  offset: number;
  /** 0-based line and column of the cursor. */
  line: number;
  character: number;
  tabSize: number;
  /** The workspace folder's name (the model's repo-level layout starts with it). */
  repoName?: string;
  /** Chunks of other files (called only when the related-file snapshot is refreshed). */
  candidates?: () => readonly Chunk[];
}

export interface CompletionDeps {
  settings: () => Settings;
  /** The ready engine (starting it lazily), or undefined (no model, failed, aborted). */
  engine: (signal: AbortSignal) => Promise<{ client: CompletionEngine; contextLength: number } | undefined>;
  trace: (e: TraceEvent) => void;
  log: (level: 'info' | 'warn' | 'error', message: string) => void;
  onLatency?: (ms: number) => void;
  now?: () => number;
}

export type Outcome =
  | { kind: 'disabled' }
  | { kind: 'type-through'; text: string }
  | { kind: 'cancelled' }
  | { kind: 'no-engine' }
  | { kind: 'completion'; text: string; raw: string; ms: number }
  | { kind: 'error'; message: string };

export class Completer {
  readonly debounce: AdaptiveDebounce;
  readonly typeThrough = new TypeThroughCache();
  readonly counter = new TokenCounter();
  readonly related = new RelatedContext();
  #engine: CompletionEngine | undefined;
  readonly #now: () => number;

  constructor(private readonly deps: CompletionDeps) {
    this.debounce = new AdaptiveDebounce({ baseMs: deps.settings().debounceMs });
    this.#now = deps.now ?? Date.now;
  }

  /** Settings changed: new base delay; the context snapshot may need other budgets. */
  settingsChanged(): void {
    this.debounce.baseMs = this.deps.settings().debounceMs;
    this.related.invalidate();
    this.typeThrough.clear();
  }

  async complete(doc: CompletionDoc, signal: AbortSignal): Promise<Outcome> {
    const s = this.deps.settings();
    // Off globally or for this language: return before anything is sent (or the engine started).
    if (!completionsAllowed(s, doc.languageId)) return { kind: 'disabled' };

    const cached = this.typeThrough.lookup(doc.uri, doc.text, doc.offset);
    if (cached !== undefined) return { kind: 'type-through', text: cached };

    if (!(await this.debounce.wait(signal))) return { kind: 'cancelled' };
    const engine = await this.deps.engine(signal);
    if (signal.aborted) return { kind: 'cancelled' };
    if (!engine) return { kind: 'no-engine' };
    if (engine.client !== this.#engine) {
      // A new engine (restart, other model): counts and the context snapshot belong to the old tokenizer.
      this.#engine = engine.client;
      this.counter.reset((t) => engine.client.countTokens(t));
      this.related.invalidate();
    }
    if (!this.counter.calibrated) void this.counter.calibrate(doc.text);

    let ctx = assembleContext({
      now: this.#now(),
      uri: doc.uri,
      text: doc.text,
      cursor: doc.offset,
      settingsBudget: s.budgetTokens,
      modelContext: engine.contextLength,
      maxTokens: s.maxTokens,
      candidates: doc.candidates ?? (() => []),
      counter: this.counter,
      related: this.related,
    });
    try {
      ctx = await fitExactly(ctx, engine.contextLength - s.maxTokens - LAYOUT_RESERVE_TOKENS, (t) => engine.client.countTokens(t));
    } catch {
      // the engine went away; the request below fails the same way
    }
    if (signal.aborted) return { kind: 'cancelled' };

    const lineStart = doc.offset - doc.character;
    const nl = doc.text.indexOf('\n', doc.offset);
    const lineEnd = nl < 0 ? doc.text.length : nl;
    const lineText = doc.text.slice(lineStart, lineEnd).replace(/\r$/, '');
    const lineSuffix = lineText.slice(doc.character);
    const multiline = isMultilinePosition(lineSuffix);
    const params: CompleteParams = {
      prefix: ctx.prefix.text,
      suffix: ctx.suffix.text,
      filePath: doc.path,
      repoName: doc.repoName,
      relatedFiles: ctx.relatedFiles,
      maxTokens: s.maxTokens,
      temperature: 0,
      // Mid-line: one line only, so stop at the newline instead of generating lines we would cut.
      ...(multiline ? { indentStop: lineIndent(lineText), tabWidth: doc.tabSize } : { stop: ['\n'] }),
    };

    this.deps.trace({ event: 'completion-request', file: doc.tracePath, line: doc.line });
    const t0 = this.#now();
    let result: CompleteResult;
    try {
      result = await engine.client.complete(params, signal);
    } catch (e) {
      const ms = this.#now() - t0;
      const message = String((e as Error)?.message ?? e);
      this.deps.trace({ event: 'completion-result', text: '', ms, error: message });
      if (signal.aborted) return { kind: 'cancelled' };
      this.deps.log('warn', `completion failed: ${message}`);
      return { kind: 'error', message };
    }
    const ms = this.#now() - t0;
    const nextLines = doc.text.slice(lineEnd + 1).split('\n', 20).map((l) => l.replace(/\r$/, ''));
    const text =
      result.finishReason === 'cancelled'
        ? ''
        : postprocess(result.text, { multiline, prefix: ctx.prefix.text, lineSuffix, nextLines, truncated: result.finishReason === 'length' });
    this.deps.trace({ event: 'completion-result', text, ms: Math.round(ms), finishReason: result.finishReason });
    if (result.finishReason === 'cancelled' || signal.aborted) return { kind: 'cancelled' };
    this.debounce.record(ms);
    this.deps.onLatency?.(ms);
    if (text) this.typeThrough.remember(doc.uri, doc.text, doc.offset, text);
    else this.typeThrough.clear();
    return { kind: 'completion', text, raw: result.text, ms };
  }
}
