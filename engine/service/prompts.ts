/**
 * From a request to token ids and stop rules: the FIM layout or the chat template the tokenizer
 * calls for (engine/prompt), the stop ids that end that kind of output, and the stop detector.
 */
import { renderChat } from '../prompt/chat.ts';
import { buildFimPrompt, detectFimFormat, type FimFormat } from '../prompt/fim.ts';
import { encodePlainText } from '../prompt/plain-text.ts';
import { ReasoningSplitter } from '../prompt/reasoning.ts';
import { StopDetector } from '../generate/stops.ts';
import type { EngineTokenizer } from '../tokenizer/tokenizer.ts';
import type { ChatMessage, CompleteParams, GenerationLimits } from '../protocol/protocol.ts';

export interface PromptFormats {
  fim: FimFormat | null;
}

export function detectFormats(tok: EngineTokenizer): PromptFormats {
  return { fim: detectFimFormat(tok) };
}

export interface BuiltPrompt {
  ids: number[];
  stopIds: number[];
}

const unique = (xs: (number | undefined)[]) => [...new Set(xs.filter((x): x is number => x !== undefined))];

/**
 * Fill-in-the-middle when the model has FIM tokens; otherwise (or with `raw`) the prefix alone,
 * continued as plain text.
 */
export function buildCompletionPrompt(f: PromptFormats, tok: EngineTokenizer, p: CompleteParams): BuiltPrompt {
  if (!p.raw && f.fim) {
    const r = buildFimPrompt(f.fim, { prefix: p.prefix, suffix: p.suffix, relatedFiles: p.relatedFiles, repoName: p.repoName, filePath: p.filePath });
    return { ids: r.ids, stopIds: [...f.fim.stopIds] };
  }
  return { ids: encodeRawPrompt(tok, p.prefix, { specialTokens: p.raw === true && p.specialTokens === true, addBos: true }), stopIds: unique([...tok.eosIds, tok.special.endOfText]) };
}

/**
 * A raw prompt's ids: BOS first where the tokenizer adds it (and `addBos`), then the text, its
 * special-token texts as those tokens only with `specialTokens` (else as plain text).
 */
export function encodeRawPrompt(tok: EngineTokenizer, text: string, o: { specialTokens: boolean; addBos: boolean }): number[] {
  const bos = o.addBos && tok.addBos && tok.bosId !== undefined ? [tok.bosId] : [];
  return [...bos, ...(o.specialTokens ? tok.encode(text) : encodePlainText(tok, text))];
}

export interface BuiltChat extends BuiltPrompt {
  fallback?: string;
  reasoning: ReasoningSplitter;
}

export function buildChatPrompt(_f: PromptFormats, tok: EngineTokenizer, messages: ChatMessage[]): BuiltChat {
  const r = renderChat(tok, messages, { addGenerationPrompt: true });
  // Templates of reasoning models may open the think block in the prompt itself.
  const startInReasoning = /<think>\s*$/.test(r.text);
  return {
    ids: r.ids,
    stopIds: unique([...tok.eosIds, ...tok.special.endOfTurn, tok.special.endOfText]),
    fallback: r.fallback,
    reasoning: new ReasoningSplitter({ startInReasoning }),
  };
}

export function stopsFor(limits: GenerationLimits, stopIds: number[], indent?: { cursorIndent: string; tabWidth?: number }): StopDetector {
  return new StopDetector({ stopStrings: limits.stop ?? [], stopIds, indent });
}
