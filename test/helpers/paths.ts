/**
 * Where the repository and the shared test data are, for tests.
 *
 * `__dirname` is used where it exists (CommonJS); under ESM we search upward from the working
 * directory for our package.json, which is where `npm test` runs.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

function findRepoFromCwd(): string {
  for (let dir = process.cwd(); ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'switchyard') return dir;
      } catch {
        // not ours; keep looking
      }
    }
    if (path.dirname(dir) === dir) throw new Error(`cannot find the switchyard repository above ${process.cwd()}`);
  }
}

/** The repository root (the folder holding package.json). */
export function repoDir(): string {
  // test/helpers/paths.ts -> repository root is two levels up.
  return typeof __dirname === 'string' ? path.resolve(__dirname, '..', '..') : findRepoFromCwd();
}

/**
 * The shared data folder: $SWITCHYARD_SHARED, else `<repo>/../shared`, else `/work/shared` (where a
 * CI clone that sits elsewhere still finds it). Tests fail, never skip, when it is absent.
 */
export function sharedDir(): string {
  const env = process.env.SWITCHYARD_SHARED;
  if (env) return path.resolve(env);
  const beside = path.resolve(repoDir(), '..', 'shared');
  if (existsSync(beside) || !existsSync('/work/shared')) return beside;
  return '/work/shared';
}
