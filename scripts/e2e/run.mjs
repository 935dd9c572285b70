#!/usr/bin/env node
// The end-to-end test, from nothing: installs what it needs (scripts/e2e/setup.mjs: chromium and
// build tools from apt, code-server from npm, cached under .cache/e2e/), then runs
// test/e2e/*.e2e.ts with Node's test runner (each file builds the extension first). Every process
// the run starts carries SWITCHYARD_E2E_RUN=<id> in its environment; whatever is still alive at the
// end (a hung test killed by the watchdog, an engine that escaped its group) is killed by that mark.
//
// Usage: node scripts/e2e/run.mjs [node --test options, e.g. --test-name-pattern=restart]
// The run fails if it changed the checkout (scripts/lib/tree-guard.mjs).
//
// Env:   SWITCHYARD_E2E_TIMEOUT_S  watchdog for the test run (default 600)
//        SWITCHYARD_UPDATE_SCREENSHOTS=1  write the README's screenshots into docs/screenshots/
//                                         (npm run screenshots); otherwise .cache/e2e/screenshots/
//        and those of setup.mjs and test/e2e/completions.e2e.ts
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { register } from 'tsx/esm/api';
import { REPO, setup } from './setup.mjs';
import { treeGuard, treeGuardMessage } from '../lib/tree-guard.mjs';

register();
const { RUN_MARKER, killGroup, sweepMarked } = await import('../../test/e2e/procs.ts');

const t0 = Date.now();
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;

try {
  await setup();
} catch (e) {
  console.error(`[e2e] setup FAILED: ${e?.message ?? e}`);
  process.exit(1);
}
const installMs = Date.now() - t0;

const files = fs
  .readdirSync(path.join(REPO, 'test', 'e2e'))
  .filter((f) => f.endsWith('.e2e.ts'))
  .sort()
  .map((f) => path.join('test', 'e2e', f));
const runId = `${process.pid}-${randomBytes(4).toString('hex')}`;
const timeoutMs = Number(process.env.SWITCHYARD_E2E_TIMEOUT_S ?? 600) * 1000;

// The README's screenshots change only on request (npm run screenshots); nothing else may change.
const guard = treeGuard(REPO, process.env.SWITCHYARD_UPDATE_SCREENSHOTS === '1' ? ['docs/screenshots/'] : []);
const t1 = Date.now();
const args = process.argv.slice(2);
if (!args.some((a) => a.startsWith('--test-reporter'))) args.unshift('--test-reporter=spec');
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...args, ...files], {
  cwd: REPO,
  stdio: 'inherit',
  env: { ...process.env, [RUN_MARKER]: runId },
  detached: true, // its own group, so the watchdog and Ctrl+C stop everything under it
});

let stopping = null;
function stop(why) {
  if (!stopping) {
    console.error(`[e2e] ${why}: stopping the test run`);
    stopping = killGroup(child.pid, 15_000); // SIGTERM first: the test's exit handler stops its groups
  }
  return stopping;
}
const watchdog = setTimeout(() => stop(`timed out after ${secs(timeoutMs)}`), timeoutMs);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => stop(`got ${sig}`));

const code = await new Promise((resolve) => child.on('exit', (c, s) => resolve(c ?? (s ? 1 : 0))));
clearTimeout(watchdog);
if (stopping) await stopping;
const left = await sweepMarked(runId);
if (left.length > 0) {
  console.error(`[e2e] killed ${left.length} leftover process(es): ${left.map((p) => `${p.pid} ${p.comm}`).join(', ')}`);
}
const artifactsDir = path.join(REPO, '.cache', 'e2e', 'artifacts');
const fresh = fs.existsSync(artifactsDir)
  ? fs.readdirSync(artifactsDir).map((d) => path.join(artifactsDir, d)).filter((d) => fs.statSync(d).mtimeMs >= t1)
  : [];
for (const d of fresh) console.log(`[e2e] failure artifacts (screenshot, trace, logs): ${d}`);
const changed = guard.check();
if (changed.length > 0) console.error(`[e2e] ${treeGuardMessage(changed)}`);
const ok = code === 0 && !stopping && changed.length === 0;
console.log(`[e2e] install/check ${secs(installMs)}, tests ${secs(Date.now() - t1)}, total ${secs(Date.now() - t0)}: ${ok ? 'passed' : 'FAILED'}`);
process.exit(stopping || changed.length > 0 ? 1 : code);
