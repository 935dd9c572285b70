// A test run must leave the checkout as it found it: on a clean clone `git status` is clean after
// `npm test` (issue 13, item 16). The runners (scripts/run-tests.mjs, scripts/e2e/run.mjs) take a
// snapshot before and fail afterwards when a path became changed or untracked meanwhile (paths
// that were already dirty are left alone: they are the developer's own edits). Outside a git
// checkout (a tarball) there is nothing to compare, and the guard says nothing.
import { spawnSync } from 'node:child_process';

/** `git status` entries ("XY path") of `repo`, untracked files included; undefined outside a git checkout. */
export function dirtyPaths(repo) {
  const r = spawnSync('git', ['-C', repo, 'status', '--porcelain=v1', '--untracked-files=all', '-z'], { encoding: 'utf8' });
  if (r.status !== 0 || r.error) return undefined;
  return r.stdout.split('\0').filter(Boolean);
}

/**
 * Snapshot now; `check()` returns the entries that appeared since, less those under an `allowed`
 * prefix (e.g. docs/screenshots/ when they are updated on request).
 */
export function treeGuard(repo, allowed = []) {
  const before = dirtyPaths(repo);
  return {
    check() {
      if (!before) return [];
      const seen = new Set(before);
      const after = dirtyPaths(repo) ?? [];
      return after.filter((e) => !seen.has(e) && !allowed.some((a) => e.slice(3).startsWith(a)));
    },
  };
}

/** The runners' message for what `check()` found. */
export function treeGuardMessage(entries) {
  return (
    `the tests changed the checkout (git status now lists ${entries.length} new entr${entries.length === 1 ? 'y' : 'ies'}: ${entries.map((e) => JSON.stringify(e)).join(', ')}); ` +
    'tests must write under .cache/ or a temporary folder, never into tracked files'
  );
}
