/**
 * The chat webview's HTML shell: the static layout (the ids of the DOM contract in
 * webview/protocol.ts), the bundled stylesheet and script, and the Content Security Policy.
 * Plain strings, no 'vscode' import, so it is unit-testable and the e2e test serves the same page.
 *
 * The CSP (why each part):
 *   default-src 'none'               nothing that is not listed below: no fetch/XHR/WebSocket
 *                                    (connect-src), no frames, no objects, no workers, no media.
 *   script-src 'nonce-N'             only our one bundle: no inline scripts, no inline event
 *                                    handlers, no eval (no 'unsafe-eval'), no other origin.
 *   style-src <cspSource> 'nonce-N'  our stylesheet from the extension's folder. The toolkit (FAST)
 *                                    puts its component styles and design tokens in constructed
 *                                    stylesheets (adoptedStyleSheets), which CSP does not govern,
 *                                    and sets properties through the CSSOM (also allowed); the one
 *                                    <style> element it creates (a :focus-visible support probe)
 *                                    takes its nonce from <meta property="csp-nonce">. So no
 *                                    'unsafe-inline' is needed.
 *   img-src <cspSource> data:        no remote images (a tracking pixel in model output would be a
 *                                    request the user did not make); data: for inline images in CSS.
 *   font-src <cspSource>             fonts from the extension only (none today; codicons later).
 *   base-uri 'none'; form-action 'none'
 *                                    not covered by default-src: an injected <base> or <form>
 *                                    could otherwise redirect URLs or submit data.
 */
import { randomBytes } from 'node:crypto';

export interface ChatHtmlOptions {
  /** `webview.cspSource`: the origin the webview serves extension files from. */
  cspSource: string;
  /** `webview.asWebviewUri(dist/webview.js)` as a string. */
  scriptUri: string;
  /** `webview.asWebviewUri(dist/webview.css)` as a string. */
  styleUri: string;
  /** From `makeNonce()`, fresh for every page. */
  nonce: string;
}

/** A CSP nonce: 128 random bits, base64url (letters, digits, '-' and '_': safe in CSP and HTML). */
export function makeNonce(): string {
  return randomBytes(16).toString('base64url');
}

const NONCE = /^[A-Za-z0-9+/_-]{22,}={0,2}$/;

function attr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The Content-Security-Policy for the chat view (see the header comment). */
export function chatCsp(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `img-src ${cspSource} data:`,
    `font-src ${cspSource}`,
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

export function chatHtml(o: ChatHtmlOptions): string {
  // Both go into the policy: a semicolon or comma there could add directives or policies.
  if (!NONCE.test(o.nonce)) throw new Error('chatHtml: the nonce must be base64 of at least 128 bits (use makeNonce())');
  if (!/^[^;,"<>\r\n]+$/.test(o.cspSource)) throw new Error(`chatHtml: unexpected cspSource ${JSON.stringify(o.cspSource)}`);
  const n = attr(o.nonce);
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${attr(chatCsp(o.cspSource, o.nonce))}">
  <meta property="csp-nonce" content="${n}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <link rel="stylesheet" href="${attr(o.styleUri)}">
  <title>Switchyard Chat</title>
</head>
<body>
  <div id="app">
    <header id="header">
      <div id="engine-state" data-kind="idle" role="region" aria-label="Engine status"></div>
      <vscode-button id="new-chat" appearance="secondary" aria-label="New chat" title="New Chat (clears the conversation)">New Chat</vscode-button>
    </header>
    <div id="notice" hidden></div>
    <main id="transcript" role="log" aria-live="polite" aria-label="Conversation" tabindex="0">
      <div id="empty-state">
        <p class="empty-title">Ask about your code.</p>
        <p>Select code in the editor to send it along, or type <kbd>@</kbd> to add a file.
          <kbd>Enter</kbd> sends, <kbd>Shift</kbd>+<kbd>Enter</kbd> starts a new line.</p>
      </div>
      <div id="turns"></div>
    </main>
    <footer id="composer">
      <div id="context-bar">
        <div id="chips" role="list" aria-label="Context sent with the next message" hidden></div>
        <span id="budget" title="Context tokens used of the budget">0 / 0 tokens</span>
      </div>
      <textarea id="prompt" rows="1" placeholder="Ask Switchyard (@ adds a file)" aria-label="Message" aria-describedby="prompt-hint" spellcheck="true"></textarea>
      <div id="composer-actions">
        <vscode-button id="add-file" appearance="secondary" aria-label="Add a file to the context" title="Add a file to the context (@)">+ File</vscode-button>
        <span id="prompt-hint">Enter to send, Shift+Enter for a new line</span>
        <vscode-button id="stop" appearance="secondary" aria-label="Stop generating" title="Stop (Escape)" hidden>Stop</vscode-button>
        <vscode-button id="send" appearance="primary" aria-label="Send message" title="Send (Enter)">Send</vscode-button>
      </div>
    </footer>
  </div>
  <div id="sr-announce" class="sr-only" aria-live="polite"></div>
  <script nonce="${n}" src="${attr(o.scriptUri)}"></script>
</body>
</html>
`;
}
