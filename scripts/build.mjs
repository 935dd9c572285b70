// Bundles the extension and the engine with esbuild
// (usage: node scripts/build.mjs [--watch] [--minify] [--outdir DIR], default dist/).
//
// dist/extension.cjs  the extension host side (extension/extension.ts). VS Code loads extensions
//                     with require(), so CommonJS; 'vscode' is provided by the host at run time.
// dist/engine.cjs     the engine child process (engine/service/main.ts) for Node 20 (VS Code's own
//                     Electron-as-Node or a configured node). onnxruntime-node stays external: it is a
//                     native addon that loads its .node binaries and provider libraries relative to
//                     its own package folder, so it must be required from node_modules. The pure-JS
//                     dependencies (vscode-jsonrpc, @huggingface/tokenizers, @huggingface/jinja: both
//                     ship CommonJS builds) are bundled, so only onnxruntime-node must sit beside dist/.
// dist/webview.js     the chat view's browser code (webview/main.ts), one IIFE loaded by a <script
//                     nonce> in the webview (extension/chat/html.ts); the toolkit, markdown-it,
//                     highlight.js (core + common languages) and DOMPurify are bundled into it.
// dist/webview.css    the chat view's stylesheet (webview/styles.css with the highlight.js theme it
//                     imports), themed only with VS Code's --vscode-* variables.
//
// --only NAME[,NAME]  builds just those of extension, engine, webview (e.g. the webview e2e test).
import * as esbuild from 'esbuild';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const watch = process.argv.includes('--watch');
const minify = process.argv.includes('--minify');
const outIndex = process.argv.indexOf('--outdir');
const outdir = outIndex > 0 ? process.argv[outIndex + 1] : 'dist';
const onlyIndex = process.argv.indexOf('--only');
const only = onlyIndex > 0 ? new Set(process.argv[onlyIndex + 1].split(',')) : null;

// The sources are ESM; in a CJS bundle `import.meta` is empty, and engine/runtime/providers.ts
// needs `import.meta.url` for createRequire(). Define it as this file's own URL, computed once at
// the top of the bundle from __filename (which CJS has).
const importMetaUrl = {
  define: { 'import.meta.url': '__switchyard_import_meta_url' },
  banner: { js: "const __switchyard_import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
};

/** @type {esbuild.BuildOptions} */
const common = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  minify,
  logLevel: 'info',
  ...importMetaUrl,
};

// The webview runs in a browser context: none of the Node settings above (no require banner).
/** @type {esbuild.BuildOptions} */
const browser = {
  absWorkingDir: root,
  bundle: true,
  platform: 'browser',
  target: 'es2022',
  sourcemap: true,
  minify,
  logLevel: 'info',
};

const named = {
  extension: [{ ...common, entryPoints: ['extension/extension.ts'], outfile: path.join(outdir, 'extension.cjs'), external: ['vscode'] }],
  engine: [{ ...common, entryPoints: ['engine/service/main.ts'], outfile: path.join(outdir, 'engine.cjs'), external: ['onnxruntime-node'] }],
  webview: [
    { ...browser, entryPoints: ['webview/main.ts'], outfile: path.join(outdir, 'webview.js'), format: 'iife' },
    { ...browser, entryPoints: ['webview/styles.css'], outfile: path.join(outdir, 'webview.css') },
  ],
};
for (const n of only ?? []) if (!(n in named)) throw new Error(`--only: unknown build ${n} (${Object.keys(named).join(', ')})`);
const builds = Object.entries(named).flatMap(([n, b]) => (only && !only.has(n) ? [] : b));

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
} else {
  const results = await Promise.all(builds.map((b) => esbuild.build(b)));
  if (results.some((r) => r.errors.length > 0)) process.exit(1);
}
