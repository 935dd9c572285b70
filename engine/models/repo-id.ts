/**
 * Hugging Face model repo ids ("owner/name") and the folder a downloaded one lives in. Shared by the
 * downloader, the model store and the extension's input box, so all three accept the same ids.
 */

/** One part of a repo id, by the hub's rules: letters, digits, '.', '_', '-'; at most 96; no '--' or '..'. */
const PART = /^[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?$/;

export interface RepoId {
  /** Empty for the hub's few legacy ids without an owner ("gpt2"). */
  owner: string;
  name: string;
  /** "owner/name" (or "name"). */
  id: string;
}

/** The problem with `s` as a model repo id, in words for an input box; null when it is valid. */
export function repoIdProblem(s: string): string | null {
  const t = s.trim();
  if (!t) return 'enter a Hugging Face model id, e.g. deepseek-ai/DeepSeek-Coder-V2-Lite-Base';
  if (/^(datasets|spaces|buckets|kernels)\//.test(t)) return `${t} is not a model repo (only models can be downloaded)`;
  const parts = t.split('/');
  if (parts.length > 2) return `too many '/' in ${t}: expected owner/name`;
  for (const p of parts) {
    if (!PART.test(p) || p.includes('--') || p.includes('..')) {
      return `'${p}' is not a valid repo ${parts.length === 2 && p === parts[0] ? 'owner' : 'name'}: use letters, digits, '.', '_' and '-' (no '--' or '..', not starting or ending with '.' or '-')`;
    }
  }
  if (t.endsWith('.git')) return `${t}: a repo id does not end with .git`;
  return null;
}

export function parseRepoId(s: string): RepoId {
  const problem = repoIdProblem(s);
  if (problem) throw new TypeError(problem);
  const t = s.trim();
  const [a, b] = t.split('/') as [string, string | undefined];
  return b === undefined ? { owner: '', name: a, id: t } : { owner: a, name: b, id: t };
}

/** The folder name of a downloaded repo: "owner--name" ('--' cannot occur inside either part). */
export function modelFolderName(repo: string): string {
  const r = parseRepoId(repo);
  return r.owner ? `${r.owner}--${r.name}` : r.name;
}
