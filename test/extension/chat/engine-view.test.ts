/**
 * The chat view's engine line for every engine state: kind, the exact message, the percentage and
 * the fix buttons, plus the remote endpoint overriding the local engine.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LoadModelResult } from '../../../engine/protocol/protocol.ts';
import { engineView, modelName } from '../../../extension/chat/engine-view.ts';
import type { EngineState } from '../../../extension/engine/engine-host.ts';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEMO_CHAT_NOTE, DEMO_MARKER, DEMO_MARKER_CONTENT } from '../../../extension/demo-model.ts';

const info = { model: '/models/DeepSeek-Coder-V2-Lite/', architecture: 'DeepseekV2ForCausalLM', provider: 'cuda', quant: 'int8' } as LoadModelResult;
const local = (state: EngineState, modelPath = '/models/DeepSeek-Coder-V2-Lite') => engineView({ state, remoteEndpoint: '', modelPath });
const NO_MODEL = { kind: 'no-model', message: 'No model selected: select a checkpoint folder or download a model', fixes: ['selectModel', 'downloadModel'] };

describe('chat engine view', () => {
  it('idle with a model: the engine starts with the first message; idle without one is no-model', () => {
    assert.deepEqual(local({ kind: 'idle' }), { kind: 'idle', message: 'DeepSeek-Coder-V2-Lite: the engine starts with the first message', fixes: [] });
    assert.deepEqual(local({ kind: 'idle' }, ''), NO_MODEL);
  });

  it('no-model offers select and download', () => {
    assert.deepEqual(local({ kind: 'no-model' }), NO_MODEL);
    assert.deepEqual(local({ kind: 'error', problem: { kind: 'no-model', message: 'no model folder is configured' } }), NO_MODEL);
  });

  it('starting, and restarting after a crash (shown as starting, with the log)', () => {
    assert.deepEqual(local({ kind: 'starting' }), { kind: 'starting', message: 'Starting the engine', fixes: [] });
    assert.deepEqual(local({ kind: 'restarting', crashes: 2, delayMs: 2000 }), {
      kind: 'starting',
      message: 'Restarting the engine after a crash (2 recently), in 2 s',
      fixes: ['showLog'],
    });
  });

  it('loading carries the percentage and the phase', () => {
    assert.deepEqual(local({ kind: 'loading', percent: 40, message: 'building' }), {
      kind: 'loading',
      message: 'Loading DeepSeek-Coder-V2-Lite: building 40%',
      percent: 40,
      fixes: [],
    });
  });

  it('ready names the model and the execution provider', () => {
    assert.deepEqual(local({ kind: 'ready', info, pid: 7 }), { kind: 'ready', message: 'DeepSeek-Coder-V2-Lite on cuda', fixes: [] });
  });

  it('errors are down, with the problem message and the fixes that apply', () => {
    assert.deepEqual(local({ kind: 'error', problem: { kind: 'crashed', message: 'the engine crashed 5 times in 2 minutes (last: signal SIGKILL)' } }), {
      kind: 'down',
      message: 'The engine crashed 5 times in 2 minutes (last: signal SIGKILL)',
      fixes: ['restartEngine', 'showLog'],
    });
    assert.deepEqual(local({ kind: 'error', problem: { kind: 'other', message: 'boom' } }), { kind: 'down', message: 'Boom', fixes: ['restartEngine', 'showLog'] });
    assert.deepEqual(local({ kind: 'error', problem: { kind: 'load-failed', message: '/m/config.json: file not found' } }), {
      kind: 'down',
      message: 'Cannot load the model: /m/config.json: file not found',
      fixes: ['selectModel', 'restartEngine', 'showLog'],
    });
    assert.deepEqual(local({ kind: 'error', problem: { kind: 'too-large', message: 'needs 40 GiB, budget 16 GiB' } }), {
      kind: 'down',
      message: 'The model does not fit in memory: needs 40 GiB, budget 16 GiB',
      fixes: ['selectModel', 'openSettings', 'showLog'],
    });
    const spawn = local({ kind: 'error', problem: { kind: 'spawn-failed', message: 'cannot start the engine with /bin/nodex: ENOENT' } });
    assert.equal(spawn.kind, 'down');
    assert.deepEqual(spawn.fixes, ['openSettings', 'restartEngine', 'showLog']);
    const incompatible = local({ kind: 'error', problem: { kind: 'incompatible', message: 'engine speaks protocol 2' } });
    assert.deepEqual(incompatible, { kind: 'down', message: 'Engine speaks protocol 2', fixes: ['restartEngine', 'showLog'] });
  });

  it('a remote endpoint replaces the local engine whatever its state', () => {
    for (const state of [{ kind: 'idle' }, { kind: 'no-model' }, { kind: 'error', problem: { kind: 'crashed', message: 'x' } }] as EngineState[]) {
      assert.deepEqual(engineView({ state, remoteEndpoint: 'http://10.0.0.5:8000/v1', modelPath: '' }), { kind: 'remote', message: 'remote: http://10.0.0.5:8000/v1', fixes: [] });
    }
  });

  it('a failing remote endpoint shows its error with the buttons that fix it', () => {
    const remoteProblem = { message: 'Cannot reach the remote endpoint http://10.0.0.5:8000/v1: connection refused.', fix: 'settings' as const };
    assert.deepEqual(engineView({ state: { kind: 'idle' }, remoteEndpoint: 'http://10.0.0.5:8000/v1', modelPath: '', remoteProblem }), {
      kind: 'remote-down',
      message: remoteProblem.message,
      fixes: ['remoteSettings', 'retryRemote'],
    });
    assert.deepEqual(engineView({ state: { kind: 'idle' }, remoteEndpoint: 'http://h/v1', modelPath: '', remoteProblem: { message: 'refused (401)', fix: 'apiKey' } }).fixes, ['setApiKey', 'retryRemote']);
    // With the endpoint cleared the local engine's state shows again, whatever the remote did.
    assert.equal(engineView({ state: { kind: 'idle' }, remoteEndpoint: '', modelPath: '/m/x', remoteProblem }).kind, 'idle');
  });

  it('model names are the last path segment', () => {
    assert.equal(modelName('C:\\models\\Qwen2.5-Coder\\'), 'Qwen2.5-Coder');
    assert.equal(modelName('/m/x'), 'x');
  });

  it('the demo model (its marker file): a note on what it cannot show, with the ways to a real checkpoint, while idle or ready', (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-demo-view-'));
    fs.writeFileSync(path.join(dir, DEMO_MARKER), JSON.stringify(DEMO_MARKER_CONTENT));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const demo = (state: EngineState) => engineView({ state, remoteEndpoint: '', modelPath: dir });
    assert.deepEqual(demo({ kind: 'ready', info: { ...info, model: dir, provider: 'cpu' }, pid: 1 }), {
      kind: 'ready',
      message: `${path.basename(dir)} on cpu`,
      fixes: ['downloadModel', 'selectModel'],
      note: DEMO_CHAT_NOTE,
    });
    assert.equal(demo({ kind: 'idle' }).note, DEMO_CHAT_NOTE);
    // Loading and errors keep their own line; a remote endpoint is not the demo model; a real checkpoint has no note.
    assert.equal(demo({ kind: 'loading', percent: 10, message: 'reading' }).note, undefined);
    assert.equal(demo({ kind: 'error', problem: { kind: 'crashed', message: 'the engine crashed' } }).note, undefined);
    assert.equal(engineView({ state: { kind: 'idle' }, remoteEndpoint: 'http://h/v1', modelPath: dir }).note, undefined);
    assert.equal(local({ kind: 'ready', info, pid: 1 }).note, undefined);
  });
});
