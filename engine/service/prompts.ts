/**
 * From a request to token ids and stop rules: the FIM layout or the chat template the tokenizer
 * calls for (engine/prompt), the stop ids that end that kind of output, and the stop detector.
 */
import { renderChat } from '../prompt/chat.ts';
import { detectDeepSeekV4Chat, renderDeepSeekV4 } from '../prompt/deepseek-v4.ts';
import { buildFimPrompt, detectFimFormat, type FimFormat } from '../prompt/fim.ts';
import { encodePlainText } from '../prompt/plain-text.ts';
import { ReasoningSplitter } from '../prompt/reasoning.ts';
import { StopDetector } from '../generate/stops.ts';
import type { EngineTokenizer } from '../tokenizer/tokenizer.ts';
import type { ChatMessage, CompleteParams, GenerationLimits } from '../protocol/protocol.ts';

export interface PromptFormats {
  fim: FimFormat | null;
  /**
   * How chats are encoded: 'deepseek-v4', DeepSeek-V4's own encoding (a checkpoint without a
   * chat_template whose tokenizer has V4's tokens); 'template', the chat_template or its fallback.
   */
  chat: 'template' | 'deepseek-v4';
  /** Why the V4 encoding was not used although config.json names deepseek_v4 (for the log). */
  chatNote?: string;
}

/** `modelType`: config.json's model_type, one of the signs of DeepSeek-V4 (never the name). */
export function detectFormats(tok: EngineTokenizer, modelType?: string): PromptFormats {
  const v4 = detectDeepSeekV4Chat(tok, modelType);
  return { fim: detectFimFormat(tok), chat: v4.use ? 'deepseek-v4' : 'template', chatNote: v4.note };
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

export interface ChatPromptOptions {
  /** Thinking mode where the encoding has the switch (DeepSeek-V4). Default false. */
  thinking?: boolean;
}

export function buildChatPrompt(f: PromptFormats, tok: EngineTokenizer, messages: ChatMessage[], opts: ChatPromptOptions = {}): BuiltChat {
  const stopIds = unique([...tok.eosIds, ...tok.special.endOfTurn, tok.special.endOfText]);
  if (f.chat === 'deepseek-v4') {
    const thinking = opts.thinking ?? false;
    const r = renderDeepSeekV4(tok, messages, { thinking });
    // Thinking turns end the prompt with `<think>`, non-thinking ones with `</think>`.
    const reasoning = new ReasoningSplitter(thinking ? { startInReasoning: true } : { reasoningClosed: true });
    return { ids: r.ids, stopIds, reasoning };
  }
  const r = renderChat(tok, messages, { addGenerationPrompt: true });
  // Templates of reasoning models may open the think block in the prompt itself.
  const startInReasoning = /<think>\s*$/.test(r.text);
  return {
    ids: r.ids,
    stopIds,
    fallback: r.fallback && f.chatNote ? `${f.chatNote}; ${r.fallback}` : r.fallback,
    reasoning: new ReasoningSplitter({ startInReasoning }),
  };
}

export function stopsFor(limits: GenerationLimits, stopIds: number[], indent?: { cursorIndent: string; tabWidth?: number }): StopDetector {
  return new StopDetector({ stopStrings: limits.stop ?? [], stopIds, indent });
}
