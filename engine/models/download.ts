/**
 * Downloads a model repo from the Hugging Face hub (or a mirror with its URL layout) into
 * `<dir>/<owner>--<name>/`: only what the engine reads (config.json, the safetensors weights and
 * their index, the tokenizer files, generation_config.json, chat_template.jinja), resumable, and
 * verified before use.
 *
 * The hub's own client, @huggingface/hub, lists the files (`listFiles`: sizes, LFS sha256) and
 * resolves each file's URL and size (`fileDownloadInfo`). The bytes are then fetched here with a
 * Range header: the library's `downloadFile` has no range option, and the Blob it returns hides the
 * HTTP status, so a server that ignores Range (200 with the whole file) could not be told from one
 * that honours it (206) and the .part file would be corrupted; it also turns errors into strings.
 *
 * Each file is written to `<file>.part`, hashed as it arrives (the resumed prefix is hashed first),
 * checked for size and hash (sha256 for LFS files, the git blob sha1 for the others), and only then
 * renamed into place and recorded in the folder's manifest (manifest.ts). No 'vscode' import: the
 * CLI and the extension host both use this.
 */
import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileDownloadInfo, HubApiError, listFiles } from '@huggingface/hub';
import { MANIFEST_FILE, readManifest, writeManifest, type DownloadManifest, type ManifestFile } from './manifest.ts';
import { modelFolderName, parseRepoId } from './repo-id.ts';

export { MANIFEST_FILE } from './manifest.ts';

export const DEFAULT_HUB_URL = 'https://huggingface.co';
export const INDEX_FILE = 'model.safetensors.index.json';
/**
 * Small files the engine reads besides the weights (the tokenizer ones are needed by the service;
 * newer repos keep the chat template in chat_template.jinja rather than tokenizer_config.json).
 */
const SIDE_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja'];
const OTHER_WEIGHTS = /\.(bin|pt|pth|ckpt|gguf|onnx|h5|msgpack)$/i;

export type DownloadErrorKind = 'invalid' | 'auth' | 'not-found' | 'no-safetensors' | 'verify' | 'disk' | 'network' | 'cancelled';

export class DownloadError extends Error {
  override readonly name = 'DownloadError';
  constructor(
    /** What went wrong, for callers that react to it (e.g. 'auth': offer to set a token). */
    readonly kind: DownloadErrorKind,
    message: string,
    readonly details: { file?: string; status?: number; cause?: unknown } = {},
  ) {
    super(message);
  }
}

export function isDownloadError(e: unknown): e is DownloadError {
  return e instanceof DownloadError;
}

export interface DownloadProgress {
  phase: 'listing' | 'downloading' | 'verifying' | 'done';
  /** The file being fetched or checked (its path in the repo); empty while listing. */
  file: string;
  fileBytesDone: number;
  fileBytesTotal: number;
  /** Over every file the model needs, verified ones from earlier runs included. */
  bytesDone: number;
  bytesTotal: number;
  filesDone: number;
  filesTotal: number;
  /** Bytes per second received over the last few seconds (0 before any arrived). */
  bytesPerSecond: number;
}

export interface DownloadOptions {
  /** "owner/name". */
  repo: string;
  /** Branch, tag or commit (default "main"). */
  revision?: string;
  /** The models folder; the model goes into `<dir>/<owner>--<name>/`. */
  dir: string;
  /** Default https://huggingface.co. */
  hubUrl?: string;
  /** A Hugging Face token ("hf_..."), for gated and private models. */
  accessToken?: string;
  onProgress?: (p: DownloadProgress) => void;
  /** Aborting stops within one network read; .part files stay for the next run to resume. */
  signal?: AbortSignal;
  fetch?: typeof fetch;
  /** Times a file's transfer is tried again in one run after a network error or a 5xx, resuming with Range (default 2). */
  retries?: number;
}

export interface DownloadResult {
  /** The model folder. */
  path: string;
  repo: string;
  revision: string;
  commit?: string;
  files: ManifestFile[];
  /** Bytes received in this run. */
  downloadedBytes: number;
  /** Files already there and verified, not fetched again. */
  skipped: string[];
  /** Things the engine may miss (e.g. no tokenizer.json). */
  warnings: string[];
}

/** A repo file as the listing describes it. */
export interface RepoFile {
  path: string;
  size: number;
  sha256?: string;
  gitOid?: string;
}

/**
 * Which of the repo's files to fetch before the weights (side files and the index) and which weight
 * files, or why the repo cannot be used. Files in subfolders are never needed (e.g. `original/`).
 * With an index the shards come from its weight_map (see `shardsFromIndex`), not from here.
 */
export function planFiles(repo: string, listed: RepoFile[]): { side: RepoFile[]; index?: RepoFile; weights: RepoFile[]; warnings: string[] } {
  const top = listed.filter((f) => !f.path.includes('/'));
  const byName = new Map(top.map((f) => [f.path, f]));
  if (!byName.has('config.json')) throw new DownloadError('invalid', `${repo} has no config.json at its top level: it is not a Hugging Face transformers checkpoint`);
  const weights = top.filter((f) => f.path.endsWith('.safetensors'));
  if (weights.length === 0) {
    const other = top.filter((f) => OTHER_WEIGHTS.test(f.path)).map((f) => f.path);
    throw new DownloadError(
      'no-safetensors',
      `${repo} has no .safetensors weights${other.length ? ` (only ${other.slice(0, 3).join(', ')}${other.length > 3 ? ', ...' : ''})` : ''}: the engine reads safetensors only`,
    );
  }
  const side = SIDE_FILES.map((n) => byName.get(n)).filter((f): f is RepoFile => !!f);
  const warnings: string[] = [];
  for (const n of ['tokenizer.json', 'tokenizer_config.json']) {
    if (!byName.has(n)) warnings.push(`${repo} has no ${n}: the engine service needs it to run the model`);
  }
  return { side, index: byName.get(INDEX_FILE), weights, warnings };
}

/** The shards an index names, each of which must be in the listing. */
export function shardsFromIndex(repo: string, indexText: string, listed: RepoFile[]): RepoFile[] {
  let map: unknown;
  try {
    map = (JSON.parse(indexText) as { weight_map?: unknown }).weight_map;
  } catch (e) {
    throw new DownloadError('invalid', `${repo}: ${INDEX_FILE} is not valid JSON (${(e as Error).message})`, { file: INDEX_FILE });
  }
  if (!map || typeof map !== 'object' || Array.isArray(map)) throw new DownloadError('invalid', `${repo}: ${INDEX_FILE} has no weight_map object`, { file: INDEX_FILE });
  const names = [...new Set(Object.values(map as Record<string, unknown>))];
  const byName = new Map(listed.map((f) => [f.path, f]));
  return names.map((n) => {
    const f = typeof n === 'string' ? byName.get(n) : undefined;
    if (!f || f.path.includes('/')) throw new DownloadError('invalid', `${repo}: ${INDEX_FILE} names the shard ${JSON.stringify(n)}, which the repo does not have`, { file: INDEX_FILE });
    return f;
  });
}

interface Ctx {
  repo: string;
  revision: string;
  /** The revision files are resolved at: the commit once the hub has named it, so all files match. */
  pinned: string;
  hubUrl: string;
  token?: string;
  signal?: AbortSignal;
  retries: number;
  folder: string;
  fetch: typeof fetch;
  hubFetch: typeof fetch;
  /** What the last hub responses said beyond their status (X-Repo-Commit, X-Error-Code). */
  seen: { commit?: string; errorCode?: string; errorMessage?: string };
}

const TRANSIENT = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

/** fetch, tried once more when a pooled keep-alive connection turns out to be closed (a request that never got an answer). */
async function fetchOnce(base: typeof fetch, input: Parameters<typeof fetch>[0], init: Parameters<typeof fetch>[1]): Promise<Response> {
  try {
    return await base(input, init);
  } catch (e) {
    const code = (e as { cause?: { code?: string } }).cause?.code;
    if (init?.signal?.aborted || !code || !TRANSIENT.has(code)) throw e;
    return base(input, init);
  }
}

/** The hub's fetch, wrapped to carry our AbortSignal (the library's calls take none) and to note the headers it drops. */
function wrapFetch(base: typeof fetch, signal: AbortSignal | undefined, seen: Ctx['seen']): typeof fetch {
  return async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
    const res = await fetchOnce(base, input, { ...init, signal: signal ?? init?.signal });
    const commit = res.headers.get('x-repo-commit');
    if (commit && /^[0-9a-f]{40}$/.test(commit)) seen.commit ??= commit;
    if (!res.ok) {
      seen.errorCode = res.headers.get('x-error-code') ?? undefined;
      seen.errorMessage = res.headers.get('x-error-message') ?? undefined;
    } else {
      seen.errorCode = seen.errorMessage = undefined;
    }
    return res;
  };
}

function cancelled(ctx: Ctx, file?: string): DownloadError {
  return new DownloadError('cancelled', `download of ${ctx.repo} cancelled${file ? ` during ${file}` : ''}: run it again to resume where it stopped`, { file });
}

/** An HTTP failure from the hub as a DownloadError with a message a user can act on. */
function httpError(ctx: Ctx, status: number, file?: string, detail?: string): DownloadError {
  const code = ctx.seen.errorCode;
  const what = file ? `${ctx.repo}: ${file}` : ctx.repo;
  const page = `${ctx.hubUrl}/${ctx.repo}`;
  if (status === 401 || status === 403) {
    if (code === 'RepoNotFound' && ctx.token) return new DownloadError('not-found', `${ctx.repo}: model repo not found on ${ctx.hubUrl} (or your token has no access to it)`, { status, file });
    if (code === 'GatedRepo' && ctx.token) {
      return new DownloadError('auth', `${ctx.repo} is a gated model: accept its terms on ${page} with the account of your Hugging Face token (HTTP ${status})`, { status, file });
    }
    return new DownloadError(
      'auth',
      ctx.token
        ? `${what}: the hub refused your Hugging Face token (HTTP ${status}): check that it is valid and has access to ${page}`
        : `${what}: access denied (HTTP ${status}): a gated or private model needs a Hugging Face token${code === 'RepoNotFound' ? ' (or the repo does not exist)' : ''}`,
      { status, file },
    );
  }
  if (status === 404) {
    if (code === 'RevisionNotFound') return new DownloadError('not-found', `${ctx.repo}: revision '${ctx.revision}' not found`, { status, file });
    if (code === 'RepoNotFound' || !file) {
      return new DownloadError('not-found', `${ctx.repo}${code === 'RepoNotFound' ? '' : `@${ctx.revision}`}: model repo${code === 'RepoNotFound' ? '' : ' or revision'} not found on ${ctx.hubUrl}`, { status, file });
    }
    return new DownloadError('not-found', `${what}: file not found at revision ${ctx.pinned}`, { status, file });
  }
  if (status === 429) return new DownloadError('network', `${what}: the hub is rate-limiting requests (HTTP 429): try again later`, { status, file });
  return new DownloadError('network', `${what}: the hub answered HTTP ${status}${detail ? ` (${detail})` : ''}`, { status, file });
}

function networkReason(e: unknown): string {
  const cause = (e as { cause?: { message?: string; code?: string } }).cause;
  return String(cause?.code ?? cause?.message ?? (e as Error)?.message ?? e);
}

/** Maps whatever the library or fetch threw onto a DownloadError. */
function hubFailure(ctx: Ctx, e: unknown, file?: string): DownloadError {
  if (e instanceof DownloadError) return e;
  if (ctx.signal?.aborted) return cancelled(ctx, file);
  if (e instanceof HubApiError) return httpError(ctx, e.statusCode, file, ctx.seen.errorMessage);
  if (e instanceof TypeError && /access token/i.test(e.message)) return new DownloadError('auth', `invalid Hugging Face token: ${e.message}`, { cause: e });
  return new DownloadError('network', `${file ? `${ctx.repo}: ${file}` : ctx.repo}: cannot reach ${ctx.hubUrl} (${networkReason(e)})`, { file, cause: e });
}

/** A file-system failure as a DownloadError naming the path. */
function diskError(p: string, e: unknown): DownloadError {
  if (e instanceof DownloadError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  const why =
    code === 'ENOSPC' || code === 'EDQUOT'
      ? 'no space left on the disk'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'EROFS'
          ? 'the file system is read-only'
          : String((e as Error).message ?? e);
  return new DownloadError('disk', `cannot write ${p}: ${why}${code ? ` (${code})` : ''}`, { file: p, cause: e });
}

async function onDisk<T>(p: string, fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw diskError(p, e);
  }
}

interface Hasher {
  hash: Hash;
  algo: 'sha256' | 'git-sha1';
  expected: string;
}

function newHasher(f: RepoFile): Hasher | undefined {
  if (f.sha256) return { hash: createHash('sha256'), algo: 'sha256', expected: f.sha256 };
  if (f.gitOid) {
    const hash = createHash('sha1');
    hash.update(`blob ${f.size}\0`);
    return { hash, algo: 'git-sha1', expected: f.gitOid };
  }
  return undefined;
}

async function hashFile(h: Hasher | undefined, p: string, signal?: AbortSignal): Promise<void> {
  if (!h) return;
  for await (const chunk of fs.createReadStream(p, { highWaterMark: 1 << 20, signal })) h.hash.update(chunk as Buffer);
}

function manifestEntry(f: RepoFile): ManifestFile {
  return { path: f.path, size: f.size, ...(f.sha256 ? { sha256: f.sha256 } : {}), ...(f.gitOid ? { gitOid: f.gitOid } : {}) };
}

function sameFile(a: ManifestFile | undefined, b: RepoFile): boolean {
  return !!a && a.size === b.size && a.sha256 === b.sha256 && a.gitOid === b.gitOid;
}

function fileSize(p: string): number | undefined {
  try {
    const st = fs.statSync(p);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}

/** Progress bookkeeping: totals, a throttle, and the rate over a sliding window. */
class Meter {
  done = 0;
  total = 0;
  filesDone = 0;
  filesTotal = 0;
  received = 0;
  #samples: [number, number][] = [];
  #last = 0;
  constructor(private readonly report?: (p: DownloadProgress) => void) {}

  add(n: number): void {
    this.received += n;
    const now = performance.now();
    this.#samples.push([now, this.received]);
    while (this.#samples.length > 2 && now - this.#samples[0]![0] > 5000) this.#samples.shift();
  }

  rate(): number {
    const s = this.#samples;
    if (s.length < 2) return 0;
    const dt = (s[s.length - 1]![0] - s[0]![0]) / 1000;
    return dt > 0 ? (s[s.length - 1]![1] - s[0]![1]) / dt : 0;
  }

  emit(phase: DownloadProgress['phase'], file: string, fileDone: number, fileTotal: number, force = false): void {
    if (!this.report) return;
    const now = performance.now();
    // Reports are throttled: a chunk arrives every few KiB, and a progress UI needs ~10 per second.
    if (!force && now - this.#last < 100) return;
    this.#last = now;
    this.report({
      phase,
      file,
      fileBytesDone: fileDone,
      fileBytesTotal: fileTotal,
      bytesDone: this.done + fileDone,
      bytesTotal: this.total,
      filesDone: this.filesDone,
      filesTotal: this.filesTotal,
      bytesPerSecond: this.rate(),
    });
  }
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Error('aborted'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** GET the file from `offset` (a Range request when offset > 0), with HTTP errors mapped. */
async function requestBytes(ctx: Ctx, url: string, f: RepoFile, offset: number): Promise<Response> {
  // The token goes to the hub only: a resolved CDN URL is signed already and needs no token.
  const toHub = new URL(url).origin === new URL(ctx.hubUrl).origin;
  let res: Response;
  try {
    res = await fetchOnce(ctx.fetch, url, {
      headers: { ...(offset > 0 ? { Range: `bytes=${offset}-` } : {}), ...(ctx.token && toHub ? { Authorization: `Bearer ${ctx.token}` } : {}) },
      signal: ctx.signal,
    });
  } catch (e) {
    throw hubFailure(ctx, e, f.path);
  }
  if (res.status === 200 || res.status === 206 || res.status === 416) return res;
  await res.body?.cancel().catch(() => {});
  ctx.seen.errorCode = res.headers.get('x-error-code') ?? undefined;
  throw httpError(ctx, res.status, f.path);
}

/** The start offset of a 206 reply (`Content-Range: bytes <start>-<end>/<total>`), or NaN. */
function rangeStart(res: Response): number {
  const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
  return m ? Number(m[1]) : NaN;
}

/**
 * Fetches one file into `<file>.part` (continuing an earlier .part), verifies it and renames it into
 * place, reporting progress through `meter`.
 */
async function fetchFile(ctx: Ctx, f: RepoFile, meter: Meter): Promise<void> {
  const final = path.join(ctx.folder, f.path);
  const part = `${final}.part`;
  let info;
  try {
    info = await fileDownloadInfo({ repo: ctx.repo, path: f.path, revision: ctx.pinned, hubUrl: ctx.hubUrl, accessToken: ctx.token, fetch: ctx.hubFetch });
  } catch (e) {
    throw hubFailure(ctx, e, f.path);
  }
  if (!info) throw new DownloadError('not-found', `${ctx.repo}: ${f.path} is listed but not found at revision ${ctx.pinned}`, { file: f.path, status: 404 });
  // Later files are resolved at the commit the hub just named, so a push during the download cannot mix versions.
  if (ctx.seen.commit && ctx.pinned === ctx.revision) ctx.pinned = ctx.seen.commit;
  if (info.size !== f.size) {
    throw new DownloadError('verify', `${ctx.repo}: ${f.path}: the listing says ${f.size} bytes but the hub serves ${info.size}; the repo may have changed during the download, run it again`, {
      file: f.path,
    });
  }

  let offset = fileSize(part) ?? 0;
  if (offset > f.size) {
    await onDisk(part, () => fs.promises.rm(part, { force: true }));
    offset = 0;
  }
  let hasher = newHasher(f);
  if (offset > 0) {
    meter.emit('verifying', f.path, offset, f.size, true);
    try {
      await hashFile(hasher, part, ctx.signal);
    } catch (e) {
      if (ctx.signal?.aborted) throw cancelled(ctx, f.path);
      throw diskError(part, e);
    }
  }
  const fh = await onDisk(part, () => fs.promises.open(part, 'a'));
  let attempts = 0;
  let restarts = 0;
  let dropPart = false;
  try {
    while (offset < f.size) {
      meter.emit('downloading', f.path, offset, f.size, true);
      let res: Response;
      try {
        res = await requestBytes(ctx, info.url, f, offset);
      } catch (e) {
        // No connection, or a 5xx from a busy CDN: worth another try; 4xx answers are final.
        const transient = e instanceof DownloadError && e.kind === 'network' && (e.details.status === undefined || e.details.status >= 500);
        if (!transient || ++attempts > ctx.retries) throw e;
        await pause(500 * attempts, ctx.signal).catch(() => {
          throw cancelled(ctx, f.path);
        });
        continue;
      }
      if (res.status === 416 || (res.status === 206 && rangeStart(res) !== offset) || (res.status === 200 && offset > 0)) {
        // The server cannot continue from here (it ignored the Range, or answered another one): start the file over.
        if (++restarts > 2) throw new DownloadError('network', `${ctx.repo}: ${f.path}: the hub keeps answering with the wrong range (HTTP ${res.status})`, { file: f.path });
        await onDisk(part, () => fh.truncate(0));
        offset = 0;
        hasher = newHasher(f);
        if (res.status !== 200) {
          await res.body?.cancel().catch(() => {});
          continue;
        }
      }
      if (!res.body) throw new DownloadError('network', `${ctx.repo}: ${f.path}: the hub sent an empty reply`, { file: f.path });
      try {
        // Node's web ReadableStream is async-iterable; the DOM typings do not say so.
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          if (offset + chunk.length > f.size) {
            throw new DownloadError('verify', `${ctx.repo}: ${f.path}: size mismatch: expected ${f.size} bytes, the server sent more`, { file: f.path });
          }
          await onDisk(part, () => fh.write(chunk));
          hasher?.hash.update(chunk);
          offset += chunk.length;
          meter.add(chunk.length);
          meter.emit('downloading', f.path, offset, f.size);
        }
      } catch (e) {
        if (e instanceof DownloadError) throw e;
        if (ctx.signal?.aborted) throw cancelled(ctx, f.path);
        if (++attempts > ctx.retries) {
          throw new DownloadError(
            'network',
            `${ctx.repo}: ${f.path}: the download was interrupted after ${offset} of ${f.size} bytes (${networkReason(e)}); run it again to resume`,
            { file: f.path, cause: e },
          );
        }
        await pause(500 * attempts, ctx.signal).catch(() => {
          throw cancelled(ctx, f.path);
        });
        continue;
      }
      if (offset < f.size) break; // the body ended early without an error: a size mismatch, reported below
    }
  } catch (e) {
    dropPart = e instanceof DownloadError && e.kind === 'verify';
    throw e;
  } finally {
    await fh.close().catch(() => {});
    // A .part with wrong bytes must not be resumed; one cut short by the network or a cancel is kept.
    if (dropPart) await fs.promises.rm(part, { force: true });
  }
  if (offset !== f.size) {
    await fs.promises.rm(part, { force: true });
    throw new DownloadError('verify', `${ctx.repo}: ${f.path}: size mismatch: expected ${f.size} bytes, got ${offset}`, { file: f.path });
  }
  meter.emit('verifying', f.path, offset, f.size, true);
  if (hasher) {
    const actual = hasher.hash.digest('hex');
    if (actual !== hasher.expected) {
      await fs.promises.rm(part, { force: true });
      throw new DownloadError('verify', `${ctx.repo}: ${f.path}: ${hasher.algo} mismatch: expected ${hasher.expected}, got ${actual}; the corrupt download was deleted`, {
        file: f.path,
      });
    }
  }
  await onDisk(final, () => fs.promises.rename(part, final));
}

/** Whether a file already in place is the listed one (size, then hash). */
async function verifyInPlace(ctx: Ctx, f: RepoFile): Promise<boolean> {
  const p = path.join(ctx.folder, f.path);
  if (fileSize(p) !== f.size) return false;
  const h = newHasher(f);
  if (!h) return true;
  try {
    await hashFile(h, p, ctx.signal);
  } catch (e) {
    if (ctx.signal?.aborted) throw cancelled(ctx, f.path);
    return false;
  }
  return h.hash.digest('hex') === h.expected;
}

/**
 * Downloads what the engine needs from `repo` into `<dir>/<owner>--<name>/` and returns the folder.
 * Safe to run again: verified files are skipped, interrupted ones continue from their .part.
 */
export async function downloadModel(o: DownloadOptions): Promise<DownloadResult> {
  let repoId;
  try {
    repoId = parseRepoId(o.repo);
  } catch (e) {
    throw new DownloadError('invalid', `invalid model id: ${(e as Error).message}`);
  }
  const revision = o.revision?.trim() || 'main';
  const seen: Ctx['seen'] = {};
  const base = o.fetch ?? fetch;
  const ctx: Ctx = {
    repo: repoId.id,
    revision,
    pinned: revision,
    hubUrl: (o.hubUrl?.trim() || DEFAULT_HUB_URL).replace(/\/+$/, ''),
    token: o.accessToken?.trim() || undefined,
    signal: o.signal,
    retries: o.retries ?? 2,
    folder: path.join(path.resolve(o.dir), modelFolderName(repoId.id)),
    fetch: base,
    hubFetch: wrapFetch(base, o.signal, seen),
    seen,
  };
  if (!URL.canParse(ctx.hubUrl) || !/^https?:$/.test(new URL(ctx.hubUrl).protocol)) throw new DownloadError('invalid', `the hub URL ${ctx.hubUrl} is not an http(s) URL`);
  const meter = new Meter(o.onProgress);
  if (o.signal?.aborted) throw cancelled(ctx);
  meter.emit('listing', '', 0, 0, true);

  const listed: RepoFile[] = [];
  try {
    for await (const e of listFiles({ repo: ctx.repo, revision, hubUrl: ctx.hubUrl, accessToken: ctx.token, fetch: ctx.hubFetch })) {
      if (e.type !== 'file') continue;
      // LFS (and xet-backed) files carry their content sha256; for the others `oid` is the git blob sha1
      // of the content itself. A xet file without LFS info has only the xet hash: size is checked then.
      const sha256 = e.lfs?.oid;
      listed.push({ path: e.path, size: e.lfs?.size ?? e.size, ...(sha256 ? { sha256 } : !e.xetHash && e.oid ? { gitOid: e.oid } : {}) });
    }
  } catch (e) {
    throw hubFailure(ctx, e);
  }
  if (/^[0-9a-f]{40}$/.test(revision)) seen.commit ??= revision;
  const plan = planFiles(ctx.repo, listed);

  await onDisk(ctx.folder, () => fs.promises.mkdir(ctx.folder, { recursive: true }));
  const previous = readManifest(ctx.folder);
  const known = new Map((previous?.repo === ctx.repo ? previous.files : []).map((f) => [f.path, f]));
  const verified = new Map<string, ManifestFile>();
  const skipped: string[] = [];
  // A run that fetched nothing may not hear the commit from the hub: the previous run's then still holds.
  const commit = () => seen.commit ?? (previous?.repo === ctx.repo && previous.revision === revision ? previous.commit : undefined);
  const manifest = (complete: boolean): DownloadManifest => ({
    version: 1,
    repo: ctx.repo,
    revision,
    ...(commit() ? { commit: commit() } : {}),
    hubUrl: ctx.hubUrl,
    complete,
    files: [...verified.values()],
    updatedAt: new Date().toISOString(),
  });
  const record = async (f: RepoFile) => {
    verified.set(f.path, manifestEntry(f));
    await onDisk(path.join(ctx.folder, MANIFEST_FILE), () => writeManifest(ctx.folder, manifest(false)));
  };

  /** Skips `f` when it is verified already (by the manifest, or by hashing a file found in place). */
  const alreadyThere = async (f: RepoFile): Promise<boolean> => {
    const p = path.join(ctx.folder, f.path);
    if (sameFile(known.get(f.path), f) && fileSize(p) === f.size) return true;
    if (fileSize(p) !== undefined) {
      meter.emit('verifying', f.path, 0, f.size, true);
      if (await verifyInPlace(ctx, f)) return true;
      await onDisk(p, () => fs.promises.rm(p, { force: true }));
    }
    return false;
  };
  const get = async (f: RepoFile) => {
    if (await alreadyThere(f)) skipped.push(f.path);
    else await fetchFile(ctx, f, meter);
    await record(f);
    meter.filesDone++;
    meter.emit('downloading', f.path, f.size, f.size, true);
    meter.done += f.size;
  };

  // The index first: it says which shards are needed (a repo may also hold e.g. consolidated.safetensors).
  // Until the index is read, every top-level safetensors file counts: the total can then only shrink,
  // so the progress a UI shows never runs ahead and has to go back.
  const sum = (files: RepoFile[]) => files.reduce((a, f) => a + f.size, 0);
  const head = plan.index ? [plan.index] : [];
  let weights = plan.weights;
  meter.total = sum([...head, ...plan.side, ...weights]);
  meter.filesTotal = head.length + plan.side.length + weights.length;
  if (plan.index) {
    await get(plan.index);
    const text = await onDisk(path.join(ctx.folder, INDEX_FILE), () => fs.promises.readFile(path.join(ctx.folder, INDEX_FILE), 'utf8'));
    weights = shardsFromIndex(ctx.repo, text, listed);
    meter.total = sum([...head, ...plan.side, ...weights]);
    meter.filesTotal = head.length + plan.side.length + weights.length;
  }
  for (const f of [...plan.side, ...weights]) await get(f);

  const m = manifest(true);
  await onDisk(path.join(ctx.folder, MANIFEST_FILE), () => writeManifest(ctx.folder, m));
  meter.emit('done', '', 0, 0, true);
  return {
    path: ctx.folder,
    repo: ctx.repo,
    revision,
    commit: m.commit,
    files: m.files,
    downloadedBytes: meter.received,
    skipped,
    warnings: plan.warnings,
  };
}
