/**
 * Model output (markdown) -> HTML for the chat view.
 *
 * Two layers, because the text comes from a model and may carry whatever a prompt injection put
 * there: markdown-it with `html: false` escapes every raw tag and only lets through http(s) and
 * mailto links (`markdownToHtml`, pure strings, also tested in Node); DOMPurify then re-checks the
 * result in the browser against a small allow-list before it reaches the DOM (`renderMarkdown`).
 * Links are plain `<a href>`: VS Code's webview intercepts clicks on them and opens http(s)/mailto
 * with the system opener, so the page itself never navigates.
 */
import DOMPurify from 'dompurify';
import MarkdownIt from 'markdown-it';
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import c from 'highlight.js/lib/languages/c';
import cpp from 'highlight.js/lib/languages/cpp';
import csharp from 'highlight.js/lib/languages/csharp';
import css from 'highlight.js/lib/languages/css';
import diff from 'highlight.js/lib/languages/diff';
import dockerfile from 'highlight.js/lib/languages/dockerfile';
import go from 'highlight.js/lib/languages/go';
import ini from 'highlight.js/lib/languages/ini';
import java from 'highlight.js/lib/languages/java';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import kotlin from 'highlight.js/lib/languages/kotlin';
import lua from 'highlight.js/lib/languages/lua';
import makefile from 'highlight.js/lib/languages/makefile';
import markdown from 'highlight.js/lib/languages/markdown';
import php from 'highlight.js/lib/languages/php';
import plaintext from 'highlight.js/lib/languages/plaintext';
import powershell from 'highlight.js/lib/languages/powershell';
import python from 'highlight.js/lib/languages/python';
import ruby from 'highlight.js/lib/languages/ruby';
import rust from 'highlight.js/lib/languages/rust';
import shell from 'highlight.js/lib/languages/shell';
import sql from 'highlight.js/lib/languages/sql';
import swift from 'highlight.js/lib/languages/swift';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';

// The common languages only: highlight.js with all ~190 grammars would be most of the bundle.
const LANGUAGES = {
  bash, c, cpp, csharp, css, diff, dockerfile, go, ini, java, javascript, json, kotlin, lua, makefile,
  markdown, php, plaintext, powershell, python, ruby, rust, shell, sql, swift, typescript, xml, yaml,
};
for (const [name, fn] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, fn);

/** Schemes a link may have; everything else (javascript:, data:, file:, vscode:, relative) stays text. */
const SAFE_LINK = /^(?:https?:\/\/|mailto:)/i;

/** The code-block buttons, in order: [data-action, visible label, aria-label]. */
export const CODE_ACTIONS = [
  ['copy', 'Copy', 'Copy code'],
  ['insert', 'Insert at Cursor', 'Insert code at the cursor'],
  ['apply', 'Apply to File', 'Apply code to the file'],
] as const;
export type CodeAction = (typeof CODE_ACTIONS)[number][0];

const md = new MarkdownIt({ html: false, linkify: true, breaks: false, typographer: false });
md.validateLink = (url: string) => SAFE_LINK.test(url.trim());
const escapeHtml = md.utils.escapeHtml;

/** The fence's language tag ("python", "ts"), lower case and restricted to name characters. */
export function fenceLanguage(info: string): string {
  const word = info.trim().split(/\s+/, 1)[0] ?? '';
  return word.toLowerCase().replace(/[^a-z0-9_+#.-]/g, '').slice(0, 32);
}

// Streaming re-renders the whole answer on every frame, and all fences but the last are unchanged
// between frames: remember their highlighted HTML instead of running highlight.js again.
const highlightCache = new Map<string, string>();
const HIGHLIGHT_CACHE_MAX = 200;

/** Highlighted, HTML-escaped code; unknown languages come back escaped and unhighlighted. */
export function highlightCode(code: string, lang: string): string {
  if (!lang || !hljs.getLanguage(lang)) return escapeHtml(code);
  const key = `${lang}\u0000${code}`;
  const hit = highlightCache.get(key);
  if (hit !== undefined) return hit;
  let html: string;
  try {
    html = hljs.highlight(code, { language: lang, ignoreIllegals: true }).value;
  } catch {
    html = escapeHtml(code);
  }
  if (highlightCache.size >= HIGHLIGHT_CACHE_MAX) highlightCache.delete(highlightCache.keys().next().value!);
  highlightCache.set(key, html);
  return html;
}

/** One code block: `.code-block[data-lang]` with its toolbar and `pre code`. */
function codeBlock(content: string, lang: string): string {
  // markdown-it keeps the newline that ends the last line; the code the buttons send has none.
  const code = content.endsWith('\n') ? content.slice(0, -1) : content;
  const buttons = CODE_ACTIONS.map(
    ([action, label, aria]) => `<button type="button" class="code-action" data-action="${action}" aria-label="${aria}">${label}</button>`,
  ).join('');
  const langClass = lang ? ` language-${escapeHtml(lang)}` : '';
  return (
    `<div class="code-block" data-lang="${escapeHtml(lang)}">` +
    `<div class="code-toolbar"><span class="code-lang">${escapeHtml(lang || 'text')}</span>${buttons}</div>` +
    `<pre><code class="hljs${langClass}">${highlightCode(code, lang)}</code></pre>` +
    `</div>\n`
  );
}

md.renderer.rules.fence = (tokens, idx) => {
  const t = tokens[idx]!;
  return codeBlock(t.content, fenceLanguage(t.info));
};
md.renderer.rules.code_block = (tokens, idx) => codeBlock(tokens[idx]!.content, '');

// Links show where they go (title) and never pass the opener or referrer on.
md.renderer.rules.link_open = (tokens, idx, options, _env, self) => {
  const t = tokens[idx]!;
  const href = String(t.attrGet('href') ?? '');
  if (!t.attrGet('title')) t.attrSet('title', href);
  t.attrSet('rel', 'noopener noreferrer');
  return self.renderToken(tokens, idx, options);
};

// No images: a remote image would be a request the user did not ask for (CSP blocks it anyway, as
// img-src allows only the extension's own files). Show the alt text as a link to the image instead.
md.renderer.rules.image = (tokens, idx) => {
  const t = tokens[idx]!;
  const src = String(t.attrGet('src') ?? '');
  const alt = t.content || src;
  return `<a href="${escapeHtml(src)}" title="${escapeHtml(src)}" rel="noopener noreferrer" class="image-link">${escapeHtml(alt)}</a>`;
};

/** Markdown -> HTML string (not yet DOMPurify-sanitized: use `renderMarkdown` for the DOM). */
export function markdownToHtml(src: string): string {
  return md.render(src);
}

// What our renderer emits, and nothing else: a tag or attribute outside this list can only come
// from a bug in the markdown layer, so DOMPurify drops it.
const PURIFY_CONFIG = {
  ALLOWED_TAGS: [
    'a', 'b', 'blockquote', 'br', 'button', 'code', 'del', 'div', 'em', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr',
    'i', 'li', 'ol', 'p', 'pre', 's', 'span', 'strong', 'sub', 'sup', 'table', 'tbody', 'td', 'th', 'thead', 'tr', 'ul',
  ],
  ALLOWED_ATTR: ['href', 'title', 'rel', 'class', 'type', 'start', 'align', 'aria-label', 'data-lang', 'data-action'],
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:)/i,
  // With that strict URI pattern every other attribute value would be judged as a URL too: these
  // are not URLs, so they skip the URI check (href is the only URL attribute left).
  ADD_URI_SAFE_ATTR: ['type', 'rel', 'start', 'align', 'data-lang', 'data-action'],
  ALLOW_DATA_ATTR: false,
};

/** Markdown -> sanitized DOM, ready to insert (browser only). */
export function renderMarkdown(src: string): DocumentFragment {
  if (!DOMPurify.isSupported) throw new Error('DOMPurify needs a DOM');
  // A fragment rather than a string: no second HTML parse between sanitizing and inserting.
  return DOMPurify.sanitize(markdownToHtml(src), { ...PURIFY_CONFIG, RETURN_DOM_FRAGMENT: true });
}
