/**
 * `engine serve` as a user runs it, for HTTP tests: a child process on 127.0.0.1 (port 0), resolved
 * once it prints the address it listens on.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { repoDir } from './paths.ts';

export interface Served {
  /** The OpenAI-compatible base URL, http://127.0.0.1:PORT/v1. */
  base: string;
  child: ChildProcess;
  /** What the server wrote to stderr so far. */
  stderr(): string;
  stop(): void;
}

/** `engine serve --model <model> --port 0 --ep cpu <args>`; rejects with its stderr when it exits first. */
export function startServe(model: string, args: string[]): Promise<Served> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoDir(), 'engine', 'cli', 'main.ts'), 'serve', '--model', model, '--port', '0', '--ep', 'cpu', ...args], {
    cwd: repoDir(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (stderr += d));
  return new Promise<Served>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      out += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(out);
      if (m) resolve({ base: m[1]!, child, stderr: () => stderr, stop: () => child.kill('SIGTERM') });
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
}
