/**
 * One refactor request, without 'vscode': the prompt goes to the backend as a greedy chat with
 * prompt lookup, the streamed answer is reported as it grows, and the code is taken out of it.
 * commands.ts wraps this in VS Code's progress and diff preview; tests run it on the real engine.
 */
import type { ChatResult } from '../../engine/protocol/protocol.ts';
import type { ModelBackend } from '../backend/backend.ts';
import { extractCode, type ExtractedCode, type ExtractOptions } from './extract.ts';
import { refactorRequest, type RefactorPrompt } from './prompts.ts';

export interface RefactorOutcome {
  result: ChatResult;
  extracted: ExtractedCode;
  /** Why there is nothing to propose, in words for the user; undefined when `extracted.code` is a proposal. */
  problem?: 'cancelled' | 'no code' | 'cut off' | 'unchanged';
}

export async function runRefactor(
  backend: Pick<ModelBackend, 'chat'>,
  prompt: RefactorPrompt,
  opts: {
    maxTokens: number;
    extract: ExtractOptions;
    /** The answer so far, the characters of reasoning, and the tokens generated so far as the backend counts them (reasoning included). */
    onText?: (answerSoFar: string, reasoningChars: number, tokens: number | undefined) => void;
    signal?: AbortSignal;
  },
): Promise<RefactorOutcome> {
  let answer = '';
  let reasoning = 0;
  const result = await backend.chat(
    refactorRequest(prompt, opts.maxTokens),
    (d) => {
      if (d.content) answer += d.content;
      if (d.reasoning) reasoning += d.reasoning.length;
      opts.onText?.(answer, reasoning, d.tokens);
    },
    opts.signal,
  );
  const extracted = extractCode(result.text, opts.extract);
  let problem: RefactorOutcome['problem'];
  if (result.finishReason === 'cancelled' || opts.signal?.aborted) problem = 'cancelled';
  else if (extracted.code.trim() === '') problem = 'no code';
  // Cut off inside the code: a partial block would delete the rest of the selection on accept.
  else if ((result.finishReason === 'length' || result.finishReason === 'time') && extracted.fence !== 'closed') problem = 'cut off';
  else if (opts.extract.selection !== undefined && extracted.code === opts.extract.selection) problem = 'unchanged';
  return { result, extracted, problem };
}

/**
 * Where the selection is now, when the document changed while the model was working: still at
 * [start, end), or at its only occurrence elsewhere (the user edited above it). Undefined when it
 * is gone or ambiguous (then proposing would edit the wrong code).
 */
export function locateSelection(text: string, start: number, end: number, selection: string): { start: number; end: number } | undefined {
  if (text.slice(start, end) === selection) return { start, end };
  if (selection === '') return undefined;
  const at = text.indexOf(selection);
  if (at < 0 || text.indexOf(selection, at + 1) >= 0) return undefined;
  return { start: at, end: at + selection.length };
}
