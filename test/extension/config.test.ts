import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { completionsAllowed, DEFAULT_SETTINGS, engineContextLength, isLanguageEnabled, normalizeSettings } from '../../extension/config.ts';
import { REMOTE_FIM_SETTINGS } from '../../extension/backend/remote-fim.ts';
import { repoDir } from '../helpers/paths.ts';

const pkg = JSON.parse(readFileSync(path.join(repoDir(), 'package.json'), 'utf8')) as {
  publisher: string;
  name: string;
  main: string;
  activationEvents: string[];
  contributes: { configuration: { properties: Record<string, { default?: unknown; description?: string; markdownDescription?: string }> }; commands: { command: string; title: string }[] };
};

describe('package.json contract', () => {
  it('identifies and loads the extension', () => {
    assert.equal(pkg.publisher, 'switchyard');
    assert.equal(pkg.name, 'switchyard');
    assert.equal(pkg.main, './dist/extension.cjs');
    assert.deepEqual(pkg.activationEvents, ['onStartupFinished']);
  });
  it('declares every setting with a description, and its default matches config.ts', () => {
    const props = pkg.contributes.configuration.properties;
    const expected: Record<string, unknown> = {
      'switchyard.model.path': DEFAULT_SETTINGS.modelPath,
      'switchyard.model.quantization': DEFAULT_SETTINGS.quantization,
      'switchyard.engine.executionProviders': DEFAULT_SETTINGS.executionProviders,
      'switchyard.engine.nodePath': DEFAULT_SETTINGS.nodePath,
      'switchyard.engine.gpuMemoryBudget': DEFAULT_SETTINGS.gpuMemoryBudgetGiB,
      'switchyard.completions.enabled': DEFAULT_SETTINGS.completionsEnabled,
      'switchyard.completions.languages': DEFAULT_SETTINGS.languages,
      'switchyard.completions.debounceMs': DEFAULT_SETTINGS.debounceMs,
      'switchyard.completions.maxTokens': DEFAULT_SETTINGS.maxTokens,
      'switchyard.context.budgetTokens': DEFAULT_SETTINGS.budgetTokens,
      'switchyard.chat.maxTokens': DEFAULT_SETTINGS.chatMaxTokens,
      'switchyard.chat.budgetTokens': DEFAULT_SETTINGS.chatBudgetTokens,
      'switchyard.chat.thinking': DEFAULT_SETTINGS.chatThinking,
      'switchyard.remote.endpoint': DEFAULT_SETTINGS.remoteEndpoint,
      'switchyard.remote.model': DEFAULT_SETTINGS.remoteModel,
      'switchyard.remote.timeoutSeconds': DEFAULT_SETTINGS.remoteTimeoutSeconds,
      'switchyard.remote.contextLength': DEFAULT_SETTINGS.remoteContextLength,
      'switchyard.remote.fimFormat': DEFAULT_SETTINGS.remoteFimFormat,
      'switchyard.models.folder': DEFAULT_SETTINGS.modelsFolder,
      'switchyard.models.hubUrl': DEFAULT_SETTINGS.hubUrl,
    };
    assert.deepEqual(Object.keys(props).sort(), Object.keys(expected).sort());
    for (const [k, v] of Object.entries(expected)) {
      assert.deepEqual(props[k]!.default, v, k);
      assert.ok((props[k]!.description ?? props[k]!.markdownDescription ?? '').length > 20, `${k} has a description`);
    }
    assert.deepEqual(DEFAULT_SETTINGS.languages, { '*': true, plaintext: false, markdown: false });
    assert.deepEqual(DEFAULT_SETTINGS.executionProviders, ['webgpu', 'cuda', 'cpu']);
  });
  it('orders the settings: the model folder and the other first-run settings come first', () => {
    const props = pkg.contributes.configuration.properties as Record<string, { order?: number }>;
    const byOrder = Object.entries(props).sort((a, b) => (a[1].order ?? 1e9) - (b[1].order ?? 1e9)).map(([k]) => k);
    assert.ok(Object.values(props).every((p) => typeof p.order === 'number'), 'every setting has an order');
    assert.deepEqual(byOrder.slice(0, 3), ['switchyard.model.path', 'switchyard.model.quantization', 'switchyard.completions.enabled']);
  });

  it('declares the commands with their titles', () => {
    assert.deepEqual(
      pkg.contributes.commands.map((c) => [c.command, c.title]),
      [
        ['switchyard.selectModelFolder', 'Switchyard: Select Model Folder'],
        ['switchyard.toggleCompletions', 'Switchyard: Toggle Completions'],
        ['switchyard.showEngineLog', 'Switchyard: Show Engine Log'],
        ['switchyard.restartEngine', 'Switchyard: Restart Engine'],
        ['switchyard.showEngineStatus', 'Switchyard: Show Engine Status'],
        ['switchyard.newChat', 'Switchyard: New Chat'],
        ['switchyard.explainSelection', 'Switchyard: Explain Selection'],
        ['switchyard.fixSelection', 'Switchyard: Fix Selection'],
        ['switchyard.documentSelection', 'Switchyard: Add Documentation'],
        ['switchyard.generateTests', 'Switchyard: Generate Tests'],
        ['switchyard.rewriteSelection', 'Switchyard: Rewrite with Instruction'],
        ['switchyard.acceptEdit', 'Switchyard: Accept Proposed Edit'],
        ['switchyard.rejectEdit', 'Switchyard: Reject Proposed Edit'],
        ['switchyard.downloadModel', 'Switchyard: Download Model'],
        ['switchyard.manageModels', 'Switchyard: Manage Models'],
        ['switchyard.setRemoteApiKey', 'Switchyard: Set Remote API Key'],
        ['switchyard.clearRemoteApiKey', 'Switchyard: Clear Remote API Key'],
      ],
    );
  });
});

describe('settings', () => {
  it('fills defaults and clamps or ignores bad values', () => {
    assert.deepEqual(normalizeSettings({}), DEFAULT_SETTINGS);
    const s = normalizeSettings({
      'model.path': '  /models/x  ',
      'model.quantization': 'int3',
      'engine.executionProviders': ['CUDA', 'cpu'],
      'completions.debounceMs': -5,
      'completions.maxTokens': 64.4,
      'context.budgetTokens': 'lots',
      'completions.languages': { python: false, go: 'yes' },
    });
    assert.equal(s.modelPath, '/models/x');
    assert.equal(s.quantization, 'int8');
    assert.deepEqual(s.executionProviders, ['cuda', 'cpu']);
    assert.equal(s.debounceMs, 0);
    assert.equal(s.maxTokens, 64);
    assert.equal(s.budgetTokens, 0);
    assert.equal(normalizeSettings({ 'context.budgetTokens': 100 }).budgetTokens, 256);
    assert.equal(normalizeSettings({ 'context.budgetTokens': -1 }).budgetTokens, 0);
    assert.equal(normalizeSettings({ 'chat.budgetTokens': 300_000 }).chatBudgetTokens, 300_000);
    assert.deepEqual(s.languages, { python: false });
    assert.equal(normalizeSettings({ 'engine.gpuMemoryBudget': 6.5 }).gpuMemoryBudgetGiB, 6.5);
    assert.equal(normalizeSettings({ 'engine.gpuMemoryBudget': -2 }).gpuMemoryBudgetGiB, 0);
    assert.equal(normalizeSettings({ 'engine.gpuMemoryBudget': '8GB' }).gpuMemoryBudgetGiB, 0);
  });
  it('the engine context follows the model by default, and covers the larger of a completion and a chat message when both are capped', () => {
    assert.equal(engineContextLength(DEFAULT_SETTINGS), 'auto');
    assert.equal(engineContextLength({ ...DEFAULT_SETTINGS, budgetTokens: 8192 }), 'auto');
    assert.equal(engineContextLength({ ...DEFAULT_SETTINGS, budgetTokens: 8192, chatBudgetTokens: 8192 }), 8192 + 1024 + 512);
    assert.equal(engineContextLength({ ...DEFAULT_SETTINGS, budgetTokens: 16384, chatBudgetTokens: 2048 }), 16384 + 64 + 512);
  });
  it('remote and model-store values: trailing slashes dropped, numbers clamped', () => {
    const s = normalizeSettings({ 'remote.endpoint': ' http://h:8000/v1/ ', 'remote.timeoutSeconds': 0, 'models.hubUrl': '', 'chat.maxTokens': 1e9 });
    assert.equal(s.remoteEndpoint, 'http://h:8000/v1');
    assert.equal(s.remoteTimeoutSeconds, 1);
    assert.equal(s.hubUrl, 'https://huggingface.co');
    assert.equal(s.chatMaxTokens, 32768);
  });
  it('remote.fimFormat: a known way is kept, anything else is auto; package.json offers exactly those', () => {
    assert.equal(normalizeSettings({ 'remote.fimFormat': 'qwen-coder' }).remoteFimFormat, 'qwen-coder');
    assert.equal(normalizeSettings({ 'remote.fimFormat': 'infill' }).remoteFimFormat, 'infill');
    assert.equal(normalizeSettings({ 'remote.fimFormat': 'gpt' }).remoteFimFormat, 'auto');
    assert.equal(normalizeSettings({}).remoteFimFormat, 'auto');
    const prop = pkg.contributes.configuration.properties['switchyard.remote.fimFormat'] as { enum?: string[]; enumDescriptions?: string[] };
    assert.deepEqual(prop.enum, [...REMOTE_FIM_SETTINGS]);
    assert.equal(prop.enumDescriptions?.length, REMOTE_FIM_SETTINGS.length);
  });
  it('per-language switches: own entry, then "*", then on', () => {
    const langs = { '*': true, plaintext: false, markdown: false };
    assert.equal(isLanguageEnabled(langs, 'python'), true);
    assert.equal(isLanguageEnabled(langs, 'markdown'), false);
    assert.equal(isLanguageEnabled({ '*': false, rust: true }, 'rust'), true);
    assert.equal(isLanguageEnabled({ '*': false, rust: true }, 'go'), false);
    assert.equal(isLanguageEnabled({}, 'go'), true);
    assert.equal(completionsAllowed({ completionsEnabled: false, languages: langs }, 'python'), false);
    assert.equal(completionsAllowed({ completionsEnabled: true, languages: langs }, 'plaintext'), false);
  });
});
