/**
 * The chat's state machine on the host side: the turns, one generation at a time, streaming the
 * answer to the view, Stop, New Chat, errors and stats. No 'vscode' import: the view, the backend,
 * the context chips and the history store are injected, so it is unit-tested in plain Node.
 *
 * One generation at a time, and a send while one runs is refused with a notice rather than queued:
 * the context chips (selection, active file) are read when a message is sent, so a queued message
 * would silently go out with whatever is selected by the time its turn comes, and the user could no
 * longer take it back. The view disables Send while busy anyway; the refusal covers a race and the
 * Explain Selection command.
 *
 * The prompt: a system prompt, then earlier turns as user/assistant pairs (newest kept first,
 * within the model's context minus the answer's reserve), then the new message with the context
 * chips rendered as fenced code with their paths. Code context goes with the newest message only:
 * earlier messages are sent as the user typed them, so stale copies of a file being edited do not
 * crowd the context, and the current code is always what the model sees.
 *
 * Sampling: temperature 0.2, top-p 0.95 — the usual chat defaults for code models: nearly
 * deterministic (answers about code should not wander), but not greedy, which loops on long
 * answers with small models.
 */
import type { ChatMessage, ChatResult, SamplingParams, Usage } from '../../engine/protocol/protocol.ts';
import type { HostMessage, Turn } from '../../webview/protocol.ts';
import { BackendError, type ModelBackend } from '../backend/backend.ts';
import type { Settings } from '../config.ts';
import { answerReserve, renderUserMessage, type ChipWindow } from './chip-windows.ts';

export const SYSTEM_PROMPT =
  'You are Switchyard, a coding assistant running locally inside VS Code. Answer concisely and accurately. ' +
  'Put code in fenced code blocks with a language tag. Code from the user\'s workspace, when given, comes as fenced blocks ' +
  'headed by the file path; refer to files by those paths.';

export const DEFAULT_SAMPLING: SamplingParams = { temperature: 0.2, topP: 0.95 };

/** Template tokens around each message (role markers, separators): a safe allowance for common templates. */
export const MESSAGE_OVERHEAD_TOKENS = 8;
/** The least room for an answer worth sending the request for. */
export const MIN_ANSWER_TOKENS = 16;

/** A failure whose message is meant for the user as is (like BackendError, but raised here). */
export class ChatError extends Error {
  override name = 'ChatError';
}

export interface HistoryStore {
  save(turns: readonly Turn[]): unknown;
  saveSoon(turns: () => readonly Turn[]): void;
}

export interface ChatSessionDeps {
  /** The ready backend (starting the engine if needed), undefined when none can serve. */
  backend: (signal: AbortSignal) => Promise<ModelBackend | undefined>;
  settings: () => Pick<Settings, 'chatMaxTokens' | 'chatThinking'>;
  post: (m: HostMessage) => void;
  /** The context chips' windows now (already within the chip budget). */
  context: (opts: SendOptions) => Promise<readonly ChipWindow[]>;
  history?: HistoryStore;
  log?: (level: 'info' | 'warn' | 'error', m: string) => void;
  /** Restored turns. */
  turns?: Turn[];
  now?: () => number;
  newId?: () => string;
  systemPrompt?: string;
  sampling?: SamplingParams;
}

export interface SendOptions {
  /** false: leave the selection chip out of this message; true: include it even if the user removed it. */
  selection?: boolean;
}

export interface PromptInput {
  system: string;
  /** Earlier turns, oldest first. */
  history: readonly Turn[];
  /** The new message as sent (chips rendered in). */
  user: string;
  contextLength: number;
  chatMaxTokens: number;
  count: (text: string) => Promise<number>;
}

export interface Prompt {
  messages: ChatMessage[];
  /** Counted prompt tokens (message texts plus the per-message allowance). */
  tokens: number;
  /** Earlier turns left out for the budget. */
  droppedTurns: number;
  /** The answer's limit: the setting, or less when the prompt leaves less room. */
  maxTokens: number;
}

/** Earlier turns as (question, answer) pairs; a question without an answer (failed, empty) is left out so roles alternate, as many templates require. */
export function historyPairs(turns: readonly Turn[]): [Turn, Turn][] {
  const out: [Turn, Turn][] = [];
  for (let i = 0; i + 1 < turns.length; i++) {
    const q = turns[i]!;
    const a = turns[i + 1]!;
    if (q.role === 'user' && a.role === 'assistant' && a.content.trim() && !a.streaming) {
      out.push([q, a]);
      i++;
    }
  }
  return out;
}

/**
 * The messages for one request: system, as many of the latest earlier pairs as fit, the new message.
 * Rejects with a ChatError when the new message alone leaves no room for an answer.
 */
export async function buildPrompt(p: PromptInput): Promise<Prompt> {
  const reserve = answerReserve(p.contextLength, p.chatMaxTokens);
  const fixed = (await p.count(p.system)) + (await p.count(p.user)) + 2 * MESSAGE_OVERHEAD_TOKENS;
  if (fixed + MIN_ANSWER_TOKENS > p.contextLength) {
    throw new ChatError(
      `The message and its code context (${fixed} tokens) do not fit the model's context of ${p.contextLength} tokens: remove a context chip or shorten the message.`,
    );
  }
  const pairs = historyPairs(p.history);
  let room = p.contextLength - reserve - fixed;
  let kept = 0;
  let used = 0;
  for (let i = pairs.length - 1; i >= 0; i--) {
    const [q, a] = pairs[i]!;
    const t = (await p.count(q.content)) + (await p.count(a.content)) + 2 * MESSAGE_OVERHEAD_TOKENS;
    if (t > room) break;
    room -= t;
    used += t;
    kept++;
  }
  const messages: ChatMessage[] = [{ role: 'system', content: p.system }];
  for (const [q, a] of pairs.slice(pairs.length - kept)) messages.push({ role: 'user', content: q.content }, { role: 'assistant', content: a.content });
  messages.push({ role: 'user', content: p.user });
  const tokens = fixed + used;
  return { messages, tokens, droppedTurns: 2 * (pairs.length - kept), maxTokens: Math.max(MIN_ANSWER_TOKENS, Math.min(p.chatMaxTokens, p.contextLength - tokens)) };
}

/** "42 tokens · 12.3 tok/s": the decode rate from the engine's own timing, else from the wall clock. */
export function formatStats(usage: Pick<Usage, 'completionTokens' | 'decodeMs'>, wallMs?: number): string {
  const n = usage.completionTokens;
  const tokens = `${n} ${n === 1 ? 'token' : 'tokens'}`;
  const ms = usage.decodeMs > 0 ? usage.decodeMs : wallMs;
  if (!n || !ms || ms <= 0) return tokens;
  return `${tokens} · ${((n * 1000) / ms).toFixed(1)} tok/s`;
}

/** What the turn shows for a failure: the backend's own words, or a line saying what happened. */
export function errorText(e: unknown): string {
  if (e instanceof BackendError || e instanceof ChatError) return e.message;
  const m = (e as Error)?.message ?? String(e);
  // vscode-jsonrpc's wording when the engine process went away mid-request.
  if (/connection (got )?(disposed|closed)/i.test(m)) return 'The engine stopped while answering (it restarts on its own; Show Engine Log says why). Send the message again.';
  // JSON-RPC errors from the engine (prompt too long, bad parameters) are already one line for the user.
  if (typeof (e as { code?: unknown })?.code === 'number') return m;
  return `The request failed: ${m}`;
}

interface Active {
  ac: AbortController;
  epoch: number;
}

export class ChatSession {
  #turns: Turn[];
  #active: Active | undefined;
  /** Bumped by New Chat: a generation from before it must not touch the new conversation. */
  #epoch = 0;
  #counts = new Map<string, number>();
  #seq = 0;
  readonly #now: () => number;
  readonly #newId: () => string;

  constructor(private readonly deps: ChatSessionDeps) {
    this.#turns = deps.turns ? [...deps.turns] : [];
    this.#now = deps.now ?? Date.now;
    const base = Date.now().toString(36);
    this.#newId = deps.newId ?? (() => `t${base}-${(this.#seq++).toString(36)}`);
  }

  get turns(): readonly Turn[] {
    return this.#turns;
  }

  get busy(): boolean {
    return this.#active !== undefined;
  }

  /**
   * Sends a user message and streams the answer. Resolves when the answer has finished (stopped,
   * failed or complete): true, or false when nothing was sent (empty text, or a generation is
   * running — the view gets a notice).
   */
  async send(text: string, opts: SendOptions = {}): Promise<boolean> {
    const question = text.trim();
    if (!question) return false;
    if (this.#active) {
      this.deps.post({ type: 'notice', level: 'info', text: 'An answer is still being written: wait for it or press Stop, then send again.' });
      return false;
    }
    const active: Active = { ac: new AbortController(), epoch: this.#epoch };
    this.#active = active;
    const { signal } = active.ac;
    const live = () => active.epoch === this.#epoch;

    let windows: readonly ChipWindow[] = [];
    try {
      windows = (await this.deps.context(opts)).filter((w) => w.text);
    } catch (e) {
      this.#log('warn', `chat: cannot read the context chips: ${(e as Error).message}`);
    }
    if (!live()) return false;
    const user: Turn = { id: this.#newId(), role: 'user', content: question };
    if (windows.length) user.context = windows.map((w) => w.chip.label);
    const earlier = [...this.#turns];
    this.#turns.push(user);
    this.deps.post({ type: 'turn', turn: { ...user } });
    const answer: Turn = { id: this.#newId(), role: 'assistant', content: '', streaming: true };
    this.#turns.push(answer);
    this.deps.post({ type: 'turn', turn: { ...answer } });
    void this.deps.history?.save(this.#turns);

    const started = this.#now();
    let firstDeltaAt: number | undefined;
    let result: ChatResult | undefined;
    try {
      const backend = await this.deps.backend(signal);
      if (!backend) {
        if (!signal.aborted) answer.error = 'No model is ready to answer: see the engine status above.';
      } else {
        const count = this.#counter(backend, signal);
        const prompt = await buildPrompt({
          system: this.deps.systemPrompt ?? SYSTEM_PROMPT,
          history: earlier,
          user: renderUserMessage(question, windows),
          contextLength: backend.contextLength,
          chatMaxTokens: this.deps.settings().chatMaxTokens,
          count,
        });
        if (prompt.droppedTurns) this.#log('info', `chat: ${prompt.droppedTurns} earlier turns left out to fit the context of ${backend.contextLength} tokens`);
        if (signal.aborted) throw new BackendError('cancelled', 'cancelled');
        result = await backend.chat(
          {
            ...(this.deps.sampling ?? DEFAULT_SAMPLING),
            messages: prompt.messages,
            maxTokens: prompt.maxTokens,
            ...(this.deps.settings().chatThinking ? { thinking: true } : {}),
          },
          (d) => {
            if (!live()) return;
            if (!d.content && !d.reasoning) return;
            firstDeltaAt ??= this.#now();
            if (d.content) answer.content += d.content;
            if (d.reasoning) answer.reasoning = (answer.reasoning ?? '') + d.reasoning;
            const m: HostMessage = { type: 'delta', id: answer.id };
            if (d.content) m.content = d.content;
            if (d.reasoning) m.reasoning = d.reasoning;
            this.deps.post(m);
            this.deps.history?.saveSoon(() => this.#turns);
          },
          signal,
        );
        // The result is the engine's final word (e.g. a remote backend without streaming); the
        // streamed text stands when the result has none (a cancelled request).
        if (result.text) answer.content = result.text;
        if (result.reasoning) answer.reasoning = result.reasoning;
        answer.finishReason = signal.aborted ? 'cancelled' : result.finishReason;
        answer.stats = formatStats(result.usage, firstDeltaAt === undefined ? undefined : this.#now() - firstDeltaAt);
      }
      if (signal.aborted) answer.finishReason = 'cancelled';
    } catch (e) {
      if (signal.aborted || (e instanceof BackendError && e.code === 'cancelled')) {
        answer.finishReason = 'cancelled';
      } else {
        const message = errorText(e);
        answer.error = message;
        this.#log('warn', `chat: ${message}`);
      }
    } finally {
      answer.streaming = false;
      if (this.#active === active) this.#active = undefined;
    }
    if (!live()) return true;
    this.#log('info', `chat: answer ${answer.finishReason ?? 'failed'} after ${this.#now() - started} ms${answer.stats ? ` (${answer.stats})` : ''}`);
    this.deps.post({ type: 'done', turn: { ...answer }, busy: this.busy });
    void this.deps.history?.save(this.#turns);
    return true;
  }

  /** Stops the running generation (its turn ends as cancelled, with the text so far). */
  stop(): void {
    this.#active?.ac.abort();
  }

  /** Forgets the conversation (the user asked to): stops a running answer and saves the empty history. */
  newChat(): void {
    this.#epoch++;
    this.#active?.ac.abort();
    this.#active = undefined;
    this.#turns = [];
    this.#counts.clear();
    void this.deps.history?.save(this.#turns);
  }

  dispose(): void {
    this.#active?.ac.abort();
  }

  #log(level: 'info' | 'warn' | 'error', m: string): void {
    this.deps.log?.(level, m);
  }

  /** Exact counts from the backend, cached per text (earlier turns are counted again on every send otherwise). */
  #counter(backend: ModelBackend, signal: AbortSignal): (text: string) => Promise<number> {
    return async (text) => {
      const key = `${backend.label}\u0000${text}`;
      const known = this.#counts.get(key);
      if (known !== undefined) return known;
      const n = await backend.countTokens(text, signal);
      if (this.#counts.size > 1000) this.#counts.delete(this.#counts.keys().next().value!);
      this.#counts.set(key, n);
      return n;
    };
  }
}
