/**
 * Chat prompts for the editor's refactor commands (Fix, Add Documentation, Generate Tests, Rewrite
 * with Instruction) and the question Explain sends to the chat view.
 *
 * Layout of the user message, most stable first: the file's path and language, the code around
 * the selection (with the selection itself replaced by a marker line), the task, and the selection
 * LAST and verbatim. The answer is mostly a copy of the selection, and the engine's prompt-lookup
 * decoding drafts from the most recent n-gram match in the prompt: with the selection last, the
 * most recent match is inside it, so drafts copy the code being edited rather than its surroundings.
 *
 * No 'vscode' import: commands.ts passes document text and offsets.
 */
import type { ChatMessage, ChatParams } from '../../engine/protocol/protocol.ts';
import { prefixWindow, suffixWindow, type Estimate } from '../context/window.ts';
import { totalBudget } from '../context/budget.ts';

export type RefactorKind = 'fix' | 'document' | 'tests' | 'rewrite';

/** Tokens kept for the instructions, the chat template's own tokens and the path. */
export const INSTRUCTION_RESERVE_TOKENS = 320;

/** Marks where the selection sits in the surrounding code (the selection is shown apart, last). */
export const SELECTION_MARKER = '<<<SELECTED CODE>>>';

export interface RefactorInput {
  kind: RefactorKind;
  /** Workspace-relative path shown to the model. */
  path: string;
  languageId: string;
  /** The whole document. */
  text: string;
  /** The selection's offsets in `text`; start === end means no selection: the whole file. */
  start: number;
  end: number;
  /** Rewrite: what the user asked for. */
  instruction?: string;
  /** Tests: the test file's workspace-relative path. */
  testPath?: string;
  /** Tests: the test file's current text when it exists (the answer is appended to it). */
  existingTests?: string;
  /** Tests: the nearest package.json's text, to pick the JavaScript/TypeScript test framework. */
  packageJson?: string;
  /** switchyard.chat.budgetTokens: code context (selection and its surroundings). */
  budgetTokens: number;
  /** The model's context length, when known, and the tokens reserved for the answer. */
  contextLength?: number;
  maxTokens: number;
  estimate: Estimate;
}

export interface RefactorPrompt {
  messages: ChatMessage[];
  /** The code the answer replaces ('' for tests: the answer is a new file or an addition). */
  selection: string;
  /** Whether the whole file is the subject (no selection). */
  wholeFile: boolean;
  /** Estimated tokens: the selection alone, and everything sent. */
  selectionTokens: number;
  tokens: number;
  /** The surrounding code shown: document offsets [before.start, after.end). */
  context: { start: number; end: number };
}

const SYSTEM =
  'You are Switchyard, a coding assistant inside the code editor. You change code exactly as asked, ' +
  'keep everything else as it is, and answer with code in one fenced code block.';

/** Markdown fence info strings where the VS Code language id is not one. */
const FENCE_LANG: Record<string, string> = {
  typescriptreact: 'tsx',
  javascriptreact: 'jsx',
  shellscript: 'sh',
  plaintext: '',
};

export function fenceLanguage(languageId: string): string {
  return FENCE_LANG[languageId] ?? languageId;
}

/** A backtick fence longer than any backtick run that starts a line of `text` (Markdown in the selection must not close it). */
export function fenceFor(text: string): string {
  let longest = 0;
  for (const m of text.matchAll(/^[ \t]*(`{3,})/gm)) longest = Math.max(longest, m[1]!.length);
  return '`'.repeat(Math.max(3, longest + 1));
}

function fenced(text: string, languageId: string): string {
  const f = fenceFor(text);
  return `${f}${fenceLanguage(languageId)}\n${text}${text.endsWith('\n') || text === '' ? '' : '\n'}${f}`;
}

/** "line 4" or "lines 4-9" (1-based) for [from, to); a range ending with a line break ends on that line. */
export function lineSpan(text: string, from: number, to: number): string {
  let first = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < from; i = text.indexOf('\n', i + 1)) first++;
  let last = first;
  for (let i = text.indexOf('\n', from); i >= 0 && i < to - 1; i = text.indexOf('\n', i + 1)) last++;
  return first === last ? `line ${first}` : `lines ${first}-${last}`;
}

const isJsLike = (id: string) => ['javascript', 'typescript', 'javascriptreact', 'typescriptreact'].includes(id);

/** Documentation conventions by language, for Add Documentation. */
export function docConvention(languageId: string): string {
  switch (languageId) {
    case 'python':
      return 'docstrings (PEP 257) as the first statement of each module, class and function';
    case 'javascript':
    case 'javascriptreact':
      return 'JSDoc comments (/** ... */ with @param and @returns) before each function, class and method';
    case 'typescript':
    case 'typescriptreact':
      return 'TSDoc/JSDoc comments (/** ... */) before each function, class, method and exported type; do not repeat the types the signature already states';
    case 'go':
      return "Go doc comments (// Name does ...) directly before each declaration, starting with the declared name";
    case 'rust':
      return '/// doc comments before each item (with # Examples or # Panics sections where they apply)';
    case 'java':
      return 'Javadoc comments (/** ... */ with @param, @return, @throws) before each class and method';
    case 'kotlin':
      return 'KDoc comments (/** ... */) before each class and function';
    case 'csharp':
      return 'XML documentation comments (/// <summary>, <param>, <returns>) before each type and member';
    case 'c':
    case 'cpp':
      return 'Doxygen comments (/** ... */ with @brief, @param, @return) before each function, struct and class';
    case 'php':
      return 'PHPDoc comments (/** ... */ with @param and @return) before each function, class and method';
    case 'ruby':
      return 'YARD comments (# with @param and @return) before each class and method';
    default:
      return "the language's usual documentation comments before each function, class and method";
  }
}

interface PackageJson {
  dependencies?: Record<string, unknown>;
  devDependencies?: Record<string, unknown>;
  scripts?: Record<string, unknown>;
}

/** The JavaScript/TypeScript test framework the workspace uses, from its package.json (node:test when none is evident). */
export function jsTestFramework(packageJson: string | undefined): 'vitest' | 'jest' | 'mocha' | 'node:test' {
  let pkg: PackageJson = {};
  try {
    const parsed: unknown = packageJson ? JSON.parse(packageJson) : {};
    if (parsed && typeof parsed === 'object') pkg = parsed as PackageJson;
  } catch {
    // an unparsable package.json says nothing about the framework
  }
  const deps = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})]);
  const testScript = typeof pkg.scripts?.test === 'string' ? pkg.scripts.test : '';
  if (deps.has('vitest') || /\bvitest\b/.test(testScript)) return 'vitest';
  if (deps.has('jest') || deps.has('ts-jest') || deps.has('@types/jest') || /\bjest\b/.test(testScript)) return 'jest';
  if (deps.has('mocha') || /\bmocha\b/.test(testScript)) return 'mocha';
  return 'node:test';
}

/** What the tests are written with, in words for the prompt. */
export function testFramework(languageId: string, packageJson?: string): string {
  if (isJsLike(languageId)) {
    switch (jsTestFramework(packageJson)) {
      case 'vitest':
        return "vitest (import { describe, it, expect } from 'vitest')";
      case 'jest':
        return 'jest (describe, it/test and expect)';
      case 'mocha':
        return "mocha (describe and it) with node:assert/strict";
      case 'node:test':
        return "Node's built-in test runner (import { describe, it } from 'node:test' and assert from 'node:assert/strict')";
    }
  }
  switch (languageId) {
    case 'python':
      return 'pytest (plain test_ functions with assert; pytest.raises for errors; pytest.mark.parametrize for tables)';
    case 'go':
      return "Go's testing package (func TestXxx(t *testing.T) in the same package, table-driven where it fits)";
    case 'rust':
      return "Rust's built-in test harness (#[test] functions)";
    case 'java':
      return 'JUnit 5 (org.junit.jupiter.api)';
    case 'kotlin':
      return 'JUnit 5 with kotlin.test assertions';
    case 'csharp':
      return 'xUnit ([Fact] and [Theory])';
    case 'ruby':
      return 'RSpec (describe, it and expect)';
    case 'php':
      return 'PHPUnit';
    case 'cpp':
      return 'GoogleTest (TEST and EXPECT_EQ)';
    case 'c':
      return 'a small test program with assert.h and a main that runs every test';
    default:
      return "the language's usual test framework";
  }
}

/**
 * The code around the selection, within `budget` estimated tokens: 2/3 before it (the definitions
 * and imports the edit must agree with), 1/3 after it plus what the before-window left. The
 * before-window's start snaps to a grid (window.ts), so repeated commands around one place share a
 * prompt prefix the engine has cached; the grid is 1/8 of its budget, so it keeps at least 7/8.
 */
function surroundings(text: string, start: number, end: number, budget: number, estimate: Estimate) {
  const beforeBudget = Math.floor((budget * 2) / 3);
  const before = prefixWindow(text, start, beforeBudget, estimate, Math.max(32, Math.floor(beforeBudget / 8)));
  const after = suffixWindow(text, end, Math.max(0, budget - before.tokens), estimate);
  return { before, after };
}

function task(input: RefactorInput, lang: string, wholeFile: boolean): string {
  const what = wholeFile ? 'the code' : 'the selected code';
  const block = `one ${'```'}${lang} fenced block`;
  switch (input.kind) {
    case 'fix':
      return (
        `Fix the bugs in ${what}. Keep its behaviour otherwise: the same names, interface, structure and style. ` +
        `Answer with the whole corrected code (all of ${what}, not only the changed lines) in ${block}, and nothing else.`
      );
    case 'document':
      return (
        `Add documentation to ${what}: ${docConvention(input.languageId)}. Document what each one does, its parameters, ` +
        `its return value and the errors it raises. Do not change the code itself. ` +
        `Answer with the whole documented code (all of ${what}) in ${block}, and nothing else.`
      );
    case 'rewrite':
      return (
        `Rewrite ${what} as follows: ${(input.instruction ?? '').trim()}\n` +
        `Change only what this asks for. Answer with the whole rewritten code (all of ${what}) in ${block}, and nothing else.`
      );
    case 'tests': {
      const framework = testFramework(input.languageId, input.packageJson);
      const where = input.testPath ? ` The tests go in \`${input.testPath}\`, next to \`${input.path}\`; import the code under test from there.` : '';
      const cover = 'Cover the usual cases, the edge cases and the errors; each test checks one behaviour.';
      if (input.existingTests !== undefined) {
        return (
          `Write tests for ${what} with ${framework}.${where} ${cover} The test file already exists (shown above): ` +
          `answer only with the new tests to add at its end (no imports or setup the file already has) in ${block}, and nothing else.`
        );
      }
      return `Write tests for ${what} with ${framework}.${where} ${cover} Answer with the whole test file in ${block}, and nothing else.`;
    }
  }
}

export function buildRefactorPrompt(input: RefactorInput): RefactorPrompt {
  const wholeFile = input.start === input.end;
  const start = wholeFile ? 0 : input.start;
  const end = wholeFile ? input.text.length : input.end;
  const selection = input.text.slice(start, end);
  const lang = fenceLanguage(input.languageId);
  const selectionTokens = input.estimate(selection);

  // The selection always goes in whole (it is what the answer replaces); the surroundings get
  // what is left of the budget, itself capped by the model's context minus the answer.
  const total = totalBudget(input.budgetTokens, input.contextLength === undefined ? undefined : input.contextLength - INSTRUCTION_RESERVE_TOKENS, input.maxTokens);
  const existing = input.existingTests ?? '';
  const existingTokens = input.estimate(existing);
  const left = Math.max(0, total - selectionTokens - existingTokens);

  const lines = (from: number, to: number) => lineSpan(input.text, from, to);

  const parts: string[] = [];
  parts.push(`File: ${input.path} (${input.languageId})${wholeFile ? '' : `, ${lines(start, end)} selected`}`);
  let context = { start, end };
  if (!wholeFile && left > 0) {
    const { before, after } = surroundings(input.text, start, end, left, input.estimate);
    if (before.text !== '' || after.text !== '') {
      context = { start: before.start, end: after.end };
      // The marker takes the selection's place, line break included, so the lines around keep their layout.
      const around = `${before.text}${SELECTION_MARKER}${selection.endsWith('\n') ? '\n' : ''}${after.text}`;
      parts.push(
        `The code around the selection (${lines(before.start, after.end)} of the file; the selection itself is replaced by ${SELECTION_MARKER} and shown at the end):\n` +
          fenced(around, input.languageId),
      );
    }
  }
  if (input.kind === 'tests' && input.existingTests !== undefined) {
    parts.push(`The existing test file \`${input.testPath ?? 'tests'}\`:\n${fenced(existing, input.languageId)}`);
  }
  parts.push(task(input, lang, wholeFile));
  // Last and verbatim: see the file comment.
  parts.push(`${wholeFile ? 'The code' : 'The selected code'}:\n${fenced(selection, input.languageId)}`);
  const user = parts.join('\n\n');
  const messages: ChatMessage[] = [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: user },
  ];
  return {
    messages,
    selection: input.kind === 'tests' ? '' : selection,
    wholeFile,
    selectionTokens,
    tokens: input.estimate(SYSTEM) + input.estimate(user),
    context,
  };
}

/** The chat request for a refactor: greedy with prompt lookup (identical output, fewer forwards on copied code). */
export function refactorRequest(prompt: RefactorPrompt, maxTokens: number): ChatParams {
  return { messages: prompt.messages, temperature: 0, promptLookup: true, maxTokens };
}

/** Explain goes to the chat view: the question with the code, its path and lines. */
export function explainQuestion(input: { path: string; languageId: string; text: string; start: number; end: number }): string {
  const wholeFile = input.start === input.end;
  const code = wholeFile ? input.text : input.text.slice(input.start, input.end);
  const where = wholeFile ? `\`${input.path}\`` : `\`${input.path}\`, ${lineSpan(input.text, input.start, input.end)}`;
  return `Explain this code from ${where}: what it does, how, and anything surprising in it.\n\n${fenced(code, input.languageId)}`;
}
