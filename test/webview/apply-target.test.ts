/**
 * Where Apply to File puts a chat code block (webview/apply-target.ts), and what the button's
 * tooltip says: the selection; else the definition of the same name (found by the heuristic when no
 * symbol provider answers); else the cursor. Never the whole file.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyTarget, describeApply, findDefinitions, snippetName } from '../../webview/apply-target.ts';

const MAIN_PY = `import os


@cache
def add(a, b):
    return a + b


class Scale:
    def scale(self, values, factor):
        result = []
        for value in values:

            result.append(value * factor)
        return result


def main():
    print(add(1, 2))
`;

const TS = `export function add(a: number, b: number): number {
  if (a) {
    return a + b;
  }
  return b;
}

const twice = (x: number) => x * 2;

class Point {
  scale(f: number): Point {
    return this;
  }
}
`;

describe('apply-target', () => {
  test('snippetName: the first definition at the snippet\'s outer indentation', () => {
    assert.equal(snippetName('def scale(values, factor):\n    return [v * factor for v in values]'), 'scale');
    assert.equal(snippetName('# helper\n@cache\nasync def fetch(url):\n    ...'), 'fetch');
    assert.equal(snippetName('class Point:\n    def scale(self):\n        pass'), 'Point');
    assert.equal(snippetName('export const twice = (x: number) => x * 2;'), 'twice');
    assert.equal(snippetName('pub fn main() {\n}'), 'main');
    assert.equal(snippetName('public static int size(List<String> a) {\n  return a.size();\n}'), 'size');
    assert.equal(snippetName('print(add(1, 2))\nx = 3'), undefined);
    assert.equal(snippetName('if (x) {\n  y();\n}'), undefined, 'a control statement is not a definition');
  });

  test('findDefinitions: Python by indentation (decorators included, blank lines inside kept)', () => {
    const defs = findDefinitions(MAIN_PY, 'python');
    assert.deepEqual(defs, [
      { name: 'add', startLine: 3, endLine: 5 },
      { name: 'Scale', startLine: 8, endLine: 14 },
      { name: 'scale', startLine: 9, endLine: 14 },
      { name: 'main', startLine: 17, endLine: 18 },
    ]);
  });

  test('findDefinitions: C-like languages by braces', () => {
    const defs = findDefinitions(TS, 'typescript');
    assert.deepEqual(defs, [
      { name: 'add', startLine: 0, endLine: 5 },
      { name: 'twice', startLine: 7, endLine: 7 },
      { name: 'Point', startLine: 9, endLine: 13 },
      { name: 'scale', startLine: 10, endLine: 12 },
    ]);
  });

  test('applyTarget: the selection first, then the same-named definition, else the cursor', () => {
    const definitions = findDefinitions(MAIN_PY, 'python');
    const code = 'def scale(self, values, factor):\n    return [v * factor for v in values]';
    assert.deepEqual(applyTarget(code, { selection: { first: 1, last: 2 }, cursorLine: 0, definitions }), { kind: 'selection' });
    assert.deepEqual(applyTarget(code, { cursorLine: 0, definitions }), { kind: 'definition', name: 'scale', startLine: 9, endLine: 14 });
    assert.deepEqual(applyTarget('def double(x):\n    return 2 * x', { cursorLine: 16, definitions }), { kind: 'insert', line: 16 });
    assert.deepEqual(applyTarget('x = 1', { cursorLine: 2, definitions }), { kind: 'insert', line: 2 });
  });

  test('applyTarget: of two definitions with the name, the one nearest the cursor; symbol names with signatures match', () => {
    const definitions = [
      { name: 'run(a)', startLine: 0, endLine: 3 },
      { name: 'Job.run', startLine: 20, endLine: 25 },
    ];
    assert.equal((applyTarget('def run(a):\n    pass', { cursorLine: 22, definitions }) as { startLine: number }).startLine, 20);
    assert.equal((applyTarget('def run(a):\n    pass', { cursorLine: 5, definitions }) as { startLine: number }).startLine, 0);
  });

  test('describeApply says what a click will do', () => {
    const definitions = findDefinitions(MAIN_PY, 'python');
    const info = { file: 'main.py', cursorLine: 17, definitions };
    assert.equal(describeApply('def add(a, b):\n    return a - b', info), 'Replace add in main.py (lines 4-6) with this code; you review the diff first.');
    assert.equal(describeApply('x = 1', info), 'Insert this code at the cursor in main.py (line 18); you review the diff first. Select code to replace it instead.');
    assert.equal(describeApply('x = 1', { ...info, selection: { first: 3, last: 7 } }), 'Replace the selection in main.py (lines 3-7) with this code; you review the diff first.');
    assert.match(describeApply('x = 1', undefined), /open a file first/);
  });
});
