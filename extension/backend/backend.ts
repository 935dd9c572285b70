/**
 * What chat, refactors and completions need from a model, whichever serves it: the local engine
 * (local.ts, over the JSON-RPC protocol) or an OpenAI-compatible endpoint (remote.ts, over HTTP).
 * The shapes are the engine protocol's own, so the local side is a thin pass-through and the
 * remote side maps HTTP onto them. No 'vscode' import: both are tested in plain Node.
 */
import type { ChatDeltaParams, ChatParams, ChatResult, CompleteParams, CompleteResult } from '../../engine/protocol/protocol.ts';

export interface ModelBackend {
  readonly kind: 'local' | 'remote';
  /** For the UI: "DeepSeek-Coder-V2-Lite (local, cpu)", "remote: http://host:8000/v1 (model)". */
  readonly label: string;
  /** Longest prompt + answer, in tokens, this backend accepts. */
  readonly contextLength: number;
  /** Fill-in-the-middle (or raw continuation); rejects with an Error whose message says what went wrong. */
  complete(p: CompleteParams, signal?: AbortSignal): Promise<CompleteResult>;
  /** Chat with streamed deltas (`content` and `reasoning` kept apart). An aborted signal ends it with finishReason "cancelled". */
  chat(p: ChatParams, onDelta?: (d: ChatDeltaParams) => void, signal?: AbortSignal): Promise<ChatResult>;
  /** Exact for the local engine; an estimate where the server has no tokenizer endpoint. */
  countTokens(text: string, signal?: AbortSignal): Promise<number>;
}

/** An error meant for the user as is (its message names the problem and, where it can, the fix). */
export class BackendError extends Error {
  constructor(
    message: string,
    readonly code: 'unreachable' | 'timeout' | 'http' | 'dropped' | 'bad-response' | 'no-model' | 'cancelled',
    readonly status?: number,
  ) {
    super(message);
    this.name = 'BackendError';
  }
}
