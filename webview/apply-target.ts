/**
 * Where a chat code block's Apply to File goes. Shared by the host (which makes the edit) and the
 * view (whose button tooltip says beforehand what Apply will do), so the two cannot disagree. Pure:
 * no DOM, no 'vscode'.
 *
 * - A selection in the editor: the code replaces it.
 * - No selection: the code defines a function or class (`def scale`, `class Point`, `function f`,
 *   `fn main`, ...) and the file has one of that name: the code replaces that definition (the one
 *   nearest the cursor when there are several). A snippet is almost always a new version of
 *   something the user already has; replacing the whole file with it never is.
 * - Otherwise the code is inserted at the cursor.
 */

/** A definition in the document (from VS Code's document symbols, or findDefinitions below). */
export interface DefinitionRange {
  name: string;
  /** 0-based first and last line, inclusive. */
  startLine: number;
  endLine: number;
}

/** What the host tells the view about the editor Apply would act on. */
export interface EditorInfo {
  /** The file's name as the user sees it ("main.py"). */
  file: string;
  /** 1-based lines of a non-empty selection. */
  selection?: { first: number; last: number };
  /** 0-based line of the cursor. */
  cursorLine: number;
  definitions: DefinitionRange[];
}

export type ApplyTarget =
  | { kind: 'selection' }
  | { kind: 'definition'; name: string; startLine: number; endLine: number }
  | { kind: 'insert'; line: number };

// `def name`, `class Name`, `function name`, `fn name`, `func (r T) name`, `struct Name`, ...
const DEF_RE =
  /^\s*(?:export\s+)?(?:default\s+)?(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?(?:abstract\s+)?(?:def|class|function\*?|fn|func(?:\s*\([^)]*\))?|struct|interface|trait|enum|impl|module|type)\s+([A-Za-z_$][\w$]*)/;
// `const name = (...) =>` / `= function`
const ARROW_RE = /^\s*(?:export\s+)?(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*(?::[^=]+)?=\s*(?:async\s+)?(?:function\b|\([^)]*\)\s*(?::[^=]+)?=>|[A-Za-z_$][\w$]*\s*=>)/;
// A C-like method or function header: `public int size() {`, `static void main(String[] a)`.
const CLIKE_RE = /^\s*(?:[\w$<>[\],.*&:]+\s+)+([A-Za-z_$][\w$]*)\s*\([^;]*$/;
// A method without a return type in front: `scale(f: number): Point {`, `async run() {`.
const METHOD_RE = /^\s*(?:(?:public|private|protected|static|async|override|get|set)\s+)*([A-Za-z_$][\w$]*)\s*\([^;]*\)\s*(?::[^{;]*)?\{\s*$/;
const KEYWORDS = new Set(['if', 'for', 'while', 'switch', 'catch', 'return', 'else', 'new', 'with', 'match', 'elif', 'when', 'function']);

/** The name a line defines, if it is a definition's header. */
function definedOn(line: string): string | undefined {
  const m = DEF_RE.exec(line) ?? ARROW_RE.exec(line) ?? CLIKE_RE.exec(line) ?? METHOD_RE.exec(line);
  const name = m?.[1];
  return name && !KEYWORDS.has(name) ? name : undefined;
}

const indentOf = (line: string) => /^\s*/.exec(line)![0].replace(/\t/g, '    ').length;

/** The name the snippet defines first, at its outermost indentation (a method inside a class snippet is not it). */
export function snippetName(code: string): string | undefined {
  const lines = code.split(/\r?\n/).filter((l) => l.trim() && !/^\s*(#|\/\/|\/\*|\*|@)/.test(l));
  if (lines.length === 0) return undefined;
  const outer = Math.min(...lines.map(indentOf));
  for (const l of lines) if (indentOf(l) === outer && definedOn(l)) return definedOn(l);
  return undefined;
}

const INDENT_LANGUAGES = new Set(['python', 'yaml', 'coffeescript', 'nim', 'fsharp', 'haskell']);

/**
 * Definitions found by a language-aware heuristic, for when no document symbol provider is
 * installed (code-server ships none for Python): indentation ends a Python definition, brace
 * matching ends a C-like one. Decorators and attributes right above a header belong to it.
 */
export function findDefinitions(text: string, languageId: string): DefinitionRange[] {
  const lines = text.split(/\r?\n/);
  const out: DefinitionRange[] = [];
  const byIndent = INDENT_LANGUAGES.has(languageId);
  for (let i = 0; i < lines.length; i++) {
    const name = definedOn(lines[i]!);
    if (!name) continue;
    let start = i;
    while (start > 0 && /^\s*(@|#\[)/.test(lines[start - 1]!)) start--;
    const end = byIndent ? indentEnd(lines, i) : braceEnd(lines, i);
    out.push({ name, startLine: start, endLine: end });
  }
  return out;
}

function indentEnd(lines: string[], header: number): number {
  const indent = indentOf(lines[header]!);
  let last = header;
  for (let j = header + 1; j < lines.length; j++) {
    const l = lines[j]!;
    if (!l.trim()) continue;
    if (indentOf(l) <= indent) break;
    last = j;
  }
  return last;
}

/** Strings and comments are not parsed: a brace inside one can end the count early (good enough for a default that the diff shows). */
function braceEnd(lines: string[], header: number): number {
  let depth = 0;
  let opened = false;
  for (let j = header; j < lines.length && j < header + 2000; j++) {
    for (const ch of lines[j]!) {
      if (ch === '{') {
        depth++;
        opened = true;
      } else if (ch === '}') depth--;
    }
    if (opened && depth <= 0) return j;
    if (!opened && (lines[j]!.trimEnd().endsWith(';') || j > header + 3)) return header; // a declaration without a body
  }
  return header;
}

/** Whether a symbol name ("scale", "scale(values, factor)", "Point.scale") names `name`. */
function sameName(symbol: string, name: string): boolean {
  const base = symbol.split('(')[0]!.trim().split(/[.:]/).pop();
  return base === name;
}

export function applyTarget(code: string, info: Pick<EditorInfo, 'selection' | 'cursorLine' | 'definitions'>): ApplyTarget {
  if (info.selection) return { kind: 'selection' };
  const name = snippetName(code);
  if (name) {
    const found = info.definitions.filter((d) => sameName(d.name, name));
    const dist = (d: DefinitionRange) => (info.cursorLine < d.startLine ? d.startLine - info.cursorLine : info.cursorLine > d.endLine ? info.cursorLine - d.endLine : 0);
    const best = found.sort((a, b) => dist(a) - dist(b))[0];
    if (best) return { kind: 'definition', name, startLine: best.startLine, endLine: best.endLine };
  }
  return { kind: 'insert', line: info.cursorLine };
}

/** The Apply button's tooltip: what a click will do, in the editor's current state. */
export function describeApply(code: string, info: EditorInfo | undefined): string {
  if (!info) return 'Apply to File: open a file first (the code goes into the last editor you were in).';
  const t = applyTarget(code, info);
  switch (t.kind) {
    case 'selection':
      return `Replace the selection in ${info.file} (lines ${info.selection!.first}-${info.selection!.last}) with this code; you review the diff first.`;
    case 'definition':
      return `Replace ${t.name} in ${info.file} (lines ${t.startLine + 1}-${t.endLine + 1}) with this code; you review the diff first.`;
    case 'insert':
      return `Insert this code at the cursor in ${info.file} (line ${t.line + 1}); you review the diff first. Select code to replace it instead.`;
  }
}
