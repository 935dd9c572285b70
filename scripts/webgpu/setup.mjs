#!/usr/bin/env node
// Makes sure the WebGPU tests have an adapter, idempotently. With a GPU there is nothing to do. On a
// machine without one (CI) it installs Mesa's lavapipe, a Vulkan driver that runs on the CPU, which
// ORT's WebGPU provider (Dawn over Vulkan) accepts from Mesa 25 on; Debian 12's own Mesa 22.3 is
// refused, so on bookworm it comes from bookworm-backports (the Debian archive, nothing else). The
// engine itself skips software adapters unless SWITCHYARD_WEBGPU_SOFTWARE=1 (the tests set it).
//
// Usage: node scripts/webgpu/setup.mjs     (npm test runs it before the unit tests)
// Env:   SWITCHYARD_SKIP_WEBGPU=1   do nothing; the WebGPU tests are then left out as well
//        SWITCHYARD_E2E_SKIP_APT=1  never call apt-get
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { aptInstall, asRoot, run, SetupError } from '../lib/apt.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const LOG = path.join(REPO, '.cache', 'webgpu-setup.log');
const BACKPORTS = '/etc/apt/sources.list.d/switchyard-bookworm-backports.sources';
const T0 = Date.now();
const say = (msg) => console.log(`[webgpu setup ${((Date.now() - T0) / 1000).toFixed(1)}s] ${msg}`);

/** The engine's own provider probe (a child process), with software adapters allowed. */
function probe() {
  const script = `import { probeProvider } from ${JSON.stringify(path.join(REPO, 'engine', 'runtime', 'providers.ts'))};
const r = await probeProvider(['webgpu', 'cpu']);
process.stdout.write(JSON.stringify(r.attempts[0]));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, SWITCHYARD_WEBGPU_SOFTWARE: '1' },
  });
  if (r.status !== 0) throw new SetupError(`the WebGPU probe failed to run: ${r.stderr || r.error?.message}`);
  return JSON.parse(r.stdout);
}

function osRelease() {
  try {
    return Object.fromEntries(
      fs.readFileSync('/etc/os-release', 'utf8').split('\n').filter((l) => l.includes('=')).map((l) => {
        const i = l.indexOf('=');
        return [l.slice(0, i), l.slice(i + 1).replace(/^"|"$/g, '')];
      }),
    );
  } catch {
    return {};
  }
}

async function installLavapipe() {
  const codename = osRelease().VERSION_CODENAME;
  if (codename === 'bookworm') {
    if (!fs.existsSync(BACKPORTS)) {
      const pre = asRoot(`the bookworm-backports source (for Mesa 25's lavapipe)`, `echo 'deb http://deb.debian.org/debian bookworm-backports main' | sudo tee /etc/apt/sources.list.d/backports.list`);
      const body = 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n';
      const tmp = path.join(REPO, '.cache', 'backports.sources');
      fs.writeFileSync(tmp, body);
      say(`adding ${BACKPORTS}`);
      await run(pre[0] ?? 'cp', [...pre.slice(1), ...(pre.length ? ['cp'] : []), tmp, BACKPORTS], {}, LOG);
    }
    await aptInstall(['mesa-vulkan-drivers', 'libvulkan1'], { logFile: LOG, say, extra: ['-t', 'bookworm-backports'], refresh: true });
  } else {
    await aptInstall(['mesa-vulkan-drivers', 'libvulkan1'], { logFile: LOG, say });
  }
}

async function main() {
  if (process.env.SWITCHYARD_SKIP_WEBGPU === '1') {
    say('SWITCHYARD_SKIP_WEBGPU=1: nothing to do (the WebGPU tests are left out)');
    return;
  }
  fs.mkdirSync(path.dirname(LOG), { recursive: true });
  fs.writeFileSync(LOG, `webgpu setup ${new Date().toISOString()}\n`);
  let a = probe();
  if (a.ok) {
    say('a WebGPU adapter is here');
    return;
  }
  if (process.platform !== 'linux') {
    throw new SetupError(`no WebGPU adapter (${a.reason}); set SWITCHYARD_SKIP_WEBGPU=1 to leave the WebGPU tests out`);
  }
  say(`no WebGPU adapter (${a.reason}); installing Mesa's lavapipe (a Vulkan driver on the CPU)`);
  await installLavapipe();
  a = probe();
  if (!a.ok) {
    throw new SetupError(`still no WebGPU adapter after installing lavapipe: ${a.reason}. Set SWITCHYARD_SKIP_WEBGPU=1 to leave the WebGPU tests out`);
  }
  say('lavapipe gives WebGPU an adapter');
}

main().catch((e) => {
  console.error(`[webgpu setup] FAILED: ${e instanceof SetupError ? e.message : e?.stack ?? e}`);
  process.exit(1);
});
