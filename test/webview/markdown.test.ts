/**
 * The chat view's markdown layer (webview/render/markdown.ts) in Node: model output cannot put
 * markup into the page (raw HTML is escaped, only http(s)/mailto become links), and fenced code
 * becomes the `.code-block[data-lang]` of the DOM contract with its three buttons and highlighting.
 * DOMPurify, the second layer, needs a DOM: test/e2e/webview-security.e2e.ts checks it in chromium.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CODE_ACTIONS, fenceLanguage, highlightCode, markdownToHtml } from '../../webview/render/markdown.ts';

/** Every tag the HTML opens, by name. */
const tags = (html: string) => [...html.matchAll(/<([a-zA-Z][a-zA-Z0-9-]*)/g)].map((m) => m[1]!.toLowerCase());
/** The text of the HTML with its tags dropped and the entities markdown-it emits decoded. */
const text = (html: string) =>
  html.replace(/<[^>]*>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

const ALLOWED_TAGS = new Set(['p', 'a', 'em', 'strong', 'code', 'pre', 'div', 'span', 'button', 'ul', 'ol', 'li', 'h1', 'h2', 'h3', 'blockquote', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'hr', 'br', 's']);

describe('webview markdown', () => {
  it('escapes raw HTML from the model', () => {
    const src = [
      '<script>window.pwned = 1</script>',
      '',
      'text <img src=x onerror="window.pwned = 2"> more',
      '',
      '<iframe src="https://example.com"></iframe>',
      '',
      '<a href="javascript:alert(1)">click</a> <svg onload=alert(1)>',
      '',
      '<style>body{display:none}</style>',
    ].join('\n');
    const html = markdownToHtml(src);
    for (const t of tags(html)) assert.ok(ALLOWED_TAGS.has(t), `<${t}> got through: ${html}`);
    assert.ok(!tags(html).some((t) => ['script', 'img', 'iframe', 'svg', 'style'].includes(t)));
    assert.doesNotMatch(html, /<[^>]*\son\w+=/i, 'no event handler attribute inside a tag');
    // ...and it is all still there, as text.
    assert.ok(text(html).includes('<script>window.pwned = 1</script>'));
    assert.ok(text(html).includes('<img src=x onerror="window.pwned = 2">'));
    assert.ok(text(html).includes('<iframe src="https://example.com"></iframe>'));
  });

  it('makes links only of http(s) and mailto', () => {
    for (const bad of [
      '[x](javascript:alert(1))',
      '[x](JaVaScRiPt:alert(1))',
      '[x](  javascript:alert(1))',
      '[x](java\tscript:alert(1))',
      '[x](data:text/html,<script>alert(1)</script>)',
      '[x](vbscript:msgbox)',
      '[x](file:///etc/passwd)',
      '[x](command:workbench.action.terminal.new)',
      '[x](vscode://file/etc/passwd)',
      '<javascript:alert(1)>',
      '[x]: javascript:alert(1)\n\n[x]',
      '![x](javascript:alert(1))',
      '![x](data:image/png;base64,AAAA)',
      '[x](relative/path.md)',
    ]) {
      const html = markdownToHtml(bad);
      assert.ok(!tags(html).includes('a'), `${bad} became a link: ${html}`);
      assert.ok(!tags(html).includes('img'), `${bad} became an image: ${html}`);
    }
    const ok = markdownToHtml('[docs](https://example.com/a?b=1&c=2) <mailto:me@example.com> http://example.org/x');
    const hrefs = [...ok.matchAll(/<a href="([^"]*)"/g)].map((m) => m[1]);
    assert.deepEqual(hrefs, ['https://example.com/a?b=1&amp;c=2', 'mailto:me@example.com', 'http://example.org/x']);
    assert.match(ok, /rel="noopener noreferrer"/);
    // File names that look like domains (.py is Paraguay, .sh Saint Helena) stay text.
    assert.ok(!tags(markdownToHtml('Edit main.py and setup.sh')).includes('a'));
    assert.match(ok, /title="https:\/\/example\.com\/a\?b=1&amp;c=2"/, 'a link shows where it goes');
  });

  it('shows an image as a link, never an <img>', () => {
    const html = markdownToHtml('![a chart](https://example.com/c.png)');
    assert.ok(!tags(html).includes('img'));
    assert.match(html, /<a href="https:\/\/example\.com\/c\.png"[^>]*class="image-link">a chart<\/a>/);
  });

  it('turns fenced code into .code-block[data-lang] with the three buttons and highlighted spans', () => {
    const code = 'def add(a, b):\n    """Sum."""\n    return a + b  # <b>not bold</b>';
    const html = markdownToHtml('Here:\n\n```python\n' + code + '\n```\n');
    assert.match(html, /<div class="code-block" data-lang="python">/);
    const actions = [...html.matchAll(/<button type="button" class="code-action" data-action="(\w+)" aria-label="[^"]+">/g)].map((m) => m[1]);
    assert.deepEqual(actions, ['copy', 'insert', 'apply']);
    assert.deepEqual(CODE_ACTIONS.map((a) => a[0]), ['copy', 'insert', 'apply']);
    const inner = /<pre><code class="hljs language-python">([\s\S]*?)<\/code><\/pre>/.exec(html);
    assert.ok(inner, html);
    assert.match(inner[1]!, /<span class="hljs-keyword">def<\/span>/);
    assert.match(inner[1]!, /<span class="hljs-string">&quot;&quot;&quot;Sum.&quot;&quot;&quot;<\/span>/);
    assert.match(inner[1]!, /<span class="hljs-comment"># &lt;b&gt;not bold&lt;\/b&gt;<\/span>/);
    // The text of the code element is the code exactly (what Copy/Insert/Apply send), without the
    // fence's trailing newline.
    assert.equal(text(inner[1]!), code);
  });

  it('renders unknown languages and HTML inside fences escaped', () => {
    const html = markdownToHtml('```brainfudge <x>\n<script>alert(1)</script>\n<img src=x onerror=alert(2)>\n```');
    assert.match(html, /<div class="code-block" data-lang="brainfudge">/);
    assert.ok(!tags(html).includes('script') && !tags(html).includes('img'));
    assert.match(html, /<code class="hljs language-brainfudge">&lt;script&gt;alert\(1\)&lt;\/script&gt;\n&lt;img src=x onerror=alert\(2\)&gt;<\/code>/);
    // No language at all, and indented code: still a code block with buttons, escaped.
    const plain = markdownToHtml('```\na < b && c\n```\n\n    indented <i>\n');
    const blocks = [...plain.matchAll(/<div class="code-block" data-lang="">/g)];
    assert.equal(blocks.length, 2);
    assert.match(plain, /a &lt; b &amp;&amp; c/);
    assert.match(plain, /indented &lt;i&gt;/);
  });

  it('cleans the language tag before it goes into an attribute', () => {
    assert.equal(fenceLanguage('Python title="x"'), 'python');
    assert.equal(fenceLanguage('c++'), 'c++');
    assert.equal(fenceLanguage('"><script>'), 'script');
    assert.equal(fenceLanguage(''), '');
    const html = markdownToHtml('```"><img/src=x>\nx\n```');
    assert.ok(!tags(html).includes('img'), html);
  });

  it('highlights the same code once (streaming re-renders reuse it) and keeps unclosed fences as code', () => {
    assert.equal(highlightCode('x = 1', 'python'), highlightCode('x = 1', 'python'));
    assert.equal(highlightCode('<b>', 'nope'), '&lt;b&gt;');
    // Mid-stream the closing fence has not arrived: still one code block, to the end.
    const html = markdownToHtml('Start\n\n```ts\nconst a = 1;\nconst b');
    assert.match(html, /data-lang="ts"/);
    assert.match(html, /<span class="hljs-keyword">const<\/span> b<\/code>/);
  });
});
