/**
 * The chat webview's HTML shell: its Content Security Policy allows our one nonce-carrying script
 * and nothing else (no inline or remote scripts, no eval, nothing by default), and nonces are
 * fresh and long. The browser side of the same policy is test/e2e/webview-security.e2e.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chatCsp, chatHtml, makeNonce } from '../../../extension/chat/html.ts';

const CSP_SOURCE = 'https://*.vscode-cdn.net';
const opts = (nonce = makeNonce()) => ({
  cspSource: CSP_SOURCE,
  scriptUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview.js',
  styleUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview.css',
  nonce,
});

/** The policy as the page carries it, parsed into directive -> sources. */
function policyOf(html: string): Map<string, string[]> {
  const metas = [...html.matchAll(/<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]*)"/gi)];
  assert.equal(metas.length, 1, 'exactly one CSP meta tag');
  const text = metas[0]![1]!.replace(/&#39;|&apos;/g, "'").replace(/&quot;/g, '"').replace(/&amp;/g, '&');
  const out = new Map<string, string[]>();
  for (const part of text.split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name) {
      assert.ok(!out.has(name), `directive ${name} given twice`);
      out.set(name, sources);
    }
  }
  return out;
}

describe('chat webview html', () => {
  it('has a CSP that allows only the nonce-carrying script and nothing by default', () => {
    const o = opts();
    const html = chatHtml(o);
    const csp = policyOf(html);
    assert.deepEqual(csp.get('default-src'), ["'none'"]);
    // script-src: the nonce and nothing else -- no inline, no eval, no origins (not even ours).
    assert.deepEqual(csp.get('script-src'), [`'nonce-${o.nonce}'`]);
    assert.ok(!csp.has('script-src-elem') && !csp.has('script-src-attr'), 'no script-src overrides');
    for (const [name, sources] of csp) {
      assert.ok(!sources.includes("'unsafe-eval'"), `${name} allows eval`);
      assert.ok(!sources.includes("'unsafe-hashes'"), `${name} allows inline handlers by hash`);
      // Only the webview's own resource origin, data: and the nonce: no other origin, no scheme-wide source.
      const others = sources.filter((src) => ![CSP_SOURCE, 'data:', "'none'", `'nonce-${o.nonce}'`].includes(src));
      assert.deepEqual(others, [], `${name} allows more than our own origin`);
    }
    assert.ok(!csp.get('script-src')!.includes("'unsafe-inline'"));
    assert.ok(!csp.get('style-src')!.includes("'unsafe-inline'"), 'styles need no unsafe-inline (see html.ts)');
    assert.deepEqual(csp.get('style-src'), [CSP_SOURCE, `'nonce-${o.nonce}'`]);
    assert.deepEqual(csp.get('img-src'), [CSP_SOURCE, 'data:']);
    assert.deepEqual(csp.get('font-src'), [CSP_SOURCE]);
    assert.deepEqual(csp.get('base-uri'), ["'none'"]);
    assert.deepEqual(csp.get('form-action'), ["'none'"]);
    assert.equal(chatCsp(CSP_SOURCE, o.nonce), [...csp].map(([k, v]) => [k, ...v].join(' ')).join('; '));
  });

  it('loads one script, with the nonce, and has no inline script or event handler', () => {
    const o = opts();
    const html = chatHtml(o);
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
    assert.equal(scripts.length, 1);
    assert.match(scripts[0]![1]!, new RegExp(`\\bnonce="${o.nonce}"`));
    assert.match(scripts[0]![1]!, new RegExp(`\\bsrc="${o.scriptUri.replace(/[.+*]/g, '\\$&')}"`));
    assert.equal(scripts[0]![2]!.trim(), '', 'the script tag has no inline body');
    assert.doesNotMatch(html, /\son[a-z]+\s*=/i, 'no inline event handler attributes');
    assert.doesNotMatch(html, /javascript:/i);
    assert.doesNotMatch(html, /\sstyle\s*=/i, 'no style attributes (style-src has no unsafe-inline)');
    assert.match(html, new RegExp(`<link rel="stylesheet" href="${o.styleUri.replace(/[.+*]/g, '\\$&')}">`));
    // The toolkit reads the nonce for the one <style> element it creates.
    assert.match(html, new RegExp(`<meta property="csp-nonce" content="${o.nonce}">`));
  });

  it('has the elements of the DOM contract', () => {
    const html = chatHtml(opts());
    for (const id of ['prompt', 'send', 'stop', 'new-chat', 'add-file', 'engine-state', 'budget', 'transcript', 'chips']) {
      assert.match(html, new RegExp(`\\sid="${id}"`), `#${id}`);
    }
    assert.match(html, /id="transcript"[^>]*aria-live="polite"/);
  });

  it('makes a fresh nonce of at least 128 bits each time', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const n = makeNonce();
      assert.match(n, /^[A-Za-z0-9_-]+$/, 'base64url: safe in a CSP source and an HTML attribute');
      assert.ok(Buffer.from(n, 'base64url').length >= 16, `${n} carries fewer than 128 bits`);
      seen.add(n);
    }
    assert.equal(seen.size, 200);
    const a = chatHtml(opts());
    const b = chatHtml(opts());
    assert.notEqual(policyOf(a).get('script-src')![0], policyOf(b).get('script-src')![0]);
  });

  it('refuses a nonce or cspSource that could change the policy', () => {
    assert.throws(() => chatHtml(opts('short')));
    assert.throws(() => chatHtml(opts(`${makeNonce()}' 'unsafe-inline`)));
    assert.throws(() => chatHtml({ ...opts(), cspSource: "https://x; script-src 'unsafe-inline'" }));
    assert.throws(() => chatHtml({ ...opts(), cspSource: 'https://x"><script>' }));
  });

  it('escapes the URIs it puts in attributes', () => {
    const html = chatHtml({ ...opts(), scriptUri: 'https://x/a.js?"><script>alert(1)</script>' });
    assert.doesNotMatch(html, /<script>alert/);
    assert.match(html, /a\.js\?&quot;&gt;&lt;script&gt;/);
  });
});
