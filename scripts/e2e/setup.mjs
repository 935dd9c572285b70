#!/usr/bin/env node
// Installs what the end-to-end harness needs, idempotently, on a Debian-like machine that reaches
// only the Debian archive and the npm registry (no GitHub):
//   - Debian packages: chromium (the browser playwright-core drives), and for building code-server's
//     native modules ripgrep (to seed @vscode/ripgrep), libkrb5-dev, g++, make, python3.
//   - code-server (VS Code in the browser, from npm) into .cache/e2e/code-server/.
// A second run that finds everything in place returns in well under a second.
//
// Usage: node scripts/e2e/setup.mjs            (also imported by scripts/e2e/run.mjs)
// Env:   SWITCHYARD_E2E_SKIP_APT=1  never call apt-get (fail if a package is missing)
//
// Install facts (see ../shared/e2e/README.md): code-server 4.100.3 is the last release that runs on
// Node 20. Its postinstall refuses root without npm_config_unsafe_perm; @vscode/ripgrep's postinstall
// downloads rg from GitHub unless its cache under $TMPDIR already holds the tarball; node-pty's
// postinstall runs `npx node-gyp` (npm_config_yes) and node-gyp needs local Node headers
// (npm_config_nodedir); argon2 would download a prebuilt binary from GitHub
// (npm_config_build_from_source).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { aptInstall as aptInstallWith, run as runLogged, SetupError, which } from '../lib/apt.mjs';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CACHE = path.join(REPO, '.cache', 'e2e');
export const CODE_SERVER_VERSION = '4.100.3';
export const CODE_SERVER_DIR = path.join(CACHE, 'code-server');
export const CODE_SERVER_BIN = path.join(CODE_SERVER_DIR, 'node_modules', '.bin', 'code-server');
export const CHROMIUM_BIN = '/usr/bin/chromium';

const MARKER = path.join(CODE_SERVER_DIR, '.installed.json');
const LOG = path.join(CACHE, 'setup.log');
const T0 = Date.now();

function say(msg) {
  console.log(`[e2e setup ${((Date.now() - T0) / 1000).toFixed(1)}s] ${msg}`);
}

/** What the installed code-server was built for; native modules must match Node's ABI. */
function wantedMarker() {
  return { version: CODE_SERVER_VERSION, modules: process.versions.modules, arch: process.arch };
}

function codeServerInstalled() {
  try {
    const m = JSON.parse(fs.readFileSync(MARKER, 'utf8'));
    const w = wantedMarker();
    return m.version === w.version && m.modules === w.modules && m.arch === w.arch && fs.existsSync(CODE_SERVER_BIN);
  } catch {
    return false;
  }
}

// --- Debian packages ----------------------------------------------------------------------------

const BROWSER_PACKAGES = [{ pkg: 'chromium', present: () => fs.existsSync(CHROMIUM_BIN) }];
const BUILD_PACKAGES = [
  { pkg: 'ripgrep', present: () => which('rg') !== null },
  { pkg: 'libkrb5-dev', present: () => fs.existsSync('/usr/include/krb5.h') || fs.existsSync('/usr/include/krb5/krb5.h') },
  { pkg: 'g++', present: () => which('g++') !== null },
  { pkg: 'make', present: () => which('make') !== null },
  { pkg: 'python3', present: () => which('python3') !== null },
];

function missing(list) {
  return list.filter((p) => !p.present()).map((p) => p.pkg);
}

function run(cmd, args, opts = {}, logFile = LOG) {
  return runLogged(cmd, args, opts, logFile);
}

function aptInstall(pkgs, logFile = LOG) {
  return aptInstallWith(pkgs, { logFile, say });
}

// --- code-server ----------------------------------------------------------------------------------

function nodeDir() {
  const candidates = [process.env.npm_config_nodedir, path.resolve(process.execPath, '..', '..')].filter(Boolean);
  for (const dir of candidates) if (fs.existsSync(path.join(dir, 'include', 'node', 'node.h'))) return dir;
  throw new SetupError(
    `no Node.js headers (include/node/node.h) under ${candidates.join(' or ')}; node-gyp needs them to build ` +
      `code-server's native modules without downloading. Install Node with its headers (NodeSource deb, the ` +
      `nodejs.org tarball) or set npm_config_nodedir.`,
  );
}

const RG_TARGETS = { x64: 'x86_64-unknown-linux-musl', arm64: 'aarch64-unknown-linux-musl' };

/**
 * Seeds @vscode/ripgrep's download cache ($TMPDIR/vscode-ripgrep-cache-<pkgver>/ripgrep-<tag>-<target>.tar.gz)
 * with Debian's rg, for every @vscode/ripgrep version code-server's shrinkwraps pin.
 */
async function seedRipgrep(tmp) {
  const target = RG_TARGETS[process.arch];
  if (!target) throw new SetupError(`no ripgrep target known for ${process.arch}`);
  const pack = path.join(CACHE, 'pack');
  fs.rmSync(pack, { recursive: true, force: true });
  fs.mkdirSync(pack, { recursive: true });
  const npmPack = async (spec) => {
    await run('npm', ['pack', '--silent', spec], { cwd: pack });
  };
  await npmPack(`code-server@${CODE_SERVER_VERSION}`);
  const csTgz = path.join(pack, `code-server-${CODE_SERVER_VERSION}.tgz`);
  // lib/vscode's shrinkwrap pins @vscode/ripgrep; the root one (if any) might too.
  await run('tar', ['xzf', csTgz, '-C', pack, 'package/npm-shrinkwrap.json', 'package/lib/vscode/npm-shrinkwrap.json']).catch(() =>
    run('tar', ['xzf', csTgz, '-C', pack, 'package/lib/vscode/npm-shrinkwrap.json']),
  );
  const versions = new Set();
  for (const f of ['package/npm-shrinkwrap.json', 'package/lib/vscode/npm-shrinkwrap.json']) {
    try {
      const pkgs = JSON.parse(fs.readFileSync(path.join(pack, f), 'utf8')).packages ?? {};
      for (const [k, v] of Object.entries(pkgs)) if (k.endsWith('node_modules/@vscode/ripgrep') && v.version) versions.add(v.version);
    } catch {
      // not in this tarball
    }
  }
  if (versions.size === 0) throw new SetupError(`cannot find the @vscode/ripgrep version in code-server ${CODE_SERVER_VERSION}'s shrinkwrap`);
  const rg = which('rg');
  if (!rg) throw new SetupError('rg (Debian package ripgrep) is missing');
  const stage = path.join(pack, 'rgstage');
  fs.mkdirSync(stage, { recursive: true });
  fs.copyFileSync(rg, path.join(stage, 'rg'));
  fs.chmodSync(path.join(stage, 'rg'), 0o755);
  for (const ver of versions) {
    const dir = path.join(pack, `rg-${ver}`);
    fs.mkdirSync(dir, { recursive: true });
    await npmPack(`@vscode/ripgrep@${ver}`);
    await run('tar', ['xzf', path.join(pack, `vscode-ripgrep-${ver}.tgz`), '-C', dir, 'package/lib/postinstall.js']);
    const src = fs.readFileSync(path.join(dir, 'package', 'lib', 'postinstall.js'), 'utf8');
    const tag = /^const VERSION = '([^']+)';/m.exec(src)?.[1];
    if (!tag) throw new SetupError(`cannot read the ripgrep tag from @vscode/ripgrep@${ver}'s postinstall.js`);
    const cacheDir = path.join(tmp, `vscode-ripgrep-cache-${ver}`);
    fs.mkdirSync(cacheDir, { recursive: true });
    await run('tar', ['czf', path.join(cacheDir, `ripgrep-${tag}-${target}.tar.gz`), '-C', stage, 'rg']);
    say(`seeded the ripgrep cache for @vscode/ripgrep ${ver} (rg ${tag}) with ${rg}`);
  }
}

async function installCodeServer() {
  const nodedir = nodeDir();
  const major = Number(process.versions.node.split('.')[0]);
  if (major !== 20) say(`warning: code-server ${CODE_SERVER_VERSION} declares Node 20; this is Node ${process.versions.node}`);
  const tmp = path.join(CACHE, 'tmp');
  fs.mkdirSync(tmp, { recursive: true });
  await seedRipgrep(tmp);
  fs.rmSync(MARKER, { force: true });
  fs.mkdirSync(CODE_SERVER_DIR, { recursive: true });
  const pkgJson = path.join(CODE_SERVER_DIR, 'package.json');
  if (!fs.existsSync(pkgJson)) fs.writeFileSync(pkgJson, '{ "private": true }\n');
  say(`npm install code-server@${CODE_SERVER_VERSION} (builds native modules; ~1.5-3 min on 2 cores)`);
  const env = {
    ...process.env,
    TMPDIR: tmp,
    npm_config_unsafe_perm: 'true',
    npm_config_yes: 'true',
    npm_config_nodedir: nodedir,
    npm_config_build_from_source: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
    JOBS: 'max', // node-gyp: make -j<cores>
  };
  await run('npm', ['install', '--no-save', '--no-audit', '--no-fund', `code-server@${CODE_SERVER_VERSION}`], { cwd: CODE_SERVER_DIR, env });
  // (XDG dirs in a throw-away folder: code-server writes a default config.yaml on every start)
  const xdg = path.join(tmp, 'xdg-version');
  const v = spawnSync(CODE_SERVER_BIN, ['--version'], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, XDG_CONFIG_HOME: xdg, XDG_DATA_HOME: xdg, XDG_CACHE_HOME: xdg },
  });
  fs.rmSync(xdg, { recursive: true, force: true });
  const versionLine = (v.stdout ?? '').split('\n').find((l) => l.startsWith(CODE_SERVER_VERSION));
  if (v.status !== 0 || !versionLine) {
    throw new SetupError(`code-server was installed but \`code-server --version\` failed:\n${v.stdout}${v.stderr}`);
  }
  fs.writeFileSync(MARKER, JSON.stringify({ ...wantedMarker(), installedAt: new Date().toISOString() }) + '\n');
  fs.rmSync(path.join(CACHE, 'pack'), { recursive: true, force: true });
  say(`code-server ${versionLine} ready`);
}

/**
 * Ensures chromium and code-server are installed; returns their paths. `{ browser: false }` (the
 * demo, `npm start`) skips chromium: the user brings their own browser.
 */
export async function setup({ browser: wantBrowser = true } = {}) {
  fs.mkdirSync(CACHE, { recursive: true });
  for (const f of [LOG, LOG + '.apt']) fs.writeFileSync(f, `e2e setup ${new Date().toISOString()}\n`);
  const needCodeServer = !codeServerInstalled();
  const browser = wantBrowser ? missing(BROWSER_PACKAGES) : [];
  if (needCodeServer) {
    // Build prerequisites first; the browser (the largest download) installs while npm builds.
    await aptInstall(missing(BUILD_PACKAGES));
    const results = await Promise.allSettled([installCodeServer(), aptInstall(browser, LOG + '.apt')]);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  } else {
    await aptInstall(browser);
  }
  if (wantBrowser && !fs.existsSync(CHROMIUM_BIN)) throw new SetupError(`${CHROMIUM_BIN} is still missing after installing chromium`);
  say(`done: ${path.relative(REPO, CODE_SERVER_BIN)}, ${CHROMIUM_BIN}`);
  return { codeServer: CODE_SERVER_BIN, chromium: CHROMIUM_BIN };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  setup().catch((e) => {
    console.error(`[e2e setup] FAILED: ${e instanceof SetupError ? e.message : e?.stack ?? e}`);
    process.exit(1);
  });
}
