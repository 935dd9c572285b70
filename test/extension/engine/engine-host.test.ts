import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { ResponseError } from 'vscode-jsonrpc';
import { ErrorCodes, PROTOCOL_VERSION, type LoadModelResult, type ProgressParams } from '../../../engine/protocol/protocol.ts';
import { DEFAULT_SETTINGS, type Settings } from '../../../extension/config.ts';
import { CrashPolicy } from '../../../extension/engine/crash-policy.ts';
import { EngineHost, type EngineClientLike, type EngineState, type SpawnRequest } from '../../../extension/engine/engine-host.ts';
import type { Problem } from '../../../extension/engine/errors.ts';
import { progressPercent } from '../../../extension/engine/progress.ts';
import type { TraceEvent } from '../../../extension/trace.ts';

const INFO: LoadModelResult = {
  model: '/models/tiny',
  architecture: 'DeepseekV2ForCausalLM',
  modelType: 'deepseek_v2',
  provider: 'cpu',
  providerAttempts: [{ provider: 'webgpu', ok: false, reason: 'no adapter' }, { provider: 'cpu', ok: true }],
  kvCache: 'cpu',
  quant: 'int8',
  fromCache: true,
  contextLength: 4096,
  maxContextLength: 4096,
  contextLimitedBy: 'model',
  kvBytesPerToken: 768,
  kvCacheBytes: 4096 * 768,
  prefixCacheBytes: 1024 ** 3,
  fimFormat: 'qwen-coder',
  hasChatTemplate: true,
};

let nextPid = 1000;

/** A scripted engine: what loadModel does is up to the test. */
class FakeClient implements EngineClientLike {
  readonly child = Object.assign(new EventEmitter(), { pid: nextPid++ }) as never as EngineClientLike['child'] & EventEmitter;
  exited = false;
  shutdowns = 0;
  readonly conn = { dispose: () => {} };
  constructor(
    readonly req: SpawnRequest,
    private readonly load: (c: FakeClient, onProgress?: (p: ProgressParams) => void) => Promise<LoadModelResult>,
  ) {}
  async initialize() {
    return { protocolVersion: PROTOCOL_VERSION, pid: this.child!.pid! };
  }
  loadModel(_p: unknown, onProgress?: (p: ProgressParams) => void) {
    return this.load(this, onProgress);
  }
  async complete(): Promise<never> {
    throw new Error('not used');
  }
  async chat(): Promise<never> {
    throw new Error('not used');
  }
  async inspectModel(p: { model: string }) {
    return { model: p.model, fits: true } as never;
  }
  async countTokens() {
    return 0;
  }
  async status(): Promise<never> {
    throw new Error('not used');
  }
  /** The process dies (crash or exit). */
  die(code: number | null, signal: NodeJS.Signals | null = null) {
    if (this.exited) return;
    this.exited = true;
    this.req.onExit(code, signal);
  }
  async shutdown() {
    this.shutdowns++;
    this.die(0);
  }
  kill() {
    this.die(null, 'SIGKILL');
  }
}

function harness(
  opts: { settings?: Partial<Settings>; load?: (c: FakeClient, onProgress?: (p: ProgressParams) => void) => Promise<LoadModelResult>; baseMs?: number; onSpawn?: (c: FakeClient) => void } = {},
) {
  const spawned: FakeClient[] = [];
  const states: EngineState[] = [];
  const problems: Problem[] = [];
  const trace: TraceEvent[] = [];
  const settings: Settings = { ...DEFAULT_SETTINGS, modelPath: '/models/tiny', ...opts.settings };
  const host = new EngineHost({
    settings: () => settings,
    engineScript: '/ext/dist/engine.cjs',
    execPath: '/vscode/code',
    env: { PATH: '/bin' },
    spawn: (req) => {
      const c = new FakeClient(req, opts.load ?? (async () => INFO));
      spawned.push(c);
      opts.onSpawn?.(c);
      return c;
    },
    log: () => {},
    trace: (e) => trace.push(e),
    onState: (s) => states.push(s),
    onProblem: (p) => problems.push(p),
    crashPolicy: { baseMs: opts.baseMs ?? 5, maxMs: 20 },
  });
  return { host, spawned, states, problems, trace, settings };
}

const until = async (cond: () => boolean) => {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
  assert.ok(cond(), 'condition not reached');
};

describe('engine host', () => {
  it('starts nothing until first use, then spawns VS Code as Node with the engine bundle', async () => {
    const h = harness();
    assert.equal(h.spawned.length, 0);
    assert.equal(h.host.state.kind, 'idle');
    const client = await h.host.ensureReady();
    assert.ok(client);
    assert.equal(h.spawned.length, 1);
    const req = h.spawned[0]!.req;
    assert.equal(req.command, '/vscode/code');
    assert.deepEqual(req.args, ['/ext/dist/engine.cjs']);
    assert.equal(req.env.ELECTRON_RUN_AS_NODE, '1');
    assert.equal(req.env.PATH, '/bin');
    assert.equal(h.host.state.kind, 'ready');
    const pid = h.spawned[0]!.child!.pid;
    assert.deepEqual(h.trace.map((e) => e.event), ['engine-start', 'engine-ready']);
    assert.deepEqual(h.trace[0], { event: 'engine-start', pid });
    assert.equal((h.trace[1] as { pid: number }).pid, pid);
    // Concurrent callers share one engine.
    await Promise.all([h.host.ensureReady(), h.host.ensureReady()]);
    assert.equal(h.spawned.length, 1);
    await h.host.dispose();
    assert.deepEqual(h.trace[2], { event: 'engine-exit', pid, code: 0, signal: null });
  });

  it('uses the configured Node binary without ELECTRON_RUN_AS_NODE', async () => {
    const h = harness({ settings: { nodePath: '/usr/bin/node' } });
    await h.host.ensureReady();
    assert.equal(h.spawned[0]!.req.command, '/usr/bin/node');
    assert.equal(h.spawned[0]!.req.env.ELECTRON_RUN_AS_NODE, undefined);
    await h.host.dispose();
  });

  it('reports loading progress as a rising percentage', async () => {
    const h = harness({
      load: async (_c, onProgress) => {
        onProgress?.({ progressId: 'x', phase: 'hashing', done: 50, total: 100, message: 'hashing' });
        onProgress?.({ progressId: 'x', phase: 'creating session', done: 0, total: 1, message: 'session' });
        return INFO;
      },
    });
    await h.host.ensureReady();
    const pcts = h.states.filter((s) => s.kind === 'loading').map((s) => (s as { percent: number }).percent);
    assert.deepEqual(pcts, [...pcts].sort((a, b) => a - b));
    assert.ok(pcts.length >= 3 && pcts[pcts.length - 1]! >= 90);
    await h.host.dispose();
  });

  it('no model configured: no process, a no-model problem, and no retry on every request', async () => {
    const h = harness({ settings: { modelPath: '' } });
    assert.equal(await h.host.ensureReady(), undefined);
    assert.equal(await h.host.ensureReady(), undefined);
    assert.equal(h.spawned.length, 0);
    assert.equal(h.host.state.kind, 'no-model');
    assert.deepEqual(h.problems.map((p) => p.kind), ['no-model']);
    // Configuring a model and restarting loads it.
    h.settings.modelPath = '/models/tiny';
    await h.host.settingsChanged();
    assert.equal(h.host.state.kind, 'ready');
  });

  it("a bad model folder: the engine's message, the engine stopped, no retry until the user acts", async () => {
    const h = harness({
      load: async () => {
        throw new ResponseError(ErrorCodes.LoadFailed, '/models/tiny/config.json: file not found');
      },
    });
    assert.equal(await h.host.ensureReady(), undefined);
    assert.deepEqual(h.problems, [{ kind: 'load-failed', message: '/models/tiny/config.json: file not found' }]);
    assert.equal(h.host.state.kind, 'error');
    assert.equal(h.spawned[0]!.shutdowns, 1);
    assert.equal(await h.host.ensureReady(), undefined);
    assert.equal(h.spawned.length, 1, 'not respawned per request');
    await h.host.restart();
    assert.equal(h.spawned.length, 2);
  });

  it('a model over the memory budget is told apart', async () => {
    const msg = '/models/big: too large for the memory budget: weights 40 GiB + ... exceeds 19.20 GiB (try a shorter context, int8/int4, or a smaller prefix cache)';
    const h = harness({
      load: async () => {
        throw new ResponseError(ErrorCodes.LoadFailed, msg);
      },
    });
    await h.host.ensureReady();
    assert.deepEqual(h.problems, [{ kind: 'too-large', message: msg }]);
  });

  it('restarts after a crash with back-off, and gives up after 5 crashes in the window', async () => {
    const h = harness({ baseMs: 5 });
    await h.host.ensureReady();
    h.spawned[0]!.die(null, 'SIGSEGV');
    assert.equal(h.host.state.kind, 'restarting');
    await until(() => h.host.state.kind === 'ready');
    assert.equal(h.spawned.length, 2);
    const exits = h.trace.filter((e) => e.event === 'engine-exit');
    assert.deepEqual(exits[0], { event: 'engine-exit', pid: h.spawned[0]!.child!.pid, code: null, signal: 'SIGSEGV' });
    const delays: number[] = [];
    for (let i = 1; i < 5; i++) {
      await until(() => h.host.state.kind === 'ready');
      h.spawned[h.spawned.length - 1]!.die(1);
      if (h.host.state.kind === 'restarting') delays.push(h.host.state.delayMs);
    }
    assert.deepEqual(delays, [10, 20, 20], 'doubling, capped');
    assert.equal(h.host.state.kind, 'error');
    assert.equal(h.problems[h.problems.length - 1]!.kind, 'crashed');
    assert.match(h.problems[h.problems.length - 1]!.message, /crashed 5 times in 2 minutes/);
    // No automatic restart after giving up; the user's restart resets the count.
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(h.spawned.length, 5);
    await h.host.restart();
    assert.equal((h.host.state as EngineState).kind, 'ready');
    await h.host.dispose();
  });

  it('a crash during loading counts as a crash (restart), not as a load error', async () => {
    let first = true;
    const h = harness({
      load: async (c) => {
        if (first) {
          first = false;
          setImmediate(() => c.die(null, 'SIGKILL'));
          return new Promise<never>((_r, reject) => setTimeout(() => reject(new Error('Pending response rejected since connection got disposed')), 1));
        }
        return INFO;
      },
    });
    assert.equal(await h.host.ensureReady(), INFO && h.host.client);
    assert.equal(h.spawned.length, 2);
    assert.equal(h.problems.length, 0);
    await h.host.dispose();
  });

  it('cancelling a load stops the engine, answers waiters with undefined and does not restart by itself', async () => {
    let release!: () => void;
    let loads = 0;
    const h = harness({ load: async () => (++loads === 1 ? new Promise<LoadModelResult>((r) => (release = () => r(INFO))) : INFO) });
    const waiting = h.host.ensureReady();
    await until(() => h.host.state.kind === 'loading');
    await h.host.cancelLoad();
    assert.equal(await waiting, undefined);
    assert.equal(h.host.state.kind, 'error');
    assert.deepEqual(h.problems.at(-1), { kind: 'cancelled', message: 'loading the model was cancelled' });
    assert.equal(h.spawned[0]!.exited, true);
    release();
    assert.equal(await h.host.ensureReady(), undefined, 'no new engine until the user restarts');
    assert.equal(h.spawned.length, 1);
    await h.host.restart();
    assert.equal(h.host.state.kind, 'ready');
    await h.host.dispose();
  });

  it('the fit check asks the running engine, or a short-lived one that is shut down after', async () => {
    const h = harness();
    const r = (await h.host.inspectModel({ model: '/models/other' })) as unknown as { model: string; fits: boolean };
    assert.deepEqual(r, { model: '/models/other', fits: true });
    assert.equal(h.spawned.length, 1);
    assert.equal(h.spawned[0]!.exited, true, 'the temporary engine exits');
    assert.equal(h.host.state.kind, 'idle', 'and the host state is untouched');
    await h.host.ensureReady();
    await h.host.inspectModel({ model: '/models/other' });
    assert.equal(h.spawned.length, 2, 'no extra engine while one is running');
    assert.equal(h.spawned[1]!.exited, false);
    await h.host.dispose();
  });

  it('a request waiting for the engine gives up when its signal aborts', async () => {
    let release!: () => void;
    const h = harness({ load: () => new Promise((r) => (release = () => r(INFO))) });
    const ac = new AbortController();
    const p = h.host.ensureReady(ac.signal);
    ac.abort();
    assert.equal(await p, undefined);
    await until(() => release !== undefined);
    release();
    assert.ok(await h.host.ensureReady());
    await h.host.dispose();
  });

  it('a missing Node binary is a spawn failure, not a hang', async () => {
    const h = harness({
      settings: { nodePath: '/nope/node' },
      // As with the real client: the process never started, so initialize is answered only by
      // disposing the connection (which rejects pending requests).
      onSpawn: (c) => {
        let rejectInit: (e: Error) => void = () => {};
        c.initialize = () => new Promise((_r, reject) => (rejectInit = reject));
        c.conn.dispose = () => rejectInit(new Error('Pending response rejected since connection got disposed'));
      },
    });
    const p = h.host.ensureReady();
    await until(() => h.spawned.length === 1);
    h.spawned[0]!.child!.emit('error', Object.assign(new Error('spawn /nope/node ENOENT'), { code: 'ENOENT' }));
    assert.equal(await p, undefined);
    assert.equal(h.problems[0]!.kind, 'spawn-failed');
    assert.match(h.problems[0]!.message, /\/nope\/node: spawn \/nope\/node ENOENT/);
  });
});

describe('crash policy and progress', () => {
  it('backs off 1 s, 2 s, 4 s ... up to 30 s and gives up at 5 crashes within 2 minutes', () => {
    const p = new CrashPolicy();
    const d = [0, 1000, 2000, 3000].map((t) => p.onCrash(t));
    assert.deepEqual(d.map((x) => x.delayMs), [1000, 2000, 4000, 8000]);
    assert.equal(d.some((x) => x.giveUp), false);
    assert.equal(p.onCrash(4000).giveUp, true);
    const q = new CrashPolicy();
    for (let i = 0; i < 10; i++) assert.equal(q.onCrash(i * 60_000).giveUp, false, 'crashes far apart never give up');
    const r = new CrashPolicy({ maxCrashes: 100 });
    let last = 0;
    for (let i = 0; i < 10; i++) last = r.onCrash(i).delayMs;
    assert.equal(last, 30_000);
  });
  it('maps load phases onto 0-100', () => {
    assert.equal(progressPercent({ phase: 'reading', done: 0, total: 1 }), 0);
    assert.equal(progressPercent({ phase: 'hashing', done: 1, total: 1 }), 25);
    assert.equal(progressPercent({ phase: 'creating session', done: 1, total: 1 }), 99);
    assert.equal(progressPercent({ phase: 'quantising', done: 0, total: 0 }), 60);
  });
});
