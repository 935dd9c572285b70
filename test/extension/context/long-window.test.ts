/**
 * The layout of a completion prompt keeps its token prefix across keystrokes, so the engine's prefix
 * cache serves all but the tail: stable related files first (whole files when the window allows),
 * the current file's prefix, the cursor region last. Measured on the prompt's real token ids (the
 * engine's own FIM layout and a real Qwen2.5-Coder tokenizer) over real source files of this
 * repository, for a 1M-token DeepSeek-V4 window and a 4K model.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { buildCompletionPrompt, detectFormats } from '../../../engine/service/prompts.ts';
import { loadTokenizerSync } from '../../../engine/tokenizer/tokenizer.ts';
import { assembleContext, type AssembledContext } from '../../../extension/context/assemble.ts';
import { chunkFile, type Chunk } from '../../../extension/context/chunks.ts';
import { RelatedContext } from '../../../extension/context/related.ts';
import { TokenCounter } from '../../../extension/context/tokens.ts';
import { repoDir, sharedDir } from '../../helpers/paths.ts';

const tok = loadTokenizerSync(path.join(sharedDir(), 'tokenizers', 'qwen2.5-coder'));
const formats = detectFormats(tok);
const read = (p: string) => readFileSync(path.join(repoDir(), p), 'utf8');

// The file being edited: several engine sources in one (about 10K tokens).
const CURRENT = ['engine/runtime/session.ts', 'engine/runtime/sampler.ts', 'engine/service/engine.ts', 'engine/service/generate.ts', 'engine/runtime/prefix-cache.ts'].map(read).join('\n');
const RELATED_PATHS = ['engine/runtime/kv-state.ts', 'engine/runtime/compressed-state.ts', 'engine/service/turns.ts', 'extension/context/window.ts', 'engine/generate/stops.ts'];
const candidates = (): Chunk[] => RELATED_PATHS.flatMap((p) => chunkFile({ path: p, languageId: 'typescript', text: read(p) }));
const MAX_TOKENS = 64;

function setup(modelContext: number) {
  const related = new RelatedContext();
  const counter = new TokenCounter();
  const assemble = (text: string, cursor: number, now: number) =>
    assembleContext({ now, uri: 'file:///repo/engine/big.ts', text, cursor, settingsBudget: 0, modelContext, maxTokens: MAX_TOKENS, candidates, counter, related });
  const ids = (c: AssembledContext) =>
    buildCompletionPrompt(formats, tok, { prefix: c.prefix.text, suffix: c.suffix.text, relatedFiles: c.relatedFiles, filePath: 'engine/big.ts', repoName: 'switchyard' }).ids;
  return { assemble, ids };
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

const count = (s: string) => tok.encode(s, { addSpecialTokens: false }).length;
/** Tokens a request must prefill after the previous one: what follows the common prefix. */
const refill = (before: number[], after: number[]) => after.length - commonPrefix(before, after);
/** The cursor: the start of a line about 60% into the file. */
const CURSOR = CURRENT.indexOf('\n', Math.floor(CURRENT.length * 0.6)) + 1;

/** Types `typed` one character at a time, 120 ms apart; checks every prompt against the one before. */
function typeAndCheck(modelContext: number, typed: string, check: (before: number[], after: number[], c: AssembledContext) => void): AssembledContext {
  const { assemble, ids } = setup(modelContext);
  let text = CURRENT;
  let cursor = CURSOR;
  let c = assemble(text, cursor, 0);
  let prev = ids(c);
  for (let i = 0; i < typed.length; i++) {
    text = text.slice(0, cursor) + typed[i] + text.slice(cursor);
    cursor++;
    c = assemble(text, cursor, 120 * (i + 1));
    const next = ids(c);
    check(prev, next, c);
    prev = next;
  }
  return c;
}

describe('long windows: the prompt prefix stays put', () => {
  it('a 1M-token V4 window takes the whole file and whole related files; a keystroke re-prefills only the cursor region', () => {
    const { assemble, ids } = setup(1 << 20);
    const c = assemble(CURRENT, CURSOR, 0);
    assert.equal(c.prefix.start, 0, 'the whole prefix of the current file');
    assert.ok(c.split.total > 800_000);
    const whole = RELATED_PATHS.filter((p) => c.relatedFiles.some((f) => f.path === p && f.text === read(p)));
    assert.ok(whole.length >= 3, `related files sent whole: ${whole.join(', ')}`);
    assert.ok(ids(c).length > 12_000, `${ids(c).length} tokens`);

    const typed = '    const window = this.prefixWindow(state);\n';
    typeAndCheck(1 << 20, typed, (before, after, next) => {
      // What follows the cursor (the suffix window and the closing FIM tokens) plus the edit itself.
      assert.ok(refill(before, after) <= count(next.suffix.text) + 8, `re-prefilled ${refill(before, after)} of ${after.length}`);
    });
  });

  it('an edit above the cursor keeps the prompt up to the edit', () => {
    const { assemble, ids } = setup(1 << 20);
    const before = ids(assemble(CURRENT, CURSOR, 0));
    const at = CURRENT.lastIndexOf('\n', CURSOR - 5000) + 1;
    const edited = CURRENT.slice(0, at) + '// edited\n' + CURRENT.slice(at);
    const after = ids(assemble(edited, CURSOR + '// edited\n'.length, 150));
    const upToEdit = buildCompletionPrompt(formats, tok, { prefix: CURRENT.slice(0, at), suffix: '', relatedFiles: assemble(CURRENT, CURSOR, 300).relatedFiles, filePath: 'engine/big.ts', repoName: 'switchyard' }).ids;
    const kept = commonPrefix(before, after);
    assert.ok(kept >= upToEdit.length - 4, `kept ${kept} tokens, the text before the edit is ${upToEdit.length}`);
    assert.ok(kept < before.length - count(CURRENT.slice(at, CURSOR)) + 8, 'and no further (the test measures something)');
  });

  it('after an idle pause with the cursor elsewhere, the related files already sent keep their place', () => {
    const { assemble, ids } = setup(1 << 20);
    const first = assemble(CURRENT, CURSOR, 0);
    const elsewhere = CURRENT.indexOf('\n', Math.floor(CURRENT.length * 0.2)) + 1;
    const later = assemble(CURRENT, elsewhere, 10_000);
    assert.equal(later.refreshed, true);
    assert.deepEqual(later.relatedFiles.slice(0, first.relatedFiles.length), first.relatedFiles);
    const relatedPart = buildCompletionPrompt(formats, tok, { prefix: '', suffix: '', relatedFiles: first.relatedFiles, filePath: 'engine/big.ts', repoName: 'switchyard' }).ids;
    // relatedPart ends with the current file's path and the FIM tokens, which now follow the added files.
    const tail = count('engine/big.ts\n') + 4;
    const kept = commonPrefix(ids(first), ids(later));
    assert.ok(kept >= relatedPart.length - tail, `kept ${kept} of the related files' ${relatedPart.length - tail} tokens`);
  });

  it('a 4K model: the prompt fits its context, and a keystroke still re-prefills only the cursor region', () => {
    const last = typeAndCheck(4096, 'if (state.length > 0) return;', (before, after, next) => {
      assert.ok(after.length + MAX_TOKENS <= 4096, `${after.length} prompt tokens`);
      assert.ok(refill(before, after) <= count(next.suffix.text) + 8, `re-prefilled ${refill(before, after)} of ${after.length}`);
    });
    assert.ok(last.prefix.start > 0, 'the file is longer than the window: the prefix is a window');
    assert.ok(last.split.total < 4096);
  });
});
