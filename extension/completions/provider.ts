/**
 * VS Code's InlineCompletionItemProvider over Completer (request.ts): turns the document and
 * position into plain text and offsets, VS Code's CancellationToken into an AbortSignal (which the
 * engine client turns into JSON-RPC $/cancelRequest), and the result into an InlineCompletionItem
 * with a range at the cursor. Partial accept (next word / next line) is VS Code's own
 * editor.action.inlineSuggest.acceptNextWord / acceptNextLine and needs nothing from us.
 */
import * as vscode from 'vscode';
import type { WorkspaceContext } from '../context/workspace.ts';
import type { Completer } from './request.ts';

export class InlineProvider implements vscode.InlineCompletionItemProvider {
  constructor(
    private readonly completer: Completer,
    private readonly workspace: WorkspaceContext,
  ) {}

  async provideInlineCompletionItems(
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | undefined> {
    // With the suggest widget open, VS Code shows only a suggestion that extends the selected
    // item; ours would not, so do not spend a request on it.
    if (context.selectedCompletionInfo) return undefined;
    const ac = new AbortController();
    if (token.isCancellationRequested) return undefined;
    const sub = token.onCancellationRequested(() => ac.abort());
    try {
      const editor = vscode.window.visibleTextEditors.find((e) => e.document === document);
      const tabSize = typeof editor?.options.tabSize === 'number' ? editor.options.tabSize : 4;
      const folder = vscode.workspace.getWorkspaceFolder(document.uri);
      const outcome = await this.completer.complete(
        {
          uri: document.uri.toString(),
          path: document.uri.scheme === 'file' || folder ? vscode.workspace.asRelativePath(document.uri, false) : document.uri.toString(),
          tracePath: document.uri.scheme === 'file' ? document.uri.fsPath : document.uri.toString(),
          languageId: document.languageId,
          text: document.getText(),
          offset: document.offsetAt(position),
          line: position.line,
          character: position.character,
          tabSize,
          repoName: folder?.name,
          candidates: () => this.workspace.candidates(document),
        },
        ac.signal,
      );
      if (token.isCancellationRequested) return undefined;
      if (outcome.kind !== 'completion' && outcome.kind !== 'type-through') return undefined;
      if (!outcome.text) return undefined;
      return [new vscode.InlineCompletionItem(outcome.text, new vscode.Range(position, position))];
    } finally {
      sub.dispose();
    }
  }
}
