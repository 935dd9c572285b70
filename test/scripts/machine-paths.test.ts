/**
 * No test or benchmark names an absolute path of the machine it was written on: the shared data
 * folder is found through test/helpers/paths.ts (SWITCHYARD_SHARED, or ../shared beside the
 * checkout), so a checkout anywhere else runs the same tests. paths.ts itself keeps one documented
 * fallback for this workplace's layout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoDir } from '../helpers/paths.ts';

function files(dir: string, out: string[] = []): string[] {
  for (const name of fs.readdirSync(dir)) {
    const p = path.join(dir, name);
    if (fs.statSync(p).isDirectory()) files(p, out);
    else if (/\.(ts|mjs)$/.test(name)) out.push(p);
  }
  return out;
}

test('tests and benchmarks reach shared data through the helper, never by an absolute path', () => {
  const offenders: string[] = [];
  for (const dir of ['test', 'bench']) {
    for (const f of files(path.join(repoDir(), dir))) {
      if (f.endsWith(path.join('test', 'helpers', 'paths.ts')) || f === import.meta.filename) continue;
      const text = fs.readFileSync(f, 'utf8');
      text.split('\n').forEach((line, i) => {
        if (/['"`]\/(work|home|root|tmp)\//.test(line)) offenders.push(`${path.relative(repoDir(), f)}:${i + 1}: ${line.trim()}`);
      });
    }
  }
  assert.deepEqual(offenders, []);
});
