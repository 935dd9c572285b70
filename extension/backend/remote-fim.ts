/**
 * How fill-in-the-middle reaches a remote server, found once per endpoint without trusting the
 * model's name. Servers differ: DeepSeek's API and `engine serve` honour `suffix` on
 * /v1/completions; llama.cpp's server drops it without a word; vLLM and SGLang refuse or ignore it
 * depending on version. So, unless `switchyard.remote.fimFormat` names a way:
 *
 * 1. the server's /tokenize (vLLM, llama.cpp's server, `engine serve --no-suffix`) is asked for the
 *    candidate FIM token texts of each layout; one whose tokens each come back as one id is the
 *    served model's, and the client lays the prompt out itself (fim-text.ts);
 * 2. else, unless /props says it is llama.cpp's server (which drops `suffix`), a one-token probe
 *    sends the same prompt with and without a suffix: `suffix` is used only when the server counts
 *    more prompt tokens with it (refused with a 400, or the same count: it is not honoured);
 * 3. else completions continue the prefix alone, and the resolution says so (the caller logs it
 *    and shows it in the status bar tooltip) with the setting that fixes it.
 */
import type { FimFamily } from '../../engine/prompt/fim.ts';
import { FIM_TEXT_FAMILIES, fimTextLayout, type FimTextLayout, type FimTextTokens } from '../../engine/prompt/fim-text.ts';

/** `switchyard.remote.fimFormat`: auto, `suffix`, a layout laid out here, or llama.cpp's /infill. */
export type RemoteFimSetting = 'auto' | 'suffix' | 'infill' | FimFamily;

export const REMOTE_FIM_SETTINGS: readonly RemoteFimSetting[] = ['auto', 'suffix', 'deepseek-coder', 'qwen-coder', 'starcoder', 'codestral', 'infill'];

export type RemoteFim =
  /** `suffix` on /v1/completions; the server lays out FIM. */
  | { mode: 'suffix'; why: string }
  /** The whole FIM prompt as `prompt`; `stopIds` where /tokenize gave them (vLLM's stop_token_ids). */
  | { mode: 'layout'; layout: FimTextLayout; stopIds?: number[]; why: string }
  /** llama.cpp's /infill (input_prefix, input_suffix, input_extra). */
  | { mode: 'infill'; why: string }
  /** No way found: the prefix alone, continued as plain text. */
  | { mode: 'plain'; why: string };

/** What detection asks of the server (RemoteBackend implements it over HTTP). */
export interface FimProbe {
  /** The ids the server gives `text` (special tokens parsed, none added); undefined: no tokenize route. */
  tokenize(text: string): Promise<number[] | undefined>;
  /** llama.cpp's GET /props, or undefined when the server has none. */
  props(): Promise<Record<string, unknown> | undefined>;
  /** `owned_by` of the model in /v1/models (vllm, sglang, llamacpp, deepseek, switchyard...), if given. */
  ownedBy(): Promise<string | undefined>;
  /**
   * prompt_tokens of a one-token completion of a fixed prompt, with or without a suffix;
   * `{ refused }` with the server's message when it answers 4xx; undefined without usage counts.
   */
  promptTokens(withSuffix: boolean): Promise<number | { refused: string } | undefined>;
}

const FIX = 'switchyard.remote.fimFormat';

/** The first text whose tokenization is exactly one id, with that id. */
async function oneId(probe: FimProbe, texts: (string | undefined)[]): Promise<(number | undefined)[]> {
  return Promise.all(
    texts.map(async (t) => {
      if (t === undefined) return undefined;
      const ids = await probe.tokenize(t);
      return ids && ids.length === 1 ? ids[0] : undefined;
    }),
  );
}

/** The layout whose FIM tokens the served tokenizer has, from /tokenize; null when none; undefined without /tokenize. */
export async function layoutFromTokenizer(probe: FimProbe): Promise<{ layout: FimTextLayout; stopIds: number[] } | null | undefined> {
  const spellings = FIM_TEXT_FAMILIES.flatMap((f) => f.spellings.map((s) => ({ family: f.family, order: f.order, s })));
  // One request first: a server without /tokenize answers 404 once, not once per candidate.
  const first = await probe.tokenize(spellings[0]!.s.prefix);
  if (first === undefined) return undefined;
  const prefixIds = await oneId(probe, spellings.map((x, i) => (i === 0 ? undefined : x.s.prefix)));
  prefixIds[0] = first.length === 1 ? first[0] : undefined;
  for (let i = 0; i < spellings.length; i++) {
    if (prefixIds[i] === undefined) continue;
    const { family, order, s } = spellings[i]!;
    const [suffix, middle, repoName, fileSep] = await oneId(probe, [s.suffix, s.middle, s.repoName, s.fileSep]);
    if (suffix === undefined || (order === 'psm' && middle === undefined)) continue;
    const ids = [prefixIds[i]!, suffix, middle].filter((x): x is number => x !== undefined);
    if (new Set(ids).size !== ids.length) continue;
    // The repo form needs the file separator; the repo name token alone is of no use (as fim.ts).
    const tokens: FimTextTokens = { prefix: s.prefix, suffix: s.suffix, middle: s.middle };
    if (fileSep !== undefined) {
      tokens.fileSep = s.fileSep;
      if (repoName !== undefined) tokens.repoName = s.repoName;
    }
    const layout = fimTextLayout(family, tokens);
    const stopIds = [...ids, ...(fileSep !== undefined ? [fileSep] : []), ...(fileSep !== undefined && repoName !== undefined ? [repoName] : [])];
    return { layout, stopIds };
  }
  return null;
}

const LAYOUT_NAMES = REMOTE_FIM_SETTINGS.filter((s) => s !== 'auto' && s !== 'suffix' && s !== 'infill').join(', ');

/** Why completions fall back to the prefix alone, and what fixes it. */
function plain(shown: string, reason: string): RemoteFim {
  return {
    mode: 'plain',
    why:
      `Completions from ${shown} continue the text before the cursor only, without the code after it: ${reason}. ` +
      `Set ${FIX} to the model's FIM layout (${LAYOUT_NAMES}), to "infill" for llama.cpp's /infill, or to "suffix" if the server honours it.`,
  };
}

/** Resolves how completions reach the server (see the file comment). `shown`: the endpoint as shown to the user. */
export async function detectRemoteFim(setting: RemoteFimSetting, probe: FimProbe, shown: string): Promise<RemoteFim> {
  if (setting === 'suffix') return { mode: 'suffix', why: `${FIX} is "suffix": the server lays out fill-in-the-middle` };
  if (setting === 'infill') return { mode: 'infill', why: `${FIX} is "infill": llama.cpp's /infill` };
  if (setting !== 'auto') return { mode: 'layout', layout: fimTextLayout(setting), why: `${FIX} is "${setting}": the ${setting} layout, sent as the prompt` };

  const [found, props, ownedBy] = await Promise.all([layoutFromTokenizer(probe), probe.props(), probe.ownedBy()]);
  const llamaCpp = props !== undefined || ownedBy === 'llamacpp';
  const server = llamaCpp ? "llama.cpp's server" : ownedBy ? `the server (${ownedBy})` : 'the server';
  if (found) {
    return { mode: 'layout', layout: found.layout, stopIds: found.stopIds, why: `the ${found.layout.family} layout, sent as the prompt (${server}'s /tokenize knows its FIM tokens)` };
  }
  const noTokens = found === null ? `${server}'s /tokenize knows none of the FIM tokens of ${LAYOUT_NAMES}` : `${server} has no /tokenize to find the model's FIM tokens`;
  if (llamaCpp) return plain(shown, `${noTokens}, and llama.cpp's server drops "suffix"`);

  const without = await probe.promptTokens(false);
  const withSuffix = await probe.promptTokens(true);
  if (typeof withSuffix === 'object') return plain(shown, `${noTokens}, and it refused "suffix" (${withSuffix.refused})`);
  if (typeof withSuffix === 'number' && typeof without === 'number') {
    if (withSuffix > without) return { mode: 'suffix', why: `"suffix" on /v1/completions (${server} counts it in the prompt)` };
    return plain(shown, `${noTokens}, and it ignores "suffix" (the same prompt token count with and without it)`);
  }
  // No usage counts to check by: suffix is the OpenAI API's own way, so it is tried, and said so.
  return { mode: 'suffix', why: `"suffix" on /v1/completions, unverified: ${server} reports no token counts, so whether it honours "suffix" is unknown (${noTokens}; ${FIX} can name a layout)` };
}

/** A 4xx answer to a request with `suffix` that is about the suffix (vLLM, engine serve --no-suffix). */
export function refusesSuffix(status: number | undefined, message: string): boolean {
  return status !== undefined && status >= 400 && status < 500 && /suffix/i.test(message);
}
