#!/usr/bin/env node
// `npm run package`: a lean, per-platform VSIX.
// Usage: node scripts/package.mjs [--target linux-x64|linux-arm64|darwin-x64|darwin-arm64|win32-x64|win32-arm64]
//                                 [--out DIR]
// Default target: this machine's platform-arch; default out: .cache/vsix/. Prints the VSIX path and size.
//
// Everything but onnxruntime-node is bundled (scripts/build.mjs), so instead of letting vsce walk the
// repository's node_modules (all of onnxruntime-node is ~290 MB: binaries for every OS and CPU) it
// stages an extension folder with only what runs, and runs vsce's package (createVSIX) on that with
// `--target`. Not with `--no-dependencies`: vsce 3.x then never collects node_modules/** at all (its
// file walk ignores it), so the native package would be left out. vsce's default, `npm list
// --production` in the staged folder, finds exactly the two pruned packages staged below.
//   package.json        without scripts and devDependencies; dependencies: onnxruntime-node only
//                       (for vsce's npm list; nothing is installed from it)
//   dist/               extension.cjs, engine.cjs, webview.js, webview.css, built with --minify; no maps
//   media/, LICENSE     as in the repository
//   README.md           with relative image links taken out (see readmeForVsix)
//   node_modules/onnxruntime-node    package.json (without its install script, which is not shipped,
//                       and the dependencies only that script uses), dist/*.js (its runtime JS: index -> backend ->
//                       binding, which requires ../bin/napi-v6/<platform>/<arch>/onnxruntime_binding.node,
//                       and that loads libonnxruntime from the same folder) and that one bin folder
//   node_modules/onnxruntime-common  package.json, dist/cjs/*.js (what require() resolves through its
//                       "exports") and dist/cjs/package.json ({"type":"commonjs"})
//   .vscodeignore       the repository's, so vsce filters the staged folder by the same rules.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TARGETS = ['linux-x64', 'linux-arm64', 'darwin-x64', 'darwin-arm64', 'win32-x64', 'win32-arm64'];
const BUNDLES = ['extension.cjs', 'engine.cjs', 'webview.js', 'webview.css'];

class PackageError extends Error {}

function parseArgs(argv) {
  const opts = { target: `${process.platform}-${process.arch}`, out: path.join(REPO, '.cache', 'vsix') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new PackageError(`${a} needs a value`);
      return v;
    };
    if (a === '--target') opts.target = value();
    else if (a === '--out') opts.out = path.resolve(value());
    else if (a === '--help' || a === '-h') {
      console.log(`usage: node scripts/package.mjs [--target ${TARGETS.join('|')}] [--out DIR]`);
      process.exit(0);
    } else throw new PackageError(`unknown argument ${a} (usage: --target ${TARGETS.join('|')} --out DIR)`);
  }
  if (!TARGETS.includes(opts.target)) {
    throw new PackageError(`unsupported target ${opts.target}; choose one of ${TARGETS.join(', ')}`);
  }
  return opts;
}

function copyFile(src, dst) {
  fs.mkdirSync(path.dirname(dst), { recursive: true });
  fs.copyFileSync(src, dst);
}

/** Copies the files of `srcDir` (not recursing) whose names pass `keep` into `dstDir`; returns how many. */
function copyMatching(srcDir, dstDir, keep) {
  let n = 0;
  for (const e of fs.readdirSync(srcDir, { withFileTypes: true })) {
    if (e.isFile() && keep(e.name)) {
      copyFile(path.join(srcDir, e.name), path.join(dstDir, e.name));
      n++;
    }
  }
  return n;
}

/**
 * The README as the VSIX carries it. vsce refuses relative links and images unless it can rewrite
 * them to absolute URLs (a repository field, or --baseContentUrl/--baseImagesUrl); this package has
 * no public repository URL to point at, and a guessed one would only give broken images in the
 * extension's details page. The screenshots (docs/screenshots/) are not shipped either, so relative
 * images go: a markdown table made of them becomes one line saying where they are, a stray one its
 * alt text, and a relative link its text.
 */
export function readmeForVsix(text) {
  const relative = (url) => !/^([a-z][a-z0-9+.-]*:|#|\/\/)/i.test(url.trim());
  const relImage = /!\[([^\]]*)\]\(([^)\s]+)[^)]*\)/g;
  const hasRelImage = (line) => [...line.matchAll(relImage)].some((m) => relative(m[2]));
  const lines = text.split('\n');
  const out = [];
  for (let i = 0; i < lines.length; ) {
    if (lines[i].trimStart().startsWith('|')) {
      let j = i;
      while (j < lines.length && lines[j].trimStart().startsWith('|')) j++;
      const block = lines.slice(i, j);
      if (block.some(hasRelImage)) out.push('*(Screenshots: `docs/screenshots/` in the source repository.)*');
      else out.push(...block);
      i = j;
    } else out.push(lines[i++]);
  }
  return out
    .join('\n')
    .replace(relImage, (m, alt, url) => (relative(url) ? alt : m))
    .replace(/(?<!!)\[([^\]]*)\]\(([^)\s]+)[^)]*\)/g, (m, label, url) => (relative(url) ? label : m));
}

function stage(target, dir) {
  const [platform, arch] = target.split('-');
  const need = (p, what) => {
    if (!fs.existsSync(p)) throw new PackageError(`${what} is missing: ${path.relative(REPO, p) || p}`);
    return p;
  };

  // Bundles, minified, built into the staging folder itself.
  const dist = path.join(dir, 'dist');
  console.log(`[package] building minified bundles into ${dist}`);
  const b = spawnSync(process.execPath, [path.join(REPO, 'scripts', 'build.mjs'), '--minify', '--outdir', dist], {
    cwd: REPO,
    encoding: 'utf8',
  });
  if (b.status !== 0) {
    throw new PackageError(`the build failed (scripts/build.mjs --minify, exit ${b.status ?? b.signal}):\n${(b.stderr || b.stdout || '').trim()}`);
  }
  for (const f of fs.readdirSync(dist)) {
    if (!BUNDLES.includes(f)) fs.rmSync(path.join(dist, f), { recursive: true, force: true });
  }
  for (const f of BUNDLES) {
    const p = need(path.join(dist, f), `the build's ${f}`);
    // The maps stay out, so drop the comment that points at them.
    const code = fs.readFileSync(p, 'utf8');
    fs.writeFileSync(p, code.replace(/\n(\/\/# sourceMappingURL=\S+|\/\*# sourceMappingURL=\S+ \*\/)\s*$/, '\n'));
  }

  // The manifest: what VS Code reads, none of the development parts.
  const manifest = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
  delete manifest.scripts;
  delete manifest.devDependencies;
  delete manifest.allowScripts;
  const ortVersion = manifest.dependencies?.['onnxruntime-node'];
  if (!ortVersion) throw new PackageError('package.json has no onnxruntime-node dependency');
  manifest.dependencies = { 'onnxruntime-node': ortVersion };
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(manifest, null, 2) + '\n');

  fs.cpSync(need(path.join(REPO, 'media'), 'media/'), path.join(dir, 'media'), { recursive: true });
  copyFile(need(path.join(REPO, 'LICENSE'), 'LICENSE'), path.join(dir, 'LICENSE'));
  fs.writeFileSync(path.join(dir, 'README.md'), readmeForVsix(fs.readFileSync(need(path.join(REPO, 'README.md'), 'README.md'), 'utf8')));
  copyFile(need(path.join(REPO, '.vscodeignore'), '.vscodeignore'), path.join(dir, '.vscodeignore'));

  // onnxruntime-node: its runtime JS and the target's binaries only.
  const require = createRequire(path.join(REPO, 'package.json'));
  let ortDir;
  try {
    ortDir = path.dirname(require.resolve('onnxruntime-node/package.json'));
  } catch {
    throw new PackageError('node_modules/onnxruntime-node is missing: run `npm ci` first');
  }
  const ortOut = path.join(dir, 'node_modules', 'onnxruntime-node');
  const ortManifest = JSON.parse(fs.readFileSync(path.join(ortDir, 'package.json'), 'utf8'));
  // script/install (postinstall: downloads the CUDA provider) is not shipped, nor what only it uses
  // (adm-zip, global-agent); what its runtime JS requires is onnxruntime-common.
  delete ortManifest.scripts;
  delete ortManifest.devDependencies;
  ortManifest.dependencies = { 'onnxruntime-common': ortManifest.dependencies?.['onnxruntime-common'] ?? ortManifest.version };
  fs.mkdirSync(ortOut, { recursive: true });
  fs.writeFileSync(path.join(ortOut, 'package.json'), JSON.stringify(ortManifest, null, 2) + '\n');
  if (copyMatching(need(path.join(ortDir, 'dist'), 'onnxruntime-node/dist'), path.join(ortOut, 'dist'), (n) => n.endsWith('.js')) === 0) {
    throw new PackageError(`no JavaScript in ${path.join(ortDir, 'dist')}`);
  }
  const bin = path.join(ortDir, 'bin');
  const napis = fs.existsSync(bin) ? fs.readdirSync(bin).filter((n) => /^napi-v\d+$/.test(n)) : [];
  let binaries = 0;
  for (const napi of napis) {
    const src = path.join(bin, napi, platform, arch);
    if (!fs.existsSync(path.join(src, 'onnxruntime_binding.node'))) continue;
    fs.cpSync(src, path.join(ortOut, 'bin', napi, platform, arch), { recursive: true });
    binaries++;
  }
  if (binaries === 0) {
    throw new PackageError(
      `onnxruntime-node ${ortManifest.version} has no binaries for ${target}: ` +
        `no ${path.join(path.relative(REPO, bin), 'napi-v*', platform, arch, 'onnxruntime_binding.node')}`,
    );
  }

  // onnxruntime-common: the CommonJS build that require() resolves ("exports".require).
  let commonDir;
  try {
    // ("exports" hides its package.json from resolve(): find the folder from its entry point)
    commonDir = path.dirname(createRequire(path.join(ortDir, 'package.json')).resolve('onnxruntime-common'));
    const isCommon = (d) => {
      try {
        return JSON.parse(fs.readFileSync(path.join(d, 'package.json'), 'utf8')).name === 'onnxruntime-common';
      } catch {
        return false;
      }
    };
    while (!isCommon(commonDir)) {
      if (path.dirname(commonDir) === commonDir) throw new Error('no package.json');
      commonDir = path.dirname(commonDir);
    }
  } catch {
    throw new PackageError('node_modules/onnxruntime-common (onnxruntime-node\'s dependency) is missing: run `npm ci` first');
  }
  const commonOut = path.join(dir, 'node_modules', 'onnxruntime-common');
  copyFile(path.join(commonDir, 'package.json'), path.join(commonOut, 'package.json'));
  const cjs = need(path.join(commonDir, 'dist', 'cjs'), 'onnxruntime-common/dist/cjs');
  copyMatching(cjs, path.join(commonOut, 'dist', 'cjs'), (n) => n.endsWith('.js') || n === 'package.json');
  return manifest;
}

export async function packageVsix({ target, out }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `switchyard-vsix-${target}-`));
  try {
    const manifest = stage(target, dir);
    fs.mkdirSync(out, { recursive: true });
    const packagePath = path.join(out, `${manifest.name}-${target}-${manifest.version}.vsix`);
    fs.rmSync(packagePath, { force: true });
    const { createVSIX } = createRequire(path.join(REPO, 'package.json'))('@vscode/vsce');
    console.log(`[package] vsce package --target ${target} (in the staged folder)`);
    await createVSIX({
      cwd: dir,
      packagePath,
      target,
      useYarn: false, // npm list --production: the staged node_modules
      allowMissingRepository: true, // no public repository yet; the README has no relative links left
    });
    const size = fs.statSync(packagePath).size;
    console.log(`[package] ${packagePath} (${(size / 1024 / 1024).toFixed(1)} MB, ${size} bytes)`);
    return { path: packagePath, size };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    await packageVsix(parseArgs(process.argv.slice(2)));
  } catch (e) {
    console.error(`[package] FAILED: ${e instanceof PackageError ? e.message : (e?.stack ?? e)}`);
    process.exit(1);
  }
}
