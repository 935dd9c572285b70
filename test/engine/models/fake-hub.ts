/**
 * A local stand-in for the Hugging Face hub, speaking the routes @huggingface/hub and the downloader
 * call, the way the real hub answers them:
 *   GET /api/models/<owner>/<name>/tree/<rev>[/<path>]?recursive=..&expand=..   JSON file list (listFiles)
 *   GET|HEAD /<owner>/<name>/resolve/<rev>/<path>   small files served directly; LFS files answered with
 *     a 302 to a "CDN" path (/cdn/<sha256>) carrying X-Linked-Size / X-Linked-ETag, as the hub does
 *   GET|HEAD /cdn/<sha256>   the LFS bytes, with Range support
 * Every response carries X-Repo-Commit where the hub sends it; errors carry X-Error-Code
 * (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo) and a JSON body.
 *
 * Faults for the tests (set them on the instance, reset() clears them): cut a transfer after N
 * bytes, ignore Range, flip a byte, send a short body, send slowly.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRepo {
  files: Map<string, Buffer>;
  /** Paths stored in LFS (listed with lfs.oid = sha256, served through the CDN redirect). */
  lfs: Set<string>;
  commit: string;
  /** When set, every request must carry `Authorization: Bearer <token>` (a gated/private repo). */
  token?: string;
}

export interface LoggedRequest {
  method: string;
  url: string;
  /** The repo file this request was about, when it was one. */
  file?: string;
  range?: string;
  auth?: string;
  status: number;
  /** Body bytes written. */
  bytesSent: number;
}

export function gitOid(content: Buffer): string {
  return createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
}

export function sha256(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

export class FakeHub {
  readonly repos = new Map<string, FakeRepo>();
  requests: LoggedRequest[] = [];
  /** Destroy the socket after `bytes` body bytes of a data request for `file`, `times` times. */
  cutAfter?: { file: string; bytes: number; times: number };
  /** Answer data requests for LFS files with 200 and the whole file, whatever Range says. */
  ignoreRange = false;
  /** Flip the byte at `offset` of `file` in every data response. */
  corrupt?: { file: string; offset: number };
  /** Send `file` one byte short (chunked, so the client sees a clean end). */
  shortBody?: string;
  /** Send `file` in `chunk`-byte pieces `delayMs` apart. */
  slow?: { file: string; chunk: number; delayMs: number };
  #server = http.createServer((req, res) => this.#handle(req, res));
  url = '';

  async start(): Promise<string> {
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }

  reset(): void {
    this.requests = [];
    this.cutAfter = undefined;
    this.ignoreRange = false;
    this.corrupt = undefined;
    this.shortBody = undefined;
    this.slow = undefined;
  }

  /** Data requests (not the library's 1-byte probes) that reached `file`. */
  dataRequests(file: string): LoggedRequest[] {
    return this.requests.filter((r) => r.file === file && r.method === 'GET' && r.range !== 'bytes=0-0' && r.status !== 302);
  }

  #error(res: http.ServerResponse, log: LoggedRequest, status: number, code: string | undefined, message: string): void {
    log.status = status;
    res.writeHead(status, { 'content-type': 'application/json', ...(code ? { 'x-error-code': code, 'x-error-message': message } : {}) });
    res.end(JSON.stringify({ error: message }));
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const u = new URL(req.url ?? '/', 'http://x');
    const log: LoggedRequest = { method: req.method ?? 'GET', url: req.url ?? '', range: req.headers.range, auth: req.headers.authorization, status: 0, bytesSent: 0 };
    this.requests.push(log);
    let m: RegExpExecArray | null;
    if ((m = /^\/cdn\/([0-9a-f]{64})$/.exec(u.pathname))) {
      for (const repo of this.repos.values()) {
        for (const [p, content] of repo.files) {
          if (repo.lfs.has(p) && sha256(content) === m[1]) return this.#serve(req, res, log, p, content, repo, true);
        }
      }
      return this.#error(res, log, 404, undefined, 'no such object');
    }
    const api = /^\/api\/models\/([^/]+)\/([^/]+)\/tree\/([^/]+)(?:\/(.*))?$/.exec(u.pathname);
    const resolve = /^\/([^/]+)\/([^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(u.pathname);
    const hit = api ?? resolve;
    if (!hit) return this.#error(res, log, 404, undefined, 'not found');
    const repoId = `${hit[1]}/${hit[2]}`;
    const rev = decodeURIComponent(hit[3]!);
    const repo = this.repos.get(repoId);
    if (!repo) return this.#error(res, log, 404, 'RepoNotFound', `Repository not found`);
    if (repo.token && req.headers.authorization !== `Bearer ${repo.token}`) {
      return this.#error(res, log, 401, 'GatedRepo', `Access to model ${repoId} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
    }
    if (rev !== 'main' && rev !== repo.commit) return this.#error(res, log, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
    if (api) {
      const recursive = u.searchParams.get('recursive') === 'true';
      const dirs = new Set<string>();
      const entries: unknown[] = [];
      for (const [p, content] of repo.files) {
        if (!recursive && p.includes('/')) {
          dirs.add(p.split('/')[0]!);
          continue;
        }
        if (repo.lfs.has(p)) {
          const pointer = Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(content)}\nsize ${content.length}\n`);
          entries.push({ type: 'file', oid: gitOid(pointer), size: content.length, path: p, lfs: { oid: sha256(content), size: content.length, pointerSize: pointer.length } });
        } else {
          entries.push({ type: 'file', oid: gitOid(content), size: content.length, path: p });
        }
      }
      for (const d of dirs) entries.push({ type: 'directory', oid: gitOid(Buffer.from(d)), size: 0, path: d });
      log.status = 200;
      res.writeHead(200, { 'content-type': 'application/json', 'x-repo-commit': repo.commit });
      res.end(JSON.stringify(entries));
      return;
    }
    const file = decodeURIComponent(hit[4]!);
    log.file = file;
    const content = repo.files.get(file);
    if (!content) return this.#error(res, log, 404, 'EntryNotFound', `Entry not found`);
    if (repo.lfs.has(file)) {
      // The hub redirects LFS files to its CDN, naming the real size and sha256 in X-Linked-* headers.
      log.status = 302;
      res.writeHead(302, {
        location: `/cdn/${sha256(content)}`,
        'x-repo-commit': repo.commit,
        'x-linked-size': String(content.length),
        'x-linked-etag': `"${sha256(content)}"`,
        etag: `"${gitOid(content)}"`,
      });
      res.end();
      return;
    }
    this.#serve(req, res, log, file, content, repo, false);
  }

  #serve(req: http.IncomingMessage, res: http.ServerResponse, log: LoggedRequest, file: string, content: Buffer, repo: FakeRepo, cdn: boolean): void {
    log.file = file;
    const size = content.length;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const probe = req.headers.range === 'bytes=0-0';
    let start = 0;
    let end = size - 1;
    let status = 200;
    if (range && !(this.ignoreRange && cdn && !probe)) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      if (start >= size) {
        log.status = 416;
        res.writeHead(416, { 'content-range': `bytes */${size}` });
        res.end();
        return;
      }
      status = 206;
    }
    let body = Buffer.from(content.subarray(start, end + 1));
    if (!probe && this.corrupt?.file === file && this.corrupt.offset >= start && this.corrupt.offset <= end) {
      body[this.corrupt.offset - start] ^= 0xff;
    }
    const short = !probe && this.shortBody === file;
    if (short) body = body.subarray(0, body.length - 1);
    const headers: http.OutgoingHttpHeaders = {
      'content-type': 'application/octet-stream',
      'accept-ranges': 'bytes',
      etag: `"${cdn ? sha256(content) : gitOid(content)}"`,
      ...(cdn ? {} : { 'x-repo-commit': repo.commit }),
      ...(status === 206 ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
      ...(short ? {} : { 'content-length': String(body.length) }),
    };
    log.status = status;
    res.writeHead(status, headers);
    if (req.method === 'HEAD') return void res.end();
    const cut = !probe && this.cutAfter?.file === file && this.cutAfter.times > 0 ? this.cutAfter : undefined;
    if (cut) {
      cut.times--;
      const n = Math.min(cut.bytes, body.length);
      log.bytesSent = n;
      // Flush the first n bytes, then drop the connection mid-body.
      res.write(body.subarray(0, n), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    const slow = !probe && this.slow?.file === file ? this.slow : undefined;
    if (!slow) {
      log.bytesSent = body.length;
      res.end(body);
      return;
    }
    let off = 0;
    const tick = () => {
      if (res.destroyed || res.socket?.destroyed) return;
      const piece = body.subarray(off, off + slow.chunk);
      off += piece.length;
      log.bytesSent = off;
      if (off >= body.length) return void res.end(piece);
      res.write(piece, () => setTimeout(tick, slow.delayMs));
    };
    tick();
  }
}
