/**
 * How fill-in-the-middle reaches a remote server, found once per endpoint without trusting the
 * model's name. Servers differ: DeepSeek's API and `engine serve` honour `suffix` on
 * /v1/completions; llama.cpp's server drops it without a word; vLLM and SGLang refuse or ignore it
 * depending on version. So, unless `switchyard.remote.fimFormat` names a way:
 *
 * 1. the server's /tokenize (vLLM, llama.cpp's server, `engine serve`) is asked for the candidate
 *    FIM token texts of each layout; one whose tokens each come back as one id is the served
 *    model's, and the client lays the prompt out itself (fim-text.ts);
 * 2. else, unless /props says it is llama.cpp's server (which drops `suffix`), a one-token probe
 *    sends a fixed prompt with and without a suffix: `suffix` is used when the server counts more
 *    prompt tokens with it (refused with a 400, or the same count: it is not honoured);
 * 3. else, on a server without /tokenize that reports usage (SGLang), the same candidates are
 *    counted in one-token completions: a text that adds exactly one prompt token is a token of the
 *    model's, read as such by the very route the prompt will take;
 * 4. else completions continue the prefix alone, and the resolution says so (the caller logs it
 *    and shows it in the status bar tooltip) with the setting that fixes it.
 * What the server says of itself (/props, /v1/models' `owned_by`) only tells llama.cpp's server
 * apart and words the messages; the model's name is never used. Everything here is asked once per
 * configuration, with fixed texts: the user's code is never sent by detection.
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
   * prompt_tokens of a one-token /v1/completions of `prompt` (with `suffix` when given); `{ refused }`
   * with the server's message when it answers 4xx; undefined when it reports no counts.
   */
  promptTokens(prompt: string, suffix?: string): Promise<number | { refused: string } | undefined>;
}

const FIX = 'switchyard.remote.fimFormat';
/** Fixed texts for the probes (never the user's code). */
const PROBE_PREFIX = 'def area(width, height):\n    return ';
const PROBE_SUFFIX = '\n\n\nprint(area(3, 4))\nprint(area(5, 6))\n';
const COUNT_BASE = 'x = 1\n';

/** Whether `text` is one token of the served model, and its id where known. */
type OneToken = (text: string) => Promise<{ one: boolean; id?: number }>;

/** The layout whose FIM tokens `isOne` confirms, or null. */
async function findLayout(isOne: OneToken): Promise<{ layout: FimTextLayout; stopIds: number[] } | null> {
  const spellings = FIM_TEXT_FAMILIES.flatMap((f) => f.spellings.map((s) => ({ family: f.family, order: f.order, s })));
  const prefixes = await Promise.all(spellings.map((x) => isOne(x.s.prefix)));
  for (let i = 0; i < spellings.length; i++) {
    if (!prefixes[i]!.one) continue;
    const { family, order, s } = spellings[i]!;
    const none: { one: boolean; id?: number } = { one: false };
    const [suffix, middle, repoName, fileSep] = await Promise.all([s.suffix, s.middle, s.repoName, s.fileSep].map((t) => (t === undefined ? none : isOne(t))));
    if (!suffix!.one || (order === 'psm' && !middle!.one)) continue;
    const ids = [prefixes[i]!.id, suffix!.id, middle!.id].filter((x): x is number => x !== undefined);
    if (new Set(ids).size !== ids.length) continue;
    // The repo form needs the file separator; the repo name token alone is of no use (as in fim.ts).
    const tokens: FimTextTokens = { prefix: s.prefix, suffix: s.suffix, middle: s.middle };
    const stopIds = [...ids];
    if (fileSep!.one) {
      tokens.fileSep = s.fileSep;
      if (fileSep!.id !== undefined) stopIds.push(fileSep!.id);
      if (repoName!.one) {
        tokens.repoName = s.repoName;
        if (repoName!.id !== undefined) stopIds.push(repoName!.id);
      }
    }
    return { layout: fimTextLayout(family, tokens), stopIds };
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
  if (setting === 'infill') return { mode: 'infill', why: `${FIX} is "infill": llama.cpp's /infill lays out fill-in-the-middle` };
  if (setting !== 'auto') return { mode: 'layout', layout: fimTextLayout(setting), why: `${FIX} is "${setting}": that layout, sent as the prompt` };

  const [first, props, ownedBy] = await Promise.all([probe.tokenize(COUNT_BASE), probe.props(), probe.ownedBy()]);
  const llamaCpp = props !== undefined || ownedBy === 'llamacpp';
  const server = llamaCpp ? "llama.cpp's server" : ownedBy ? `the ${ownedBy} server` : 'the server';
  const layoutFound = (f: { layout: FimTextLayout; stopIds: number[] }, how: string): RemoteFim => ({
    mode: 'layout',
    layout: f.layout,
    ...(f.stopIds.length > 0 ? { stopIds: f.stopIds } : {}),
    why: `the ${f.layout.family} layout, sent as the prompt (${how})`,
  });

  let noTokens = `${server} has no /tokenize to find the model's FIM tokens by`;
  if (first !== undefined) {
    const found = await findLayout(async (t) => {
      const ids = await probe.tokenize(t);
      return ids?.length === 1 ? { one: true, id: ids[0] } : { one: false };
    });
    if (found) return layoutFound(found, `${server}'s /tokenize knows its FIM tokens`);
    noTokens = `${server}'s /tokenize knows none of the FIM tokens of ${LAYOUT_NAMES}`;
  }
  if (llamaCpp) return plain(shown, `${noTokens}, and llama.cpp's server drops "suffix"`);

  const without = await probe.promptTokens(PROBE_PREFIX);
  const withSuffix = await probe.promptTokens(PROBE_PREFIX, PROBE_SUFFIX);
  if (typeof withSuffix === 'number' && typeof without === 'number' && withSuffix > without) {
    return { mode: 'suffix', why: `"suffix" on /v1/completions (${server} counts it in the prompt)` };
  }
  const suffixNo = typeof withSuffix === 'object' ? `it refused "suffix" (${withSuffix.refused})` : typeof withSuffix === 'number' ? 'it ignores "suffix" (the same prompt token count with and without it)' : undefined;

  if (first === undefined && typeof without === 'number') {
    // No /tokenize, but counts: a candidate that adds exactly one prompt token is one token.
    const baseCount = probe.promptTokens(COUNT_BASE);
    const found = await findLayout(async (t) => {
      const n = await probe.promptTokens(COUNT_BASE + t);
      const base = await baseCount;
      return { one: typeof n === 'number' && typeof base === 'number' && n - base === 1 };
    });
    if (found) return layoutFound(found, `${server} counts its FIM tokens as one token each${suffixNo ? `; ${suffixNo}` : ''}`);
    noTokens = `${server} counts none of the FIM tokens of ${LAYOUT_NAMES} as one token`;
  }
  if (suffixNo) return plain(shown, `${noTokens}, and ${suffixNo}`);
  // No counts to check by: suffix is the OpenAI API's own way, so it is tried, and said so.
  return { mode: 'suffix', why: `"suffix" on /v1/completions, unverified: ${server} reports no token counts, so whether it honours "suffix" is unknown (${noTokens}; ${FIX} can name a layout)` };
}
