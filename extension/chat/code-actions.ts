/**
 * The buttons on a code block in a chat answer: copy, insert at the cursor, apply as a proposed edit.
 * They act on the last text editor the user was in (focus is on the chat when they click).
 *
 * Insert edits at once (the user clicked it, on the code they can see: no preview needed, and it is
 * one undo step). Apply goes through the diff preview, since it replaces code.
 */
import * as vscode from 'vscode';
import type { ProposeEdit } from '../edits/proposed-edit.ts';
import { applyTarget } from '../../webview/apply-target.ts';
import { editorInfo } from './editor-info.ts';
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

/**
 * Apply to File: the code replaces the selection; with none, the definition of the same name
 * (webview/apply-target.ts), else it goes in at the cursor. Never the whole file: a snippet is not a
 * file. The diff preview is the feedback: accepted or rejected there, nothing more to say here.
 */
export async function applyCode(editor: vscode.TextEditor | undefined, code: string, proposeEdit: ProposeEdit, notice: Notice): Promise<void> {
  if (!editor) {
    notice('error', NO_EDITOR);
    return;
  }
  const doc = editor.document;
  const sel = editor.selection;
  const info = await editorInfo(editor);
  const target = applyTarget(code, info);
  let range: vscode.Range;
  let newText: string;
  if (target.kind === 'selection') {
    range = new vscode.Range(sel.start, sel.end);
    newText = codeForReplace(code, doc.getText(range));
  } else if (target.kind === 'definition') {
    range = new vscode.Range(target.startLine, 0, target.endLine, doc.lineAt(target.endLine).text.length);
    newText = codeForReplace(indentLike(code, doc.lineAt(target.startLine).text), doc.getText(range));
  } else {
    range = new vscode.Range(sel.active, sel.active);
    newText = codeForInsert(code, { column: sel.active.character, restOfLine: doc.lineAt(sel.active.line).text.slice(sel.active.character) });
  }
  await proposeEdit({ uri: doc.uri, range, newText, title: `Apply: ${info.file}` });
}

/** A snippet written at column 0 for a definition that is indented (a method): indented like it. */
function indentLike(code: string, header: string): string {
  const indent = /^\s*/.exec(header)![0];
  const lines = code.split('\n');
  const least = Math.min(...lines.filter((l) => l.trim()).map((l) => /^\s*/.exec(l)![0].length));
  if (!indent || least > 0) return code;
  return lines.map((l) => (l.trim() ? indent + l : l)).join('\n');
}
