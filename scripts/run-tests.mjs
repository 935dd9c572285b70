// Node 20's test runner does not expand globs, so list test files ourselves.
// Usage: node scripts/run-tests.mjs [path-prefix...]  (defaults to every test under test/)
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { spawnSync } from "node:child_process";
import { treeGuard, treeGuardMessage } from "./lib/tree-guard.mjs";

function walk(dir, out) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith(".test.ts")) out.push(relative(process.cwd(), p));
  }
  return out;
}

const prefixes = process.argv.slice(2);
const files = walk("test", []).filter((f) => prefixes.length === 0 || prefixes.some((p) => f.startsWith(p)));
if (files.length === 0) {
  console.error(`no test files match ${prefixes.join(" ") || "test/"}`);
  process.exit(1);
}
const guard = treeGuard(process.cwd());
const r = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=1", ...files], { stdio: "inherit" });
const changed = guard.check();
if (changed.length > 0) {
  console.error(`[tests] FAILED: ${treeGuardMessage(changed)}`);
  process.exit(1);
}
process.exit(r.status ?? 1);
