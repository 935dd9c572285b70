/**
 * An edit the model proposes. Nothing reaches a document or the disk until the user accepts it in
 * the diff preview (extension/edits/preview.ts); accepting applies one WorkspaceEdit (one undo step).
 */
import type * as vscode from 'vscode';

export interface ProposedEdit {
  /** The file to change; one that does not exist yet is created on accept (generated tests). */
  uri: vscode.Uri;
  /** Replace this range of the current text; absent: replace the whole document (or fill a new file). */
  range?: vscode.Range;
  newText: string;
  /** Diff editor title, e.g. "Rewrite: main.py". */
  title: string;
}

/** Shows the diff and resolves true when the user accepted (and the edit was applied), false otherwise. */
export type ProposeEdit = (e: ProposedEdit) => Promise<boolean>;
