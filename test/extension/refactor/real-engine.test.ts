/**
 * Refactor prompts through the real engine (a child process from source, a tiny random-weight
 * DeepSeek-V2 checkpoint with the real DeepSeek-Coder tokenizer): each command's request with
 * prompt lookup gives the same greedy answer, and the same extracted code, as without it, and
 * lookup drafts were accepted (forwards saved).
 *
 * Random weights do not copy their input the way a trained model copies a refactor, so drafts are
 * accepted only where the nonsense happens to repeat an n-gram; the acceptance check is over all
 * four commands together (deterministic for these weights and prompts), as in
 * test/engine/generate/speculative.test.ts.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EngineClient } from '../../../engine/protocol/client.ts';
import type { ChatDeltaParams, ChatParams } from '../../../engine/protocol/protocol.ts';
import type { ModelBackend } from '../../../extension/backend/backend.ts';
import { buildRefactorPrompt, type RefactorKind } from '../../../extension/refactor/prompts.ts';
import { runRefactor, type RefactorOutcome } from '../../../extension/refactor/run.ts';
import { repoDir } from '../../helpers/paths.ts';
import { tinyModel } from '../../helpers/tiny-model.ts';

const TEXT =
  "import { Item } from './item.ts';\n\n/** Sum of price times quantity. */\nexport function total(items: Item[]): number {\n  let sum = 0;\n" +
  '  for (const item of items) {\n    sum += item.price * item.quantity;\n  }\n  return sum;\n}\n\nexport function count(items: Item[]): number {\n  return items.length;\n}\n';
const START = TEXT.indexOf('export function total');
const END = TEXT.indexOf('\n\nexport function count') + 1;
const MAX_TOKENS = 128;

describe('refactor prompts on the real engine', () => {
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-refactor-'));
  let engine: EngineClient;
  const results: { kind: RefactorKind; plain: RefactorOutcome; lookup: RefactorOutcome }[] = [];

  before(async () => {
    engine = EngineClient.spawn({ args: ['--import', 'tsx', path.join(repoDir(), 'engine', 'service', 'main.ts')], cwd: repoDir() });
    await engine.initialize('refactor-test');
    await engine.loadModel({ model: tinyModel('deepseek-coder-v1'), quant: 'none', providers: ['cpu'], cacheDir, contextLength: 4096 });
  });
  after(async () => {
    await engine?.shutdown();
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });

  for (const kind of ['fix', 'document', 'rewrite', 'tests'] as RefactorKind[]) {
    test(`${kind}: prompt lookup gives the same greedy answer as plain decoding`, { timeout: 120_000 }, async () => {
      const prompt = buildRefactorPrompt({
        kind,
        path: 'src/cart.ts',
        languageId: 'typescript',
        text: TEXT,
        start: START,
        end: END,
        instruction: 'use reduce',
        testPath: 'src/cart.test.ts',
        budgetTokens: 2048,
        maxTokens: MAX_TOKENS,
        contextLength: 4096,
        estimate: (s) => Math.ceil(s.length / 3.2),
      });
      // The EngineClient is a ModelBackend's chat as is; the plain run only turns lookup off.
      const lookupBackend: Pick<ModelBackend, 'chat'> = engine;
      const sent: ChatParams[] = [];
      const plainBackend: Pick<ModelBackend, 'chat'> = {
        chat: (p: ChatParams, onDelta?: (d: ChatDeltaParams) => void, signal?: AbortSignal) => {
          sent.push(p);
          return engine.chat({ ...p, promptLookup: false }, onDelta, signal);
        },
      };
      const extract = kind === 'tests' ? {} : { selection: TEXT.slice(START, END), linePrefix: '' };
      const plain = await runRefactor(plainBackend, prompt, { maxTokens: MAX_TOKENS, extract });
      let streamed = '';
      const counts: (number | undefined)[] = [];
      const lookup = await runRefactor(lookupBackend, prompt, {
        maxTokens: MAX_TOKENS,
        extract,
        onText: (t, _r, tokens) => {
          streamed = t;
          counts.push(tokens);
        },
      });
      // The progress count is the engine's own: it rises to the answer's token count, never past the limit (issue 13, item 8).
      assert.ok(counts.length > 0 && counts.every((n) => typeof n === 'number'), `counts: ${counts.join(',')}`);
      assert.ok(counts.every((n, i) => i === 0 || n! >= counts[i - 1]!), `counts rise: ${counts.join(',')}`);
      assert.equal(counts.at(-1), lookup.result.usage.completionTokens);
      assert.ok(counts.at(-1)! <= MAX_TOKENS);
      assert.equal(sent[0]!.promptLookup, true, 'runRefactor asks for prompt lookup');
      assert.equal(sent[0]!.temperature, 0);
      assert.equal(lookup.result.text, plain.result.text);
      assert.equal(lookup.extracted.code, plain.extracted.code);
      assert.equal(streamed, lookup.result.text, 'the streamed answer adds up to the result');
      assert.equal(lookup.result.usage.completionTokens, plain.result.usage.completionTokens);
      assert.equal(plain.result.usage.draftedTokens ?? 0, 0);
      assert.ok((lookup.result.usage.draftedTokens ?? 0) > 0, 'the prompt repeats code: lookup drafts');
      results.push({ kind, plain, lookup });
    });
  }

  test('drafts were accepted and saved forward passes', () => {
    assert.equal(results.length, 4);
    const accepted = results.reduce((n, r) => n + (r.lookup.result.usage.acceptedTokens ?? 0), 0);
    const forwards = (k: 'plain' | 'lookup') => results.reduce((n, r) => n + (r[k].result.usage.forwards ?? 0), 0);
    const summary = results.map((r) => `${r.kind} ${r.lookup.result.usage.acceptedTokens}/${r.lookup.result.usage.draftedTokens}`).join(', ');
    assert.ok(accepted > 0, summary);
    assert.ok(forwards('lookup') < forwards('plain'), `${forwards('lookup')} vs ${forwards('plain')} forwards (${summary})`);
  });
});
