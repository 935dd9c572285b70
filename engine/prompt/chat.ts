/**
 * Chat prompts from the model's own chat template (tokenizer_config.json `chat_template`), rendered
 * with @huggingface/jinja the way transformers' apply_chat_template does: `messages`,
 * `add_generation_prompt`, `bos_token` / `eos_token`, trim_blocks + lstrip_blocks.
 *
 * The template prints special tokens as text (`<|im_start|>`, BOS), so the result is encoded with
 * added tokens parsed. (As in transformers, a message that contains such a text becomes that
 * token.) BOS is put first when the tokenizer adds BOS and the template did not already print it.
 *
 * Fallback: with no template, or one the renderer cannot parse or run (@huggingface/jinja lacks
 * some Jinja, e.g. `{% with %}` blocks), or one that raises, the prompt is
 * built in a simple documented format instead and `fallback` says why, for the caller to log:
 * - ChatML when the tokenizer has `<|im_start|>` and `<|im_end|>`:
 *   `<|im_start|>{role}\n{content}<|im_end|>\n` per message, then `<|im_start|>assistant\n`;
 * - otherwise DeepSeek-Coder's instruction format: `{system}\n\n` (if any), then
 *   `### Instruction:\n{user}\n` and `### Response:\n{assistant}\n{eos}\n` per turn, then
 *   `### Response:\n`.
 */
import { Template } from '@huggingface/jinja';
import type { EngineTokenizer } from '../tokenizer/tokenizer.ts';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface RenderChatOptions {
  /** End with the opening of an assistant turn (what generation continues). Default true. */
  addGenerationPrompt?: boolean;
}

export interface RenderedChat {
  text: string;
  ids: number[];
  /** Set when the model's template was not used: why, in words for a log line. */
  fallback?: string;
}

/** Parsed templates, by template text (parsing is the slow part; tokenizers share templates). */
const parsed = new Map<string, Template | Error>();

function parseTemplate(source: string): Template | Error {
  let t = parsed.get(source);
  if (t === undefined) {
    try {
      t = new Template(source);
    } catch (e) {
      t = e instanceof Error ? e : new Error(String(e));
    }
    parsed.set(source, t);
  }
  return t;
}

/** Renders `messages` with the model's chat template, or a fallback format (see the file comment). */
export function renderChat(
  tok: EngineTokenizer,
  messages: readonly ChatMessage[],
  opts: RenderChatOptions = {},
): RenderedChat {
  const addGenerationPrompt = opts.addGenerationPrompt ?? true;
  const rendered = renderTemplate(tok, messages, addGenerationPrompt);
  if (typeof rendered === 'string') return { text: rendered, ids: encodeRendered(tok, rendered) };
  const text = fallbackChat(tok, messages, addGenerationPrompt);
  return { text, ids: encodeRendered(tok, text), fallback: rendered.fallback };
}

/** The template's text, or why it could not be used. */
function renderTemplate(
  tok: EngineTokenizer,
  messages: readonly ChatMessage[],
  addGenerationPrompt: boolean,
): string | { fallback: string } {
  if (tok.chatTemplate === undefined) return { fallback: 'the tokenizer has no chat_template' };
  const template = parseTemplate(tok.chatTemplate);
  if (template instanceof Error) return { fallback: `chat template not supported by the renderer (${template.message})` };
  try {
    return template.render(templateContext(tok, messages, addGenerationPrompt));
  } catch (e) {
    // Includes the template's own raise_exception('...') (e.g. roles must alternate): the
    // renderer's built-in throws an Error with that message, reported as is.
    return { fallback: `chat template failed to render (${e instanceof Error ? e.message : String(e)})` };
  }
}

/**
 * The variables transformers gives a chat template (raise_exception and strftime_now are the
 * renderer's built-ins).
 */
function templateContext(tok: EngineTokenizer, messages: readonly ChatMessage[], addGenerationPrompt: boolean) {
  const ctx: Record<string, unknown> = {
    messages: messages.map((m) => ({ role: m.role, content: m.content })),
    add_generation_prompt: addGenerationPrompt,
  };
  // Left undefined when the tokenizer has none (Qwen has no BOS): prints as ''.
  if (tok.bosToken !== undefined) ctx.bos_token = tok.bosToken;
  if (tok.eosToken !== undefined) ctx.eos_token = tok.eosToken;
  return ctx;
}

/** Encodes rendered text, special-token texts parsed; one BOS where the tokenizer adds BOS. */
function encodeRendered(tok: EngineTokenizer, text: string): number[] {
  const ids = tok.encode(text);
  if (tok.addBos && tok.bosId !== undefined && ids[0] !== tok.bosId) ids.unshift(tok.bosId);
  return ids;
}

/** The documented fallback formats (see the file comment). */
function fallbackChat(tok: EngineTokenizer, messages: readonly ChatMessage[], addGenerationPrompt: boolean): string {
  if (tok.tokenToId('<|im_start|>') !== undefined && tok.tokenToId('<|im_end|>') !== undefined) {
    let out = messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('');
    if (addGenerationPrompt) out += '<|im_start|>assistant\n';
    return out;
  }
  let out = tok.addBos && tok.bosToken !== undefined ? tok.bosToken : '';
  for (const m of messages) {
    if (m.role === 'system') out += `${m.content}\n\n`;
    else if (m.role === 'user') out += `### Instruction:\n${m.content}\n`;
    else out += `### Response:\n${m.content}\n${tok.eosToken ?? ''}\n`;
  }
  if (addGenerationPrompt) out += '### Response:\n';
  return out;
}
