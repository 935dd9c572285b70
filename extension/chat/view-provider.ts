/**
 * The chat webview in the Switchyard activity-bar container. The page is a static shell
 * (html.ts) that renders whatever the host sends; the host keeps all state, so the view does not
 * need `retainContextWhenHidden`: when it is shown again (or reloaded) it says 'ready' and gets the
 * whole state back.
 *
 * Messages from the view are checked with `isViewMessage` before anything acts on them: the page
 * renders model output, so it is treated as a less trusted context.
 */
import * as vscode from 'vscode';
import { isViewMessage, type HostMessage, type ViewMessage } from '../../webview/protocol.ts';
import type { LogLevel } from '../log.ts';
import { chatHtml, makeNonce } from './html.ts';

export const CHAT_VIEW_ID = 'switchyard.chat';

export interface ChatViewDeps {
  extensionUri: vscode.Uri;
  onMessage: (m: ViewMessage) => void;
  log: (level: LogLevel, m: string) => void;
}

export class ChatViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  #view: vscode.WebviewView | undefined;
  #subs: vscode.Disposable[] = [];

  constructor(private readonly deps: ChatViewDeps) {}

  get visible(): boolean {
    return !!this.#view?.visible;
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    for (const s of this.#subs) s.dispose();
    this.#view = view;
    const dist = vscode.Uri.joinPath(this.deps.extensionUri, 'dist');
    const media = vscode.Uri.joinPath(this.deps.extensionUri, 'media');
    const w = view.webview;
    w.options = { enableScripts: true, localResourceRoots: [dist, media] };
    w.html = chatHtml({
      cspSource: w.cspSource,
      scriptUri: w.asWebviewUri(vscode.Uri.joinPath(dist, 'webview.js')).toString(),
      styleUri: w.asWebviewUri(vscode.Uri.joinPath(dist, 'webview.css')).toString(),
      nonce: makeNonce(),
    });
    this.#subs = [
      w.onDidReceiveMessage((m: unknown) => {
        if (!isViewMessage(m)) {
          // The message may carry what the user typed: its text only at trace level.
          this.deps.log('warn', `chat view: ignored an invalid message (${describeMessage(m)})`);
          this.deps.log('trace', `chat view: the invalid message: ${preview(m)}`);
          return;
        }
        try {
          this.deps.onMessage(m);
        } catch (e) {
          this.deps.log('error', `chat view: handling '${m.type}' failed: ${(e as Error).stack ?? e}`);
        }
      }),
      view.onDidDispose(() => {
        if (this.#view === view) this.#view = undefined;
        for (const s of this.#subs) s.dispose();
        this.#subs = [];
      }),
    ];
  }

  /** Sends to the view if it exists; dropped otherwise (the view gets the full state on 'ready'). */
  post(m: HostMessage): void {
    const v = this.#view;
    if (!v) return;
    v.webview.postMessage(m).then(undefined, () => {
      // the view went away between the check and the send: it re-syncs on 'ready'
    });
  }

  dispose(): void {
    for (const s of this.#subs) s.dispose();
    this.#subs = [];
    this.#view = undefined;
  }
}

/** A message's type and size, without its content. */
function describeMessage(m: unknown): string {
  const type = m && typeof m === 'object' && typeof (m as { type?: unknown }).type === 'string' ? `type '${(m as { type: string }).type}'` : `a ${typeof m}`;
  return `${type}, ${preview(m, Infinity).length} characters`;
}

function preview(m: unknown, max = 200): string {
  try {
    return (JSON.stringify(m) ?? String(m)).slice(0, max);
  } catch {
    return String(m).slice(0, max);
  }
}
