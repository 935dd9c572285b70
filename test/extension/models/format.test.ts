import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DownloadProgress } from '../../../engine/models/download.ts';
import type { StoredModel } from '../../../engine/models/store.ts';
import type { InspectModelResult } from '../../../engine/protocol/protocol.ts';
import {
  downloadFailure,
  fitVerdict,
  formatMemory,
  modelItem,
  parseRepoInput,
  ProgressSteps,
  progressText,
  quantThatFits,
  validateRepoInput,
  validateToken,
} from '../../../extension/models/format.ts';

const HUB = 'https://huggingface.co';
const GiB = 1024 ** 3;

describe('repo input', () => {
  it('takes an id, or a model page URL from the hub or the configured mirror', () => {
    assert.deepEqual(parseRepoInput('deepseek-ai/DeepSeek-Coder-V2-Lite-Base', HUB), { repo: 'deepseek-ai/DeepSeek-Coder-V2-Lite-Base' });
    assert.deepEqual(parseRepoInput('  "Qwen/Qwen2.5-Coder-1.5B" ', HUB), { repo: 'Qwen/Qwen2.5-Coder-1.5B' });
    assert.deepEqual(parseRepoInput('https://huggingface.co/deepseek-ai/DeepSeek-Coder-V2-Lite-Base/', HUB), { repo: 'deepseek-ai/DeepSeek-Coder-V2-Lite-Base' });
    assert.deepEqual(parseRepoInput('https://huggingface.co/Qwen/Qwen3-8B/tree/v1.0', HUB), { repo: 'Qwen/Qwen3-8B', revision: 'v1.0' });
    assert.deepEqual(parseRepoInput('https://huggingface.co/Qwen/Qwen3-8B/blob/main/config.json?x=1', HUB), { repo: 'Qwen/Qwen3-8B' });
    assert.deepEqual(parseRepoInput('https://hf-mirror.example/org/m', 'https://hf-mirror.example/'), { repo: 'org/m' });
    assert.equal(parseRepoInput('https://github.com/org/m', HUB), undefined);
    assert.equal(parseRepoInput('org/m/extra', HUB), undefined);
  });

  it('validates for the input box with a reason', () => {
    assert.equal(validateRepoInput('deepseek-ai/DeepSeek-Coder-V2-Lite-Base', HUB), undefined);
    assert.match(validateRepoInput('', HUB)!, /deepseek-ai\/DeepSeek-Coder-V2-Lite-Base/);
    assert.match(validateRepoInput('a/b/c', HUB)!, /too many '\/'/);
    assert.match(validateRepoInput('org/bad name', HUB)!, /not a valid repo name/);
    assert.match(validateRepoInput('datasets/org/x', HUB)!, /not a model repo/);
    assert.match(validateRepoInput('https://github.com/org/m', HUB)!, /model id or model page URL|not a valid/);
  });

  it('tokens start with hf_', () => {
    assert.equal(validateToken('hf_abcdefghijkl'), undefined);
    assert.ok(validateToken(''));
    assert.ok(validateToken('ghp_abcdefghijkl'));
  });
});

describe('download progress', () => {
  const p = (done: number, total: number, extra: Partial<DownloadProgress> = {}): DownloadProgress => ({
    phase: 'downloading',
    file: 'model-00001-of-00004.safetensors',
    fileBytesDone: 0,
    fileBytesTotal: 0,
    bytesDone: done,
    bytesTotal: total,
    filesDone: 1,
    filesTotal: 6,
    bytesPerSecond: 0,
    ...extra,
  });

  it('shows MB done / total, the file, the rate and the time left', () => {
    assert.equal(progressText(p(1.2e9, 15.71e9, { bytesPerSecond: 45.1e6 })), '1.20 GB / 15.71 GB (7%) model-00001-of-00004.safetensors, 45.1 MB/s, 5 min 22 s left');
    assert.equal(progressText(p(512.3e6, 900e6)), '512.3 MB / 900.0 MB (56%) model-00001-of-00004.safetensors');
    assert.equal(progressText(p(5e6, 9e6, { phase: 'verifying' })), '5.0 MB / 9.0 MB (55%) model-00001-of-00004.safetensors, verifying');
    assert.equal(progressText(p(0, 0, { phase: 'listing', file: '' })), 'listing files');
  });

  it('turns totals into the increments VS Code wants, never negative', () => {
    const s = new ProgressSteps();
    assert.equal(s.next(p(0, 200)), 0);
    assert.equal(s.next(p(50, 200)), 25);
    assert.equal(s.next(p(150, 200)), 50);
    assert.equal(s.next(p(100, 200)), 0); // a restarted file moves back: nothing to add
    assert.equal(s.next(p(200, 200)), 25);
  });
});

describe('model list', () => {
  const m: StoredModel = {
    name: 'deepseek-ai--DeepSeek-Coder-V2-Lite-Base',
    path: '/m/deepseek-ai--DeepSeek-Coder-V2-Lite-Base',
    repo: 'deepseek-ai/DeepSeek-Coder-V2-Lite-Base',
    revision: 'main',
    sizeBytes: 31.4e9,
    state: 'complete',
    architecture: 'DeepseekV2ForCausalLM',
  };
  it('labels a model with size, state and whether it is in use', () => {
    assert.deepEqual(modelItem(m, ''), {
      label: '$(package) deepseek-ai/DeepSeek-Coder-V2-Lite-Base',
      description: '31.40 GB · ready',
      detail: 'DeepseekV2ForCausalLM · /m/deepseek-ai--DeepSeek-Coder-V2-Lite-Base',
    });
    assert.match(modelItem(m, '/m/deepseek-ai--DeepSeek-Coder-V2-Lite-Base/').description, /ready · in use$/);
    const partial = modelItem({ ...m, state: 'partial', problem: 'the download has not finished' }, '');
    assert.match(partial.label, /^\$\(cloud-download\)/);
    assert.match(partial.description, /download not finished/);
    assert.equal(partial.detail, 'the download has not finished');
    assert.equal(modelItem({ ...m, repo: undefined, name: 'by-hand' }, '').label, '$(package) by-hand');
  });
});

describe('fit verdict', () => {
  const result = (fits: boolean, total: number, available: number, quant: 'none' | 'int8' | 'int4' = 'int8'): InspectModelResult => ({
    model: '/m/x',
    architecture: 'DeepseekV2ForCausalLM',
    modelType: 'deepseek_v2',
    parameters: 15.7e9,
    activeParameters: 2.4e9,
    quant,
    contextLength: 8192,
    estimate: { weightsBytes: total - 2 * GiB, kvBytes: 0.5 * GiB, activationBytes: 0.5 * GiB, prefixCacheBytes: GiB, totalBytes: total },
    availableBytes: available,
    fits,
    message: '',
    provider: 'cuda',
    providerAttempts: [{ provider: 'cuda', ok: true }],
    totalBytesByQuant: { none: 60 * GiB, int8: 19 * GiB, int4: 11 * GiB },
  });

  it('says what it needs of what is available, and the provider', () => {
    const v = fitVerdict(result(true, 12.3 * GiB, 31 * GiB));
    assert.equal(v.fits, true);
    assert.equal(v.summary, 'fits: needs 12.3 GiB of 31 GiB available, provider cuda');
  });

  it('when it does not fit, suggests the most precise quantisation that does', () => {
    const v = fitVerdict(result(false, 19 * GiB, 16 * GiB));
    assert.equal(v.fits, false);
    assert.equal(v.summary, 'does not fit: needs 19 GiB but 16 GiB is available');
    assert.equal(v.suggestQuant, 'int4');
    assert.match(v.detail, /With int4 weights it needs 11 GiB/);
    const none = fitVerdict(result(false, 19 * GiB, 8 * GiB));
    assert.equal(none.suggestQuant, undefined);
    assert.match(none.detail, /No quantisation fits/);
    assert.equal(quantThatFits({ totalBytesByQuant: { none: 60 * GiB, int8: 19 * GiB, int4: 11 * GiB }, availableBytes: 64 * GiB }), 'none');
    assert.equal(formatMemory(512 * 1024 ** 2), '512 MiB');
  });
});

describe('download failures', () => {
  it('offers a token for auth errors, resume for network ones, and says a cancel can resume', () => {
    const hub = { hubUrl: 'https://huggingface.co', resumable: false };
    assert.equal(downloadFailure('o/m', { kind: 'auth', message: 'needs a Hugging Face token' }, hub).action, 'setToken');
    // Resume only when a part was downloaded; either way the hub setting is named (issue 13, item 10).
    const none = downloadFailure('o/m', { kind: 'network', message: 'o/m: cannot reach https://huggingface.co (connection refused)' }, hub);
    assert.equal(none.action, 'retry');
    assert.match(none.message, /set switchyard\.models\.hubUrl to a mirror/);
    assert.doesNotMatch(none.message, /Resume/);
    const some = downloadFailure('o/m', { kind: 'network', message: 'interrupted' }, { ...hub, resumable: true });
    assert.equal(some.action, 'resume');
    assert.match(some.message, /Resume continues from there.*switchyard\.models\.hubUrl/);
    assert.match(downloadFailure('o/m', { kind: 'cancelled', message: 'x' }, hub).message, /cancelled.*resume/);
    assert.equal(downloadFailure('o/m', { kind: 'verify', message: 'sha256 mismatch' }, hub).action, undefined);
  });
});
