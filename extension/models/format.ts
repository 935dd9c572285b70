/**
 * The model commands' pure logic, without 'vscode' so it is unit-tested: reading a repo id from what
 * the user typed or pasted, progress texts, the model list's labels, and the fit verdict.
 */
import { describeProgress, formatSize } from '../../engine/models/format.ts';
import type { DownloadErrorKind, DownloadProgress } from '../../engine/models/download.ts';
import { repoIdProblem } from '../../engine/models/repo-id.ts';
import type { StoredModel } from '../../engine/models/store.ts';
import type { InspectModelResult, Quant } from '../../engine/protocol/protocol.ts';

export const HF_TOKEN_SECRET = 'switchyard.hfToken';
export const REPO_PLACEHOLDER = 'deepseek-ai/DeepSeek-Coder-V2-Lite-Base';

/**
 * The repo id (and revision, from a ".../tree/<rev>" link) in what was typed: an id, or a model page
 * URL copied from the hub or the configured mirror. Returns undefined when it is neither.
 */
export function parseRepoInput(input: string, hubUrl: string): { repo: string; revision?: string } | undefined {
  let s = input.trim().replace(/^["']|["']$/g, '');
  const hubs = [hubUrl.replace(/\/+$/, ''), 'https://huggingface.co', 'https://hf.co'];
  for (const h of hubs) {
    if (h && s.toLowerCase().startsWith(`${h.toLowerCase()}/`)) {
      s = s.slice(h.length + 1);
      break;
    }
  }
  if (/^[a-z]+:\/\//i.test(s)) return undefined;
  s = s.split(/[?#]/)[0]!.replace(/\/+$/, '');
  let revision: string | undefined;
  const m = /^([^/]+(?:\/[^/]+)?)\/(?:tree|blob|resolve)\/([^/]+)(?:\/.*)?$/.exec(s);
  if (m) {
    s = m[1]!;
    revision = decodeURIComponent(m[2]!);
  }
  if (repoIdProblem(s)) return undefined;
  return { repo: s, ...(revision && revision !== 'main' ? { revision } : {}) };
}

/** For the input box: undefined when acceptable, else what is wrong. */
export function validateRepoInput(input: string, hubUrl: string): string | undefined {
  if (!input.trim()) return `Enter a model id such as ${REPO_PLACEHOLDER}`;
  if (parseRepoInput(input, hubUrl)) return undefined;
  const asId = input.trim().replace(/^https?:\/\/[^/]+\//i, '');
  return repoIdProblem(asId.split(/[?#]/)[0]!) ?? `Not a model id or model page URL: use owner/name, e.g. ${REPO_PLACEHOLDER}`;
}

/** The notification text while downloading: "1.20 GB / 15.71 GB (8%) model-00001-of-00004.safetensors, 45.1 MB/s, 5 min left". */
export function progressText(p: DownloadProgress): string {
  return describeProgress(p);
}

/**
 * Tracks the percentage already reported, because VS Code's progress takes increments; returns the
 * next increment (0 when there is nothing new).
 */
export class ProgressSteps {
  #pct = 0;
  next(p: DownloadProgress): number {
    const pct = p.bytesTotal > 0 ? Math.min(100, (100 * p.bytesDone) / p.bytesTotal) : 0;
    const inc = Math.max(0, pct - this.#pct);
    this.#pct = Math.max(this.#pct, pct);
    return inc;
  }
}

export function stateLabel(m: StoredModel): string {
  return m.state === 'complete' ? 'ready' : m.state === 'partial' ? 'download not finished' : 'not usable';
}

/** "284.3B params, 13.8B active" (decimal, as model sizes are quoted); '' when unknown. */
export function paramsLabel(m: Pick<StoredModel, 'parameters' | 'activeParameters'>): string {
  if (!m.parameters) return '';
  const n = (x: number) => (x >= 1e9 ? `${(x / 1e9).toFixed(1)}B` : `${(x / 1e6).toFixed(1)}M`);
  return m.activeParameters && m.activeParameters < m.parameters ? `${n(m.parameters)} params, ${n(m.activeParameters)} active` : `${n(m.parameters)} params`;
}

/** A quick-pick row for a model in the folder. */
export function modelItem(m: StoredModel, currentModelPath: string): { label: string; description: string; detail: string } {
  const inUse = !!currentModelPath && samePath(currentModelPath, m.path);
  const icon = m.state === 'complete' ? (inUse ? '$(check)' : '$(package)') : m.state === 'partial' ? '$(cloud-download)' : '$(warning)';
  return {
    label: `${icon} ${m.repo ?? m.name}`,
    description: [formatSize(m.sizeBytes), paramsLabel(m), stateLabel(m), inUse ? 'in use' : ''].filter(Boolean).join(' · '),
    detail: m.problem ?? [m.architecture, m.revision && m.revision !== 'main' ? `revision ${m.revision}` : '', m.path].filter(Boolean).join(' · '),
  };
}

export function samePath(a: string, b: string): boolean {
  const norm = (p: string) => p.replace(/[\\/]+$/, '');
  return process.platform === 'win32' || process.platform === 'darwin' ? norm(a).toLowerCase() === norm(b).toLowerCase() : norm(a) === norm(b);
}

/** Bytes as binary gigabytes, the way memory is quoted: "12.3 GiB", "31 GiB", "512 MiB". */
export function formatMemory(bytes: number): string {
  const trim = (x: number) => x.toFixed(1).replace(/\.0$/, '');
  if (bytes >= 1024 ** 3) return `${trim(bytes / 1024 ** 3)} GiB`;
  return `${trim(bytes / 1024 ** 2)} MiB`;
}

const QUALITY_ORDER: readonly Quant[] = ['none', 'int8', 'int4'];

/** The most precise quantisation that fits the available memory, or undefined when none does. */
export function quantThatFits(r: Pick<InspectModelResult, 'totalBytesByQuant' | 'availableBytes'>): Quant | undefined {
  return QUALITY_ORDER.find((q) => r.totalBytesByQuant[q] <= r.availableBytes);
}

/**
 * The Check Memory Fit answer: the verdict line and, for the modal's detail, the sizes behind it
 * (parameters, weights under each quantisation, the KV cache at the context) and the advice.
 */
export function fitReport(r: InspectModelResult, name: string): { message: string; detail: string; fits: boolean } {
  const v = fitVerdict(r);
  const n = (x: number) => (x >= 1e9 ? `${(x / 1e9).toFixed(2)}B` : `${(x / 1e6).toFixed(1)}M`);
  const weights = r.weightsBytesByQuant
    ? ` Weights: ${QUALITY_ORDER.map((q) => `${q === 'none' ? 'float32' : q} ${formatMemory(r.weightsBytesByQuant![q])}`).join(', ')}.`
    : '';
  const from = r.countedFrom === 'config' ? ' Sized from config.json alone (no weights in the folder yet).' : '';
  return {
    fits: v.fits,
    message: `${name} ${v.summary}.`,
    detail: `${n(r.parameters)} parameters, ${n(r.activeParameters)} active per token.${weights} ${v.detail}${from}`,
  };
}

export interface FitVerdict {
  fits: boolean;
  /** "fits: needs 12.3 GiB of 31 GiB available, provider cuda" or "does not fit: needs ... but ... is available". */
  summary: string;
  /** For the modal warning: the breakdown and the engine's advice. */
  detail: string;
  /** A quantisation that would fit, when the current one does not. */
  suggestQuant?: Quant;
}

export function fitVerdict(r: InspectModelResult): FitVerdict {
  const e = r.estimate;
  const breakdown =
    `Weights ${formatMemory(e.weightsBytes)} (${r.quant}), KV cache ${formatMemory(e.kvBytes)} for ${r.contextLength} tokens, ` +
    (e.snapshotBytes ? `its snapshots for trimming ${formatMemory(e.snapshotBytes)}, ` : '') +
    `activations ${formatMemory(e.activationBytes)}, prefix cache ${formatMemory(e.prefixCacheBytes)}.`;
  if (r.fits) {
    return { fits: true, summary: `fits: needs ${formatMemory(e.totalBytes)} of ${formatMemory(r.availableBytes)} available, provider ${r.provider}`, detail: breakdown };
  }
  const q = quantThatFits(r);
  const suggestQuant = q && q !== r.quant ? q : undefined;
  const advice = suggestQuant
    ? `With ${suggestQuant} weights it needs ${formatMemory(r.totalBytesByQuant[suggestQuant])}.`
    : 'No quantisation fits: a shorter context or a smaller model would.';
  return {
    fits: false,
    summary: `does not fit: needs ${formatMemory(e.totalBytes)} but ${formatMemory(r.availableBytes)} is available`,
    detail: `${breakdown} ${advice} Loading it anyway will be refused by the engine or may run out of memory.`,
    ...(suggestQuant ? { suggestQuant } : {}),
  };
}

/** What to tell the user about a failed download, and the button that helps. */
export function downloadFailure(
  repo: string,
  e: { kind?: DownloadErrorKind; message: string },
  where: { hubUrl: string; resumable: boolean },
): { message: string; action?: 'setToken' | 'retry' | 'resume' } {
  if (e.kind === 'cancelled') return { message: `Download of ${repo} cancelled. Run "Download Model" with the same id to resume where it stopped.` };
  if (e.kind === 'auth') return { message: e.message, action: 'setToken' };
  if (e.kind === 'network') {
    // Resume only when there is something to resume from (an interrupted transfer's .part file);
    // a hub that could not be reached at all more often needs a mirror than another try.
    const kept = where.resumable ? ' What was downloaded is kept: Resume continues from there.' : '';
    return {
      message: `${e.message.replace(/\.?$/, '.')}${kept} If ${where.hubUrl} cannot be reached from here, set switchyard.models.hubUrl to a mirror of the hub.`,
      action: where.resumable ? 'resume' : 'retry',
    };
  }
  return { message: e.message };
}

/** Hugging Face tokens start with "hf_". */
export function validateToken(s: string): string | undefined {
  const t = s.trim();
  if (!t) return 'Paste a token from https://huggingface.co/settings/tokens';
  if (!/^hf_[A-Za-z0-9]{8,}$/.test(t)) return 'A Hugging Face token starts with "hf_" followed by letters and digits';
  return undefined;
}
