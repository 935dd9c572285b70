/**
 * DeepSeek-V4's chat encoding. DeepSeek ships it as Python (`encoding/encoding_dsv4.py` beside the
 * weights), not as a Jinja `chat_template`, so checkpoints have no template; this renders the same
 * text for tool-free conversations (the rules below are read from that file):
 *
 *   BOS, then per message
 *   - system:    its content, nothing around it;
 *   - user:      `<｜User｜>` content; consecutive user messages are one, joined by a blank line;
 *   - assistant: [reasoning `</think>`] content `<｜end▁of▁sentence｜>`;
 *   and a user message followed by an assistant one, or last, ends with `<｜Assistant｜>` and then
 *   `<think>` (thinking mode: the model reasons first) or `</think>` (non-thinking: the answer
 *   follows at once).
 *
 * Earlier reasoning is dropped (`drop_thinking`, DeepSeek's default): in thinking mode the turns
 * before the last user message show no reasoning and open with `</think>`; only an assistant
 * message after the last user message keeps its reasoning. In non-thinking mode no reasoning is
 * shown anywhere. The encoder's tools, tasks and reasoning-effort prompt are not used here.
 *
 * The result is text with the special tokens spelled out; it is encoded with added tokens parsed,
 * as DeepSeek's tokenizer encodes the Python's output.
 */
import type { EngineTokenizer } from '../tokenizer/tokenizer.ts';

/** The token texts of the encoding ('｜' is U+FF5C, '▁' U+2581). */
export const DSV4_TOKENS = {
  bos: '<｜begin▁of▁sentence｜>',
  eos: '<｜end▁of▁sentence｜>',
  user: '<｜User｜>',
  assistant: '<｜Assistant｜>',
  thinkStart: '<think>',
  thinkEnd: '</think>',
} as const;

export interface DeepSeekV4Message {
  role: 'system' | 'user' | 'assistant';
  content: string;
  /** An assistant message's reasoning (OpenAI's `reasoning_content`); shown only where kept. */
  reasoning?: string;
}

export interface DeepSeekV4Options {
  /** Thinking mode: the prompt ends with `<think>`. Default false (ends with `</think>`). */
  thinking?: boolean;
  /** Drop the reasoning of turns before the last user message. Default true, as DeepSeek's. */
  dropThinking?: boolean;
  /** Put BOS first. Default true. */
  addBos?: boolean;
}

/** The prompt text for `messages` (see the file comment). Throws on a message it cannot encode. */
export function renderDeepSeekV4Text(messages: readonly DeepSeekV4Message[], opts: DeepSeekV4Options = {}): string {
  const thinking = opts.thinking ?? false;
  const drop = opts.dropThinking ?? true;
  if (messages.length === 0) throw new Error('DeepSeek-V4 chat encoding: no messages');
  const msgs = mergeUsers(messages);
  let lastUser = -1;
  msgs.forEach((m, i) => {
    if (m.role === 'user') lastUser = i;
  });

  const T = DSV4_TOKENS;
  let out = (opts.addBos ?? true) ? T.bos : '';
  msgs.forEach((m, i) => {
    if (m.role === 'system') out += m.content;
    else if (m.role === 'user') out += T.user + m.content;
    else {
      // Reasoning is shown (and closed) only in thinking mode, and with dropping only after the
      // last user message; before it the turn was opened with `</think>` instead.
      const keep = thinking && (!drop || i > lastUser);
      out += (keep ? (m.reasoning ?? '') + T.thinkEnd : '') + m.content + T.eos;
    }
    const next = msgs[i + 1];
    if (m.role === 'user' && (next === undefined || next.role === 'assistant')) {
      out += T.assistant + (thinking && (!drop || i >= lastUser) ? T.thinkStart : T.thinkEnd);
    }
  });
  return out;
}

/** Checks the messages and joins runs of user messages (DeepSeek merges them into one turn). */
function mergeUsers(messages: readonly DeepSeekV4Message[]): DeepSeekV4Message[] {
  const out: DeepSeekV4Message[] = [];
  messages.forEach((m, i) => {
    if (m === null || typeof m !== 'object' || !['system', 'user', 'assistant'].includes(m.role)) {
      throw new Error(`DeepSeek-V4 chat encoding: messages[${i}].role must be system, user or assistant`);
    }
    if (typeof m.content !== 'string') throw new Error(`DeepSeek-V4 chat encoding: messages[${i}].content must be a string`);
    if (m.reasoning !== undefined && typeof m.reasoning !== 'string') {
      throw new Error(`DeepSeek-V4 chat encoding: messages[${i}].reasoning must be a string`);
    }
    const prev = out[out.length - 1];
    if (m.role === 'user' && prev?.role === 'user') prev.content += '\n\n' + m.content;
    else out.push({ ...m });
  });
  return out;
}

/** The tokens of DSV4_TOKENS the tokenizer lacks (empty when it can encode V4 chats). */
export function missingDeepSeekV4Tokens(tok: EngineTokenizer): string[] {
  return Object.values(DSV4_TOKENS).filter((t) => tok.tokenToId(t) === undefined);
}

/**
 * Whether a model's chats are encoded the DeepSeek-V4 way: only when it has no chat_template (a
 * template always wins), and its tokenizer has every token of the encoding; `note` says why not
 * when config.json names the architecture (`model_type` deepseek_v4) but the tokens are missing.
 * Never decided from the model's name.
 */
export function detectDeepSeekV4Chat(tok: EngineTokenizer, modelType?: string): { use: boolean; note?: string } {
  if (tok.chatTemplate !== undefined) return { use: false };
  const missing = missingDeepSeekV4Tokens(tok);
  if (missing.length === 0) return { use: true };
  if (modelType === 'deepseek_v4') {
    return { use: false, note: `config.json says deepseek_v4 but the tokenizer lacks ${missing.join(' ')}, so its chat encoding cannot be used` };
  }
  return { use: false };
}

export interface RenderedDeepSeekV4 {
  text: string;
  ids: number[];
}

/** renderDeepSeekV4Text, encoded with the tokenizer (special-token texts become their ids). */
export function renderDeepSeekV4(
  tok: EngineTokenizer,
  messages: readonly DeepSeekV4Message[],
  opts: DeepSeekV4Options = {},
): RenderedDeepSeekV4 {
  const text = renderDeepSeekV4Text(messages, opts);
  return { text, ids: tok.encode(text) };
}
