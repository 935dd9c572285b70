/**
 * Issue 13, item 16: a test run leaves the checkout as it found it. The runners' guard
 * (scripts/lib/tree-guard.mjs) reports files a run changed or left behind, in a real git repository;
 * the end-to-end screenshots go under .cache/ (ignored by git) unless an update is asked for.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
// @ts-expect-error: a plain .mjs module without type declarations
import { dirtyPaths, treeGuard, treeGuardMessage } from '../../scripts/lib/tree-guard.mjs';
import { screenshotDir, TRACKED_SCREENSHOTS, UPDATE_SCREENSHOTS_ENV } from '../e2e/screenshots.ts';
import { repoDir } from '../helpers/paths.ts';

const git = (cwd: string, ...args: string[]) => {
  const r = spawnSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', '-C', cwd, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
};

const made: string[] = [];
after(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

function repo(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-guard-'));
  made.push(dir);
  git(dir, 'init', '-q');
  fs.mkdirSync(path.join(dir, 'docs', 'screenshots'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'docs', 'screenshots', 'chat.png'), 'v1');
  fs.writeFileSync(path.join(dir, 'a.txt'), 'a');
  fs.writeFileSync(path.join(dir, '.gitignore'), '.cache/\n');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-qm', 'init');
  return dir;
}

describe('test runs leave the checkout clean', () => {
  it('the guard reports a changed tracked file and a new untracked one, not ignored files', () => {
    const dir = repo();
    const guard = treeGuard(dir);
    fs.mkdirSync(path.join(dir, '.cache'));
    fs.writeFileSync(path.join(dir, '.cache', 'shot.png'), 'x');
    assert.deepEqual(guard.check(), []);
    fs.writeFileSync(path.join(dir, 'docs', 'screenshots', 'chat.png'), 'v2');
    fs.writeFileSync(path.join(dir, 'left.txt'), 'x');
    assert.deepEqual(guard.check(), [' M docs/screenshots/chat.png', '?? left.txt']);
    assert.match(treeGuardMessage(guard.check()), /changed the checkout.*docs\/screenshots\/chat\.png.*left\.txt/);
  });

  it('leaves alone what was dirty before, and the screenshots when their update was asked for', () => {
    const dir = repo();
    fs.writeFileSync(path.join(dir, 'a.txt'), 'my edit');
    const guard = treeGuard(dir, ['docs/screenshots/']);
    fs.writeFileSync(path.join(dir, 'docs', 'screenshots', 'chat.png'), 'v2');
    assert.deepEqual(guard.check(), []);
  });

  it('says nothing outside a git checkout', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-guard-nogit-'));
    made.push(dir);
    assert.equal(dirtyPaths(dir), undefined);
    const guard = treeGuard(dir);
    fs.writeFileSync(path.join(dir, 'x'), 'x');
    assert.deepEqual(guard.check(), []);
  });

  it('the e2e screenshots go under .cache/ (ignored by git), into docs/screenshots/ only on request', () => {
    const repoRoot = repoDir();
    const dir = screenshotDir(repoRoot, {});
    assert.equal(dir, path.join(repoRoot, '.cache', 'e2e', 'screenshots'));
    // Its top folder (.cache/) is ignored, so all below is (asked of the top: below it, a checkout may link elsewhere).
    const top = path.relative(repoRoot, dir).split(path.sep)[0]!;
    const ignored = spawnSync('git', ['-C', repoRoot, 'check-ignore', '-q', `${top}/probe.png`]);
    assert.equal(ignored.status, 0, `${top}/ is not ignored by git`);
    assert.equal(screenshotDir(repoRoot, { [UPDATE_SCREENSHOTS_ENV]: '1' }), path.join(repoRoot, TRACKED_SCREENSHOTS));
    // The chat e2e file takes its folder from here, not a path of its own.
    const chat = fs.readFileSync(path.join(repoRoot, 'test', 'e2e', 'chat.e2e.ts'), 'utf8');
    assert.match(chat, /const SCREENSHOTS = screenshotDir\(REPO\);/);
    assert.doesNotMatch(chat, /'docs', 'screenshots'/);
  });
});
