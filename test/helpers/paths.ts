/**
 * Where the repository and the shared test data are, for tests.
 *
 * The repository has no `"type": "module"`, so TypeScript (NodeNext) treats these .ts files as
 * CommonJS and rejects `import.meta`; `__dirname` is used where it exists, with a fallback that
 * also works if the project turns into ESM.
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

/** The shared data folder: $SWITCHYARD_SHARED, else `<repo>/../shared`. */
export function sharedDir(): string {
  const env = process.env.SWITCHYARD_SHARED;
  return env ? path.resolve(env) : path.resolve(repoDir(), '..', 'shared');
}
