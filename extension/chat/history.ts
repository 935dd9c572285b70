/**
 * The chat's turns, kept per workspace in `context.workspaceState` so a window reload (or a VS Code
 * restart) shows the conversation where it was. No 'vscode' import: the Memento is the only thing
 * used, through a structural type, so tests pass a Map-backed fake.
 *
 * When it is written:
 * - at once on a user turn and when an answer finishes (those are the states worth keeping);
 * - debounced while an answer streams (a delta every few ms would otherwise rewrite the whole
 *   history each time), so a reload mid-answer keeps the user turn and the answer up to the last
 *   debounce tick; `flush` on dispose writes the rest.
 *
 * Bounded: the newest `maxTurns` turns and at most `maxBytes` of JSON; older turns are dropped
 * (the conversation keeps going, the model sees only a budget's worth of it anyway).
 *
 * A stored value this code did not write (corrupt, or an older shape) starts an empty history and
 * is logged, rather than failing the view.
 */
import type { Turn } from '../../webview/protocol.ts';

export const HISTORY_KEY = 'switchyard.chat.history.v1';

/** What vscode.Memento offers that this needs. */
export interface MementoLike {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): Thenable<void>;
}

export interface HistoryOptions {
  maxTurns?: number;
  maxBytes?: number;
  debounceMs?: number;
}

interface Stored {
  version: 1;
  turns: Turn[];
}

const FINISH = new Set(['stop', 'length', 'time', 'cancelled']);

function isTurn(t: unknown): t is Turn {
  if (!t || typeof t !== 'object') return false;
  const o = t as Record<string, unknown>;
  const optStr = (k: string) => o[k] === undefined || typeof o[k] === 'string';
  return (
    typeof o.id === 'string' &&
    (o.role === 'user' || o.role === 'assistant') &&
    typeof o.content === 'string' &&
    optStr('reasoning') &&
    optStr('error') &&
    optStr('stats') &&
    (o.context === undefined || (Array.isArray(o.context) && o.context.every((c) => typeof c === 'string'))) &&
    (o.streaming === undefined || typeof o.streaming === 'boolean') &&
    (o.finishReason === undefined || FINISH.has(o.finishReason as string))
  );
}

const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v), 'utf8');

/** The newest turns within the bounds, starting at a user turn (an answer without its question reads oddly). */
export function boundTurns(turns: readonly Turn[], maxTurns: number, maxBytes: number): Turn[] {
  let out = turns.slice(-maxTurns);
  let size = bytes(out);
  while (out.length > 1 && size > maxBytes) {
    size -= bytes(out[0]) + 1;
    out = out.slice(1);
  }
  while (out.length > 1 && out[0]!.role !== 'user') out = out.slice(1);
  if (out.length === 1 && bytes(out) > maxBytes) {
    // One turn over the whole bound: keep its end (the most recent text).
    const t = out[0]!;
    const keep = Math.max(0, Math.floor(maxBytes / 4) - 1024);
    out = [{ ...t, content: t.content.slice(-keep), reasoning: t.reasoning?.slice(-Math.floor(keep / 4)) }];
  }
  return out;
}

export class ChatHistory {
  readonly #maxTurns: number;
  readonly #maxBytes: number;
  readonly #debounceMs: number;
  #timer: NodeJS.Timeout | undefined;
  #pending: (() => readonly Turn[]) | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly memento: MementoLike,
    private readonly log: (level: 'info' | 'warn' | 'error', m: string) => void = () => {},
    opts: HistoryOptions = {},
  ) {
    this.#maxTurns = opts.maxTurns ?? 200;
    this.#maxBytes = opts.maxBytes ?? 2 * 1024 * 1024;
    this.#debounceMs = opts.debounceMs ?? 1000;
  }

  /**
   * The stored turns, or [] when there are none or the value is unusable. A turn that was streaming
   * when the window went away is shown as cancelled: nothing will finish it now.
   */
  load(): Turn[] {
    let v: unknown;
    try {
      v = this.memento.get<unknown>(HISTORY_KEY);
    } catch (e) {
      this.log('warn', `chat history: cannot read the stored value (${(e as Error).message}); starting empty`);
      return [];
    }
    if (v === undefined) return [];
    const o = v as Partial<Stored> | null;
    if (!o || typeof o !== 'object' || o.version !== 1 || !Array.isArray(o.turns) || !o.turns.every(isTurn)) {
      this.log('warn', 'chat history: the stored value is not a valid history; starting empty');
      return [];
    }
    return boundTurns(o.turns, this.#maxTurns, this.#maxBytes).map((t) => (t.streaming ? { ...t, streaming: false, finishReason: t.finishReason ?? 'cancelled' } : t));
  }

  /** Write now (cancels a pending debounced write, which this supersedes). */
  save(turns: readonly Turn[]): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pending = undefined;
    const value: Stored = { version: 1, turns: boundTurns(turns, this.#maxTurns, this.#maxBytes) };
    // Chained: two updates in flight could land out of order.
    this.#writing = this.#writing
      .then(() => this.memento.update(HISTORY_KEY, value))
      .then(undefined, (e: unknown) => this.log('error', `chat history: cannot save (${(e as Error)?.message ?? e})`));
    return this.#writing;
  }

  /** Write within `debounceMs` (streaming); `turns` is read when the write happens, so it is the latest. */
  saveSoon(turns: () => readonly Turn[]): void {
    this.#pending = turns;
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const p = this.#pending;
      this.#pending = undefined;
      if (p) void this.save(p());
    }, this.#debounceMs);
  }

  /** Write a pending debounced save now (dispose), and wait for writes in flight. */
  async flush(): Promise<void> {
    const p = this.#pending;
    if (p) await this.save(p());
    else await this.#writing;
  }

  dispose(): void {
    void this.flush();
  }
}
