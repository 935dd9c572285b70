/**
 * The buttons on a code block in a chat answer: copy, insert at the cursor, apply as a proposed edit.
 * They act on the last text editor the user was in (focus is on the chat when they click).
 *
 * Insert edits at once (the user clicked it, on the code they can see: no preview needed, and it is
 * one undo step). Apply goes through the diff preview, since it replaces the selection or the whole
 * file.
 */
import * as vscode from 'vscode';
import type { ProposeEdit } from '../edits/proposed-edit.ts';
import { codeForInsert, codeForReplace } from './line-ends.ts';

export const NO_EDITOR = 'No editor is open: open a file and place the cursor where the code should go, then try again.';

export type Notice = (level: 'info' | 'error', text: string) => void;

export async function copyCode(code: string, notice: Notice): Promise<void> {
  await vscode.env.clipboard.writeText(code);
  notice('info', 'Copied to the clipboard.');
}

export async function insertCode(editor: vscode.TextEditor | undefined, code: string, notice: Notice): Promise<void> {
  if (!editor) {
    notice('error', NO_EDITOR);
    return;
  }
  const sel = editor.selection;
  const doc = editor.document;
  const text = sel.isEmpty
    ? codeForInsert(code, { column: sel.active.character, restOfLine: doc.lineAt(sel.active.line).text.slice(sel.active.character) })
    : codeForReplace(code, doc.getText(sel));
  const ok = await editor.edit((b) => (sel.isEmpty ? b.insert(sel.active, text) : b.replace(sel, text)));
  if (!ok) {
    notice('error', `Cannot insert into ${vscode.workspace.asRelativePath(editor.document.uri, false)} (it may be read-only).`);
    return;
  }
  // Back to the editor, so the user sees (and can undo) the change.
  await vscode.window.showTextDocument(editor.document, { viewColumn: editor.viewColumn, preserveFocus: false });
}

export async function applyCode(editor: vscode.TextEditor | undefined, code: string, proposeEdit: ProposeEdit, notice: Notice): Promise<void> {
  if (!editor) {
    notice('error', NO_EDITOR);
    return;
  }
  const doc = editor.document;
  const sel = editor.selection;
  const name = vscode.workspace.asRelativePath(doc.uri, false).split('/').pop() ?? doc.fileName;
  // The diff preview is the feedback: accepted or rejected there, nothing more to say here.
  const range = sel.isEmpty ? undefined : new vscode.Range(sel.start, sel.end);
  const newText = codeForReplace(code, range ? doc.getText(range) : doc.getText());
  await proposeEdit({ uri: doc.uri, range, newText, title: `Apply: ${name}` });
}
