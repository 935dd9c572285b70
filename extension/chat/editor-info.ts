/**
 * What Apply to File acts on, read from the editor: the selection, the cursor and the document's
 * definitions (VS Code's document symbols where a language extension provides them, else the
 * heuristic in webview/apply-target.ts). The host keeps the chat view told (for the Apply button's
 * tooltip) and uses the same reading when Apply is clicked.
 */
import * as vscode from 'vscode';
import { findDefinitions, type DefinitionRange, type EditorInfo } from '../../webview/apply-target.ts';

/** A symbol provider that has not answered by then is skipped (the heuristic answers instead). */
const SYMBOLS_TIMEOUT_MS = 1500;
/** Symbol kinds that are definitions a snippet may replace (read when used: vscode's enum). */
const definitionKinds = () =>
  new Set([
    vscode.SymbolKind.Function,
    vscode.SymbolKind.Method,
    vscode.SymbolKind.Class,
    vscode.SymbolKind.Interface,
    vscode.SymbolKind.Struct,
    vscode.SymbolKind.Enum,
    vscode.SymbolKind.Constructor,
    vscode.SymbolKind.Module,
  ]);

export async function definitionsOf(doc: vscode.TextDocument): Promise<DefinitionRange[]> {
  let symbols: (vscode.DocumentSymbol | vscode.SymbolInformation)[] | undefined;
  try {
    symbols = await Promise.race([
      vscode.commands.executeCommand<(vscode.DocumentSymbol | vscode.SymbolInformation)[] | undefined>('vscode.executeDocumentSymbolProvider', doc.uri),
      new Promise<undefined>((r) => setTimeout(() => r(undefined), SYMBOLS_TIMEOUT_MS)),
    ]);
  } catch {
    symbols = undefined;
  }
  const out: DefinitionRange[] = [];
  const kinds = symbols?.length ? definitionKinds() : new Set<vscode.SymbolKind>();
  const walk = (list: readonly (vscode.DocumentSymbol | vscode.SymbolInformation)[]) => {
    for (const s of list) {
      const range = 'location' in s ? s.location.range : s.range;
      if (kinds.has(s.kind)) out.push({ name: s.name, startLine: range.start.line, endLine: range.end.line });
      if ('children' in s && s.children?.length) walk(s.children);
    }
  };
  if (symbols?.length) walk(symbols);
  return out.length ? out : findDefinitions(doc.getText(), doc.languageId);
}

export async function editorInfo(editor: vscode.TextEditor): Promise<EditorInfo> {
  const doc = editor.document;
  const sel = editor.selection;
  const file = vscode.workspace.asRelativePath(doc.uri, false).split('/').pop() ?? doc.fileName;
  const info: EditorInfo = { file, cursorLine: sel.active.line, definitions: await definitionsOf(doc) };
  if (!sel.isEmpty) {
    const last = sel.end.character === 0 && sel.end.line > sel.start.line ? sel.end.line : sel.end.line + 1;
    info.selection = { first: sel.start.line + 1, last };
  }
  return info;
}
