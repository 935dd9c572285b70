/**
 * Issue 13, item 2: the user's code reaches the log only at trace level. The real Trace and the real
 * createLogger (extension/log.ts) over a recording stand-in for VS Code's LogOutputChannel (the
 * 'vscode' module exists only inside VS Code; a resolve hook maps the bare import to the fake),
 * so the test sees which channel method, and so which level, each line went to.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mapVscodeTo } from '../helpers/vscode-stand-in.ts';
import { describe, it } from 'node:test';

const lines: { level: string; message: string }[] = [];
const FAKE = `data:text/javascript,${encodeURIComponent(`
  export const lines = globalThis.__syLogLines;
  const at = (level) => (message) => void lines.push({ level, message });
  export const window = { createOutputChannel: () => ({ trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), show() {}, dispose() {} }) };
`)}`;
(globalThis as { __syLogLines?: unknown }).__syLogLines = lines;
mapVscodeTo(FAKE);
const { createLogger } = await import('../../extension/log.ts');
const { Trace, describeEvent } = await import('../../extension/trace.ts');
type TraceEvent = import('../../extension/trace.ts').TraceEvent;

const CODE = 'def secret_algorithm(x):\n    return x * 42\n';
const withContent: TraceEvent[] = [
  { event: 'completion-result', text: CODE, ms: 87, finishReason: 'stop' },
  { event: 'chat-result', backend: 'local', text: `Here it is:\n\`\`\`python\n${CODE}\`\`\``, finishReason: 'stop' },
  { event: 'edit-proposed', uri: 'file:///w/main.py', title: 'Fix: main.py', newText: CODE },
];

describe('log levels: content only at trace', () => {
  it('info lines give sizes, timings and ids; the code is only in trace lines', () => {
    lines.length = 0;
    const log = createLogger();
    const trace = new Trace(undefined, (level, line) => log[level](`trace ${line}`));
    for (const e of withContent) trace.event(e);
    trace.event({ event: 'completion-request', file: 'main.py', line: 3 });

    const info = lines.filter((l) => l.level === 'info');
    assert.equal(info.length, 4);
    for (const l of info) assert.ok(!l.message.includes('secret_algorithm'), `an info line carries the code: ${l.message}`);
    assert.match(info[0]!.message, /"ms":87/);
    assert.match(info[0]!.message, new RegExp(`"chars":${CODE.length}`));
    assert.match(info[2]!.message, /"uri":"file:\/\/\/w\/main\.py"/);
    assert.match(info[3]!.message, /"file":"main\.py","line":3/);

    const traced = lines.filter((l) => l.level === 'trace');
    assert.equal(traced.length, 3, 'each event with content once, whole, at trace');
    for (const l of traced) assert.ok(l.message.includes(JSON.stringify(CODE).slice(1, -1)), l.message);
    assert.deepEqual(lines.map((l) => l.level).filter((l) => l !== 'info' && l !== 'trace'), []);
  });

  it('an empty or failed result has no content to trace', () => {
    assert.equal(describeEvent({ event: 'completion-result', text: '', ms: 5, error: 'cancelled' }).hasContent, false);
    assert.equal(describeEvent({ event: 'engine-start', pid: 7 }).hasContent, false);
  });

  it('the trace file the end-to-end tests read still gets the whole event', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sy-trace-')), 'trace.jsonl');
    new Trace(file).event(withContent[0]!);
    assert.deepEqual(JSON.parse(fs.readFileSync(file, 'utf8')), withContent[0]);
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });
});
