import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assembleContext, fitExactly, queryAround, type AssembleInput } from '../../../extension/context/assemble.ts';
import { relatedBudget, splitBudget, totalBudget } from '../../../extension/context/budget.ts';
import { chunkFile, type Chunk } from '../../../extension/context/chunks.ts';
import { RelatedContext } from '../../../extension/context/related.ts';
import { TokenCounter } from '../../../extension/context/tokens.ts';

const body = (n: number, word: string) => Array.from({ length: n }, (_, i) => `  const ${word}${i} = helper${i % 7}(${word}, ${i});`).join('\n');
const userFile = 'export function loadUser(userId: string) {\n  return database.users.get(userId);\n}\nexport function saveUser(user: User) {\n  database.users.put(user.id, user);\n}';
const styleFile = 'export const palette = { primary: "#ffffff", secondary: "#000000", accent: "#ff00ff" };';
const candidates = (): Chunk[] => [
  ...chunkFile({ path: 'src/style.ts', languageId: 'typescript', text: styleFile }),
  ...chunkFile({ path: 'src/users.ts', languageId: 'typescript', text: userFile }),
  ...chunkFile({ path: 'src/big.ts', languageId: 'typescript', text: body(600, 'userId') }),
];

function makeDoc() {
  const head = `function main() {\n${body(2500, 'value')}\n  const user = loadUser(userId);\n  `;
  const tail = `\n  saveUser(user);\n${body(800, 'rest')}\n}\n`;
  return { text: head + tail, cursor: head.length };
}

function input(text: string, cursor: number, now: number, related: RelatedContext, counter: TokenCounter, over: Partial<AssembleInput> = {}): AssembleInput {
  return { now, uri: 'file:///main.ts', text, cursor, settingsBudget: 4096, modelContext: 32768, maxTokens: 64, candidates, counter, related, ...over };
}

describe('budgets', () => {
  it('caps the total by the model context minus the output and the layout reserve', () => {
    assert.equal(totalBudget(8192, 32768, 64), 8192);
    assert.equal(totalBudget(8192, 4096, 64), 4096 - 64 - 64);
    assert.equal(totalBudget(8192, undefined, 64), 8192);
  });
  it('gives the suffix 1/8 up to 1024, related files at least 1/4, and the prefix the rest', () => {
    assert.deepEqual(splitBudget(8192), { total: 8192, suffix: 1024, relatedShare: 2048, prefixShare: 5120 });
    assert.deepEqual(splitBudget(20_000).suffix, 1024);
    assert.equal(relatedBudget(splitBudget(8192), 100_000), 2048);
    assert.equal(relatedBudget(splitBudget(8192), 1000), 8192 - 1024 - 1000);
  });

  it('an assembled context stays within every budget', () => {
    const { text, cursor } = makeDoc();
    for (const [budget, ctxLen] of [
      [4096, 32768],
      [8192, 4096],
      [1024, 32768],
    ] as const) {
      const counter = new TokenCounter();
      const c = assembleContext(input(text, cursor, 0, new RelatedContext(), counter, { settingsBudget: budget, modelContext: ctxLen }));
      const total = totalBudget(budget, ctxLen, 64);
      assert.equal(c.split.total, total);
      assert.ok(c.tokens <= total, `tokens ${c.tokens} > ${total}`);
      assert.ok(c.suffix.tokens <= c.split.suffix);
      assert.ok(c.relatedTokens <= relatedBudget(c.split, Infinity));
      const measured = c.relatedFiles.reduce((n, f) => n + counter.estimate(f.text) + counter.estimate(f.path) + 2, 0);
      assert.ok(measured <= c.relatedTokens + 1);
      assert.ok(counter.estimate(c.prefix.text) <= total - c.split.suffix - c.relatedTokens);
      assert.equal(c.prefix.end, cursor);
      assert.equal(c.suffix.start, cursor);
    }
  });

  it('a short file leaves its unused prefix budget to related files', () => {
    // One 30-line chunk of ~1500 tokens: more than the related share (4096 / 4 = 1024).
    const line = (i: number) => `  loadUser(userId${i % 3}); saveUser(user); const account = accountFor(user, ${'x'.repeat(120)});`;
    const big = chunkFile({ path: 'src/big-related.ts', languageId: 'typescript', text: Array.from({ length: 30 }, (_, i) => line(i)).join('\n') });
    const counter = new TokenCounter();
    const text = 'const user = loadUser(userId0);\nsaveUser(user);\naccountFor(user, ';
    const c = assembleContext(input(text, text.length, 0, new RelatedContext(), counter, { candidates: () => big }));
    assert.equal(c.relatedFiles.length, 1);
    assert.ok(c.relatedTokens > c.split.relatedShare, `${c.relatedTokens} <= ${c.split.relatedShare}`);
    assert.ok(c.tokens <= c.split.total);
  });
});

describe('ranking into the prompt', () => {
  it('includes the file sharing identifiers with the cursor area and leaves out unrelated ones', () => {
    const { text, cursor } = makeDoc();
    const c = assembleContext(input(text, cursor, 0, new RelatedContext(), new TokenCounter()));
    const paths = c.relatedFiles.map((f) => f.path);
    assert.ok(paths.includes('src/users.ts'), paths.join(','));
    assert.ok(!paths.includes('src/style.ts'));
  });
  it('ranks by the identifiers around the cursor', () => {
    const q = queryAround('a\nb\nloadUser(userId)\nfoo', 20);
    assert.ok(q.has('loaduser') && q.has('userid'));
  });
});

describe('cache-friendly prompts', () => {
  it('while typing, related files and the prefix start stay the same, so each prompt extends the previous one', () => {
    let { text, cursor } = makeDoc();
    const related = new RelatedContext();
    const counter = new TokenCounter();
    const first = assembleContext(input(text, cursor, 0, related, counter));
    let previousHead = first.relatedFiles.map((f) => f.path + f.text).join('|') + first.prefix.text;
    const typed = 'const saved = saveUser(user);\n  if (!saved) throw new Error("not saved");\n  ';
    for (let i = 0; i < typed.length; i++) {
      text = text.slice(0, cursor) + typed[i] + text.slice(cursor);
      cursor++;
      const c = assembleContext(input(text, cursor, 100 + i * 120, related, counter));
      assert.equal(c.refreshed, false);
      assert.deepEqual(c.relatedFiles, first.relatedFiles);
      assert.equal(c.prefix.start, first.prefix.start, `prefix start moved at keystroke ${i}`);
      const head = c.relatedFiles.map((f) => f.path + f.text).join('|') + c.prefix.text;
      assert.ok(head.startsWith(previousHead), `prompt head changed at keystroke ${i}`);
      previousHead = head;
    }
  });
  it('after an idle pause the snapshot may change; the old chunks stay in front', () => {
    const { text, cursor } = makeDoc();
    const related = new RelatedContext();
    const counter = new TokenCounter();
    const a = assembleContext(input(text, cursor, 0, related, counter));
    const b = assembleContext(input(text, cursor, 5000, related, counter));
    assert.equal(b.refreshed, true);
    assert.deepEqual(b.relatedFiles.slice(0, a.relatedFiles.length), a.relatedFiles);
  });
});

describe('exact check near the hard limit', () => {
  it('makes no engine call far from the limit', async () => {
    const { text, cursor } = makeDoc();
    const c = assembleContext(input(text, cursor, 0, new RelatedContext(), new TokenCounter()));
    let calls = 0;
    const out = await fitExactly(c, 32768, async () => {
      calls++;
      return 0;
    });
    assert.equal(calls, 0);
    assert.equal(out, c);
  });
  it('drops related files, then shortens the prefix from its start, until the exact count fits', async () => {
    const { text, cursor } = makeDoc();
    const counter = new TokenCounter();
    const c = assembleContext(input(text, cursor, 0, new RelatedContext(), counter));
    // The real tokenizer needs twice as many tokens as estimated.
    const exact = async (t: string) => Math.ceil(t.length / counter.charsPerToken) * 2;
    const limit = Math.ceil(c.tokens * 1.1);
    const out = await fitExactly(c, limit, exact);
    assert.equal(out.relatedFiles.length, 0);
    assert.ok(out.tokens <= limit, `${out.tokens} > ${limit}`);
    assert.ok(out.prefix.text.length > 0);
    assert.ok(c.prefix.text.endsWith(out.prefix.text));
    assert.equal(out.prefix.start + out.prefix.text.length, cursor);
    assert.equal(out.suffix.text, c.suffix.text);
  });
});
