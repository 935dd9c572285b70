/**
 * Refactor prompts: path, language and surroundings first, the selection last and verbatim (so
 * prompt-lookup decoding copies from it), the code context within the chat budget, per-command
 * tasks (documentation conventions, test frameworks from package.json, the rewrite instruction),
 * the request (greedy, prompt lookup), Explain's question, and where generated tests go.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  buildRefactorPrompt,
  explainQuestion,
  fenceFor,
  jsTestFramework,
  lineSpan,
  refactorRequest,
  SELECTION_MARKER,
  testFramework,
  type RefactorInput,
  type RefactorKind,
} from '../../../extension/refactor/prompts.ts';
import { testFileName, testFilePath } from '../../../extension/refactor/test-file.ts';

const estimate = (s: string) => Math.ceil(s.length / 4);
const PY = 'import os\n\n\nclass Box:\n    def add(self, a, b):\n        return a - b  \n\n    def size(self):\n        return 0\n\n\ndef main():\n    print(Box().add(1, 2))\n';
const SEL = '    def add(self, a, b):\n        return a - b  \n';

function input(over: Partial<RefactorInput> = {}): RefactorInput {
  const start = PY.indexOf(SEL);
  return { kind: 'fix', path: 'src/box.py', languageId: 'python', text: PY, start, end: start + SEL.length, budgetTokens: 8192, maxTokens: 1024, contextLength: 16384, estimate, ...over };
}
const user = (p: { messages: { content: string }[] }) => p.messages[p.messages.length - 1]!.content;

describe('refactor prompts', () => {
  test('fix: system and user messages; path, language and lines first; surroundings with a marker; the selection last', () => {
    const p = buildRefactorPrompt(input());
    assert.deepEqual(p.messages.map((m) => m.role), ['system', 'user']);
    const u = user(p);
    assert.ok(u.startsWith('File: src/box.py (python), lines 5-6 selected\n'), u);
    assert.ok(u.includes(`import os\n\n\nclass Box:\n${SELECTION_MARKER}\n\n    def size(self):`), 'the marker takes the selection\'s lines');
    assert.match(u, /Fix the bugs in the selected code\. Keep its behaviour otherwise/);
    assert.match(u, /in one ```python fenced block/);
    assert.ok(u.endsWith(`The selected code:\n\`\`\`python\n${SEL}\`\`\``), 'the selection, verbatim (trailing spaces too), ends the prompt');
    assert.equal(u.split(SEL).length, 2, 'the selection appears once');
    assert.ok(u.indexOf(SELECTION_MARKER) < u.indexOf('Fix the bugs'));
    assert.equal(p.selection, SEL);
    assert.equal(p.wholeFile, false);
    assert.deepEqual(p.context, { start: 0, end: PY.length });
  });

  test('every command puts the selection last and verbatim', () => {
    for (const kind of ['fix', 'document', 'tests', 'rewrite'] as RefactorKind[]) {
      const u = user(buildRefactorPrompt(input({ kind, instruction: 'use a dataclass', testPath: 'src/test_box.py' })));
      assert.ok(u.endsWith(`\`\`\`python\n${SEL}\`\`\``), kind);
    }
  });

  test('a selection that does not end with a line break gets one before the fence; the marker sits mid-line', () => {
    const start = PY.indexOf('a - b');
    const u = user(buildRefactorPrompt(input({ start, end: start + 5 })));
    assert.ok(u.endsWith('```python\na - b\n```'));
    assert.ok(u.includes(`        return ${SELECTION_MARKER}  \n`));
    assert.match(u, /line 6 selected/);
  });

  test('the surroundings fit the budget, nearest the selection, and the model context caps the budget', () => {
    const lines = Array.from({ length: 4000 }, (_, i) => `x${i} = compute(${i}, "some padding text")\n`);
    const text = lines.join('');
    const start = text.indexOf('x2000 =');
    const end = start + lines[2000]!.length;
    const p = buildRefactorPrompt(input({ text, start, end, budgetTokens: 1000 }));
    const u = user(p);
    assert.ok(p.tokens < 1000 + 400, `${p.tokens} tokens`);
    assert.ok(p.context.start > 0 && p.context.start < start && p.context.end > end && p.context.end < text.length);
    assert.ok(u.includes(`x1999 = compute(1999, "some padding text")\n${SELECTION_MARKER}\nx2001 =`));
    assert.ok(!u.includes('x0 = '));
    const before = start - p.context.start;
    const after = p.context.end - end;
    assert.ok(before > after, 'more before the selection than after it');

    const capped = buildRefactorPrompt(input({ text, start, end, budgetTokens: 100_000, contextLength: 4096, maxTokens: 1024 }));
    assert.ok(capped.tokens + 1024 <= 4096, `${capped.tokens} prompt tokens`);
  });

  test('a selection larger than the budget goes in whole, without surroundings', () => {
    const big = 'y = 1\n'.repeat(3000);
    const text = `a = 0\n${big}b = 2\n`;
    const p = buildRefactorPrompt(input({ text, start: 6, end: 6 + big.length, budgetTokens: 500 }));
    assert.ok(!user(p).includes(SELECTION_MARKER));
    assert.ok(user(p).endsWith(`\`\`\`python\n${big}\`\`\``));
    assert.equal(p.selectionTokens, estimate(big));
  });

  test('no selection: the whole file is the subject, with no surroundings', () => {
    const p = buildRefactorPrompt(input({ kind: 'document', start: 10, end: 10 }));
    const u = user(p);
    assert.equal(p.wholeFile, true);
    assert.equal(p.selection, PY);
    assert.ok(u.startsWith('File: src/box.py (python)\n'));
    assert.ok(!u.includes(SELECTION_MARKER));
    assert.match(u, /Add documentation to the code: docstrings \(PEP 257\)/);
    assert.ok(u.endsWith(`The code:\n\`\`\`python\n${PY}\`\`\``));
  });

  test('documentation follows the language convention; the code itself must not change', () => {
    const doc = (languageId: string) => user(buildRefactorPrompt(input({ kind: 'document', languageId })));
    assert.match(doc('typescript'), /TSDoc\/JSDoc comments/);
    assert.match(doc('javascript'), /JSDoc comments/);
    assert.match(doc('go'), /Go doc comments/);
    assert.match(doc('rust'), /\/\/\/ doc comments/);
    assert.match(doc('python'), /Do not change the code itself/);
  });

  test('rewrite carries the instruction', () => {
    const u = user(buildRefactorPrompt(input({ kind: 'rewrite', instruction: '  use a list comprehension ' })));
    assert.match(u, /Rewrite the selected code as follows: use a list comprehension\n/);
  });

  test('tests: the framework, the test file, and an existing file shown with "only the new tests"', () => {
    const p = buildRefactorPrompt(input({ kind: 'tests', testPath: 'src/test_box.py' }));
    const u = user(p);
    assert.match(u, /with pytest/);
    assert.match(u, /The tests go in `src\/test_box.py`, next to `src\/box.py`/);
    assert.match(u, /Answer with the whole test file/);
    assert.equal(p.selection, '', 'the answer replaces nothing');
    const existing = 'from box import Box\n\n\ndef test_size():\n    assert Box().size() == 0\n';
    const q = user(buildRefactorPrompt(input({ kind: 'tests', testPath: 'src/test_box.py', existingTests: existing })));
    assert.ok(q.includes(`The existing test file \`src/test_box.py\`:\n\`\`\`python\n${existing}\`\`\``));
    assert.match(q, /answer only with the new tests to add at its end/);
    assert.ok(q.endsWith(`\`\`\`python\n${SEL}\`\`\``));
  });

  test('JavaScript/TypeScript test frameworks from package.json', () => {
    assert.equal(jsTestFramework(JSON.stringify({ devDependencies: { vitest: '^1' } })), 'vitest');
    assert.equal(jsTestFramework(JSON.stringify({ devDependencies: { 'ts-jest': '^29' } })), 'jest');
    assert.equal(jsTestFramework(JSON.stringify({ scripts: { test: 'jest --ci' } })), 'jest');
    assert.equal(jsTestFramework(JSON.stringify({ dependencies: { mocha: '^10' } })), 'mocha');
    assert.equal(jsTestFramework(JSON.stringify({ scripts: { test: 'node --test' } })), 'node:test');
    assert.equal(jsTestFramework(undefined), 'node:test');
    assert.equal(jsTestFramework('{ not json'), 'node:test');
    assert.match(testFramework('typescript', JSON.stringify({ devDependencies: { vitest: '1' } })), /from 'vitest'/);
    assert.match(testFramework('typescriptreact'), /node:test/);
    assert.match(testFramework('go'), /testing package/);
    assert.match(testFramework('python'), /pytest/);
  });

  test('the request: greedy, prompt lookup on, the answer limit', () => {
    const p = buildRefactorPrompt(input());
    assert.deepEqual(refactorRequest(p, 777), { messages: p.messages, temperature: 0, promptLookup: true, maxTokens: 777 });
  });

  test('a selection with Markdown fences gets a longer fence', () => {
    assert.equal(fenceFor('plain'), '```');
    assert.equal(fenceFor('text\n```js\nx\n```\n'), '````');
    const md = '# Doc\n\n```sh\nnpm test\n```\n';
    const u = user(buildRefactorPrompt(input({ languageId: 'markdown', text: md, start: 0, end: md.length - 1 })));
    assert.ok(u.endsWith(`\`\`\`\`markdown\n${md}\`\`\`\``));
  });

  test('line spans', () => {
    const t = 'a\nb\nc\n';
    assert.equal(lineSpan(t, 0, 2), 'line 1');
    assert.equal(lineSpan(t, 0, 4), 'lines 1-2');
    assert.equal(lineSpan(t, 2, 3), 'line 2');
    assert.equal(lineSpan(t, 4, 6), 'line 3');
  });
});

describe('explain', () => {
  test('the question names the file and lines and carries the code', () => {
    const start = PY.indexOf(SEL);
    const q = explainQuestion({ path: 'src/box.py', languageId: 'python', text: PY, start, end: start + SEL.length });
    assert.ok(q.startsWith('Explain this code from `src/box.py`, lines 5-6:'), q);
    assert.ok(q.endsWith(`\`\`\`python\n${SEL}\`\`\``));
    const whole = explainQuestion({ path: 'm.py', languageId: 'python', text: 'x = 1\n', start: 0, end: 0 });
    assert.ok(whole.startsWith('Explain this code from `m.py`:'));
    assert.ok(whole.endsWith('```python\nx = 1\n```'));
  });
});

describe('test file names', () => {
  test('by the language convention, next to the source', () => {
    assert.equal(testFileName('box.py', 'python'), 'test_box.py');
    assert.equal(testFileName('box.ts', 'typescript'), 'box.test.ts');
    assert.equal(testFileName('Box.tsx', 'typescriptreact'), 'Box.test.tsx');
    assert.equal(testFileName('box.mjs', 'javascript'), 'box.test.mjs');
    assert.equal(testFileName('box.go', 'go'), 'box_test.go');
    assert.equal(testFileName('box.java', 'java'), 'BoxTest.java');
    assert.equal(testFileName('box.rb', 'ruby'), 'box_spec.rb');
    assert.equal(testFileName('box.rs', 'rust'), 'box_test.rs');
    assert.equal(testFileName('Makefile', 'makefile'), 'Makefile_test');
    assert.equal(testFilePath('/w/src/pkg/box.py', 'python'), '/w/src/pkg/test_box.py');
    assert.equal(testFilePath('/c:/w/a.test.ts', 'typescript'), '/c:/w/a.test.test.ts');
  });
});
