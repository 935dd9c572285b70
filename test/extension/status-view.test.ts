import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LoadModelResult } from '../../engine/protocol/protocol.ts';
import { statusView } from '../../extension/status-view.ts';

const info = { model: '/models/DeepSeek-Coder-V2-Lite-Base', architecture: 'DeepseekV2ForCausalLM', provider: 'webgpu', quant: 'int8' } as LoadModelResult;

describe('status bar view', () => {
  it('a remote endpoint replaces the engine state', () => {
    const v = statusView({ state: { kind: 'idle' }, completionsEnabled: true, modelConfigured: false, remoteEndpoint: 'http://h:8000/v1', lastLatencyMs: 321.4 });
    assert.equal(v.text, '$(cloud) Switchyard remote 321 ms');
    assert.match(v.label, /Switchyard: remote — http:\/\/h:8000\/v1/);
    assert.equal(v.error, false);
  });
  it('a failing remote endpoint shows as an error, and the click fixes it', () => {
    const message = 'Cannot reach the remote endpoint http://h:8000/v1: connection refused. Check switchyard.remote.endpoint.';
    const v = statusView({ state: { kind: 'idle' }, completionsEnabled: true, modelConfigured: false, remoteEndpoint: 'http://h:8000/v1', remoteProblem: { message, fix: 'settings' } });
    assert.equal(v.text, '$(error) Switchyard remote');
    assert.equal(v.error, true);
    assert.ok(v.label.startsWith(`Switchyard: remote endpoint failing — ${message}`), v.label);
    assert.deepEqual(v.command, { title: 'Open the remote endpoint settings', command: 'workbench.action.openSettings', arguments: ['switchyard.remote'] });
    const key = statusView({ state: { kind: 'idle' }, completionsEnabled: true, modelConfigured: false, remoteEndpoint: 'http://h:8000/v1', remoteProblem: { message: 'refused (401)', fix: 'apiKey' } });
    assert.equal(key.command, 'switchyard.setRemoteApiKey');
    assert.match(key.label, /click to set the API key/);
  });
  it('remote completions without fill-in-the-middle: a warning mark, and the reason with its fix in the tooltip', () => {
    const why = 'Completions from http://h:8000/v1 continue the text before the cursor only: ... Set switchyard.remote.fimFormat to ...';
    const v = statusView({ state: { kind: 'idle' }, completionsEnabled: true, modelConfigured: false, remoteEndpoint: 'http://h:8000/v1', remoteFimWarning: why });
    assert.equal(v.text, '$(cloud) Switchyard remote $(warning)');
    assert.ok(v.tooltip.endsWith(`completions. ${why}`), v.tooltip);
    assert.equal(v.label, v.tooltip);
  });
  it('loading shows a spinning percentage', () => {
    const v = statusView({ state: { kind: 'loading', percent: 42, message: 'hashing' }, completionsEnabled: true, modelConfigured: true });
    assert.equal(v.text, '$(sync~spin) Switchyard 42%');
    assert.equal(statusView({ state: { kind: 'starting' }, completionsEnabled: true, modelConfigured: true }).text, '$(sync~spin) Switchyard 0%');
  });
  it('ready shows the provider and the last latency; tooltip and label say ready', () => {
    const v = statusView({ state: { kind: 'ready', info, pid: 1 }, completionsEnabled: true, modelConfigured: true, lastLatencyMs: 123.4 });
    assert.ok(v.text.startsWith('$(check) Switchyard'));
    assert.match(v.text, /webgpu/);
    assert.match(v.text, /123 ms/);
    assert.match(v.tooltip, /Switchyard: ready/);
    assert.match(v.label, /Switchyard: ready/);
    assert.match(v.tooltip, /DeepSeek-Coder-V2-Lite-Base/);
    assert.doesNotMatch(v.tooltip, /KV cache on the GPU/);
    const onGpu = statusView({ state: { kind: 'ready', info: { ...info, kvCache: 'gpu-buffer' }, pid: 1 }, completionsEnabled: true, modelConfigured: true });
    assert.match(onGpu.tooltip, /on webgpu \(KV cache on the GPU\)/);
    const split = statusView({
      state: { kind: 'ready', info: { ...info, experts: { mode: 'fused', gpuLayers: [1, 2], cpuLayers: [3], summary: 'routed experts of 2 of 3 MoE layers on the GPU (2.00 GiB), 1 on the CPU (1.00 GiB)' } }, pid: 1 },
      completionsEnabled: true,
      modelConfigured: true,
    });
    assert.match(split.tooltip, /routed experts of 2 of 3 MoE layers on the GPU .*1 on the CPU/);
    const before = statusView({ state: { kind: 'ready', info, pid: 1 }, completionsEnabled: false, modelConfigured: true });
    assert.ok(before.text.startsWith('$(check) Switchyard'));
    assert.match(before.text, /off/);
  });
  it('error and no model are spelled out for the tooltip and screen readers', () => {
    const e = statusView({ state: { kind: 'error', problem: { kind: 'load-failed', message: '/m/config.json: file not found' } }, completionsEnabled: true, modelConfigured: true });
    assert.match(e.tooltip, /Switchyard: error — \/m\/config.json: file not found/);
    assert.match(e.label, /Switchyard: error/);
    assert.equal(e.error, true);
    for (const v of [
      statusView({ state: { kind: 'no-model' }, completionsEnabled: true, modelConfigured: false }),
      statusView({ state: { kind: 'idle' }, completionsEnabled: true, modelConfigured: false }),
    ]) {
      assert.match(v.tooltip, /Switchyard: no model/);
      assert.match(v.label, /Switchyard: no model/);
      assert.equal(v.command, 'switchyard.selectModelFolder');
    }
  });
});
