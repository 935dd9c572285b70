/**
 * The extension's engine host and completion path against the real engine process (from source,
 * through tsx) and a tiny random-weight model with a real Qwen2.5-Coder tokenizer: lazy start,
 * traces, a completion with related files, a crash (SIGKILL) and the automatic restart.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { EngineClient } from '../../../engine/protocol/client.ts';
import { DEFAULT_SETTINGS, type Settings } from '../../../extension/config.ts';
import { chunkFile } from '../../../extension/context/chunks.ts';
import { Completer } from '../../../extension/completions/request.ts';
import { EngineHost } from '../../../extension/engine/engine-host.ts';
import type { TraceEvent } from '../../../extension/trace.ts';
import { repoDir } from '../../helpers/paths.ts';
import { tinyModel } from '../../helpers/tiny-model.ts';

const until = async (cond: () => boolean, ms = 60_000) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.ok(cond(), 'condition not reached in time');
};

describe('engine host with the real engine', () => {
  it('starts lazily, completes, restarts after a crash, and shuts down', { timeout: 240_000 }, async () => {
    const settings: Settings = { ...DEFAULT_SETTINGS, modelPath: tinyModel('qwen2.5-coder'), executionProviders: ['cpu'], debounceMs: 0, maxTokens: 8 };
    const trace: TraceEvent[] = [];
    const host = new EngineHost({
      settings: () => settings,
      engineScript: path.join(repoDir(), 'engine', 'service', 'main.ts'),
      nodeArgs: ['--import', 'tsx'],
      cwd: repoDir(),
      spawn: (req) => EngineClient.spawn(req),
      log: () => {},
      trace: (e) => trace.push(e),
      crashPolicy: { baseMs: 50 },
    });
    try {
      assert.equal(trace.length, 0, 'nothing starts before first use');
      const completer = new Completer({
        settings: () => settings,
        engine: async (signal) => {
          const c = await host.ensureReady(signal);
          return c && host.state.kind === 'ready' ? { client: c, contextLength: host.state.info.contextLength } : undefined;
        },
        trace: (e) => trace.push(e),
        log: () => {},
      });
      const text = 'def add(a, b):\n    return \n';
      const offset = text.indexOf('return ') + 'return '.length;
      const out = await completer.complete(
        {
          uri: 'file:///w/add.py',
          path: 'add.py',
          tracePath: '/w/add.py',
          languageId: 'python',
          text,
          offset,
          line: 1,
          character: 11,
          tabSize: 4,
          repoName: 'w',
          candidates: () => chunkFile({ path: 'util.py', languageId: 'python', text: 'def add_all(xs):\n    return sum(xs)\n' }),
        },
        new AbortController().signal,
      );
      assert.equal(out.kind, 'completion');
      const events = trace.map((e) => e.event);
      assert.deepEqual(events.slice(0, 4), ['engine-start', 'engine-ready', 'completion-request', 'completion-result']);
      const pid = (trace[0] as { pid: number }).pid;
      assert.equal((trace[1] as { pid: number }).pid, pid);
      assert.deepEqual(trace[2], { event: 'completion-request', file: '/w/add.py', line: 1 });
      assert.equal(typeof (trace[3] as { ms: number }).ms, 'number');

      const st = await host.status();
      assert.equal(st?.requests.completed, 1);

      // Crash: the host traces the exit and restarts the engine on its own.
      process.kill(pid, 'SIGKILL');
      await until(() => trace.some((e) => e.event === 'engine-exit'));
      assert.deepEqual(trace.find((e) => e.event === 'engine-exit'), { event: 'engine-exit', pid, code: null, signal: 'SIGKILL' });
      await until(() => host.state.kind === 'ready' && trace.filter((e) => e.event === 'engine-ready').length === 2);
      const pid2 = (trace.filter((e) => e.event === 'engine-ready')[1] as { pid: number }).pid;
      assert.notEqual(pid2, pid);
      const again = await completer.complete(
        { uri: 'file:///w/add.py', path: 'add.py', tracePath: '/w/add.py', languageId: 'python', text: `${text}x = `, offset: text.length + 4, line: 2, character: 4, tabSize: 4 },
        new AbortController().signal,
      );
      assert.equal(again.kind, 'completion');
    } finally {
      await host.dispose();
    }
    const last = trace[trace.length - 1]!;
    assert.equal(last.event, 'engine-exit');
    assert.equal((last as { code: number | null }).code, 0);
  });
});
