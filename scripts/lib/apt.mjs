// Shared by the setup scripts (scripts/e2e/setup.mjs, scripts/webgpu/setup.mjs): find commands,
// run one with its output in a log, install Debian packages as root (or with password-less sudo).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export class SetupError extends Error {}

export function which(cmd) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // keep looking
    }
  }
  return null;
}

/** Runs a command with output appended to `logFile`; resolves on exit 0, else throws with the log tail. */
export function run(cmd, args, opts = {}, logFile) {
  return new Promise((resolve, reject) => {
    const log = fs.openSync(logFile, 'a');
    fs.writeSync(log, `\n$ ${cmd} ${args.join(' ')}\n`);
    const child = spawn(cmd, args, { stdio: ['ignore', log, log], ...opts });
    child.on('error', (e) => {
      fs.closeSync(log);
      reject(new SetupError(`cannot run ${cmd}: ${e.message}`));
    });
    child.on('exit', (code, signal) => {
      fs.closeSync(log);
      if (code === 0) return resolve();
      const tail = fs.readFileSync(logFile, 'utf8').split('\n').slice(-40).join('\n');
      reject(new SetupError(`${cmd} ${args.slice(0, 4).join(' ')} ... failed (${signal ?? `exit ${code}`}); last lines of ${logFile}:\n${tail}`));
    });
  });
}

/** argv prefix that runs a command as root: nothing when root, `sudo -n` when that works. */
export function asRoot(what, manual) {
  if (process.env.SWITCHYARD_E2E_SKIP_APT === '1') {
    throw new SetupError(`missing ${what} (SWITCHYARD_E2E_SKIP_APT=1, so not installing)`);
  }
  if (!which('apt-get')) throw new SetupError(`missing ${what}; there is no apt-get here, install it with your package manager`);
  if (process.getuid?.() === 0) return [];
  if (which('sudo') && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0) return ['sudo', '-n'];
  throw new SetupError(`missing ${what}; not root and no password-less sudo. Run:\n  ${manual}`);
}

let aptUpdated = false;

/**
 * apt-get install `pkgs` (`update` first, once per process or when `refresh` says a source was
 * added); `extra` goes before the package names (e.g. ['-t', 'bookworm-backports']).
 */
export async function aptInstall(pkgs, { logFile, say, extra = [], refresh = false }) {
  if (pkgs.length === 0) return;
  const pre = asRoot(`Debian packages: ${pkgs.join(' ')}`, `sudo apt-get update && sudo apt-get install -y --no-install-recommends ${[...extra, ...pkgs].join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const apt = (args) => run(pre[0] ?? 'apt-get', [...pre.slice(1), ...(pre.length ? ['apt-get'] : []), ...args], { env }, logFile);
  if (!aptUpdated || refresh) {
    say('apt-get update');
    await apt(['update', '-q']);
    aptUpdated = true;
  }
  say(`apt-get install ${[...extra, ...pkgs].join(' ')}`);
  try {
    await apt(['install', '-y', '-q', '--no-install-recommends', ...extra, ...pkgs]);
  } catch (e) {
    throw new SetupError(`could not install Debian packages ${pkgs.join(' ')}:\n${e.message}`);
  }
}
