/**
 * The chat session against the real engine process (from source, through tsx) and a tiny
 * random-weight model with a real tokenizer and chat template: the answer streams to the view, the
 * concatenated deltas are the final text, the prompt is counted by the engine's tokenizer, and Stop
 * reaches the engine as a cancellation. The EngineClient is wrapped as a ModelBackend inline (its
 * chat/complete/countTokens signatures are the backend's).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EngineClient } from '../../../engine/protocol/client.ts';
import type { ChatParams } from '../../../engine/protocol/protocol.ts';
import type { ModelBackend } from '../../../extension/backend/backend.ts';
import { allocateChips } from '../../../extension/chat/chip-windows.ts';
import { ChatSession } from '../../../extension/chat/session.ts';
import type { HostMessage } from '../../../webview/protocol.ts';
import { repoDir } from '../../helpers/paths.ts';
import { tinyModel } from '../../helpers/tiny-model.ts';

const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-chat-'));

describe('chat session with the real engine', () => {
  let client: EngineClient;
  let backend: ModelBackend;
  const calls: ChatParams[] = [];
  before(async () => {
    client = EngineClient.spawn({ args: ['--import', 'tsx', path.join(repoDir(), 'engine', 'service', 'main.ts')], cwd: repoDir() });
    await client.initialize('chat-test');
    const info = await client.loadModel({ model: tinyModel('deepseek-coder-v1'), providers: ['cpu'], quant: 'none', contextLength: 2048, cacheDir });
    backend = {
      kind: 'local',
      label: 'tiny (local, cpu)',
      contextLength: info.contextLength,
      complete: (p, signal) => client.complete(p, signal),
      chat: (p, onDelta, signal) => {
        calls.push(p);
        return client.chat(p, onDelta, signal);
      },
      countTokens: (text) => client.countTokens(text),
    };
  });
  after(async () => {
    await client?.shutdown(2000).catch(() => client.kill());
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });

  it('streams an answer whose deltas add up to the final text, then stops on request', { timeout: 120_000 }, async () => {
    const posts: HostMessage[] = [];
    const { windows } = allocateChips(
      [{ id: 'selection', kind: 'selection', label: 'add.py:1-2', path: 'add.py', languageId: 'python', text: 'def add(a, b):\n    return a + b\n' }],
      1024,
      (t) => Math.ceil(t.length / 3),
    );
    let chatMaxTokens = 24;
    const session = new ChatSession({
      backend: async () => backend,
      settings: () => ({ chatMaxTokens, chatThinking: false }),
      post: (m) => posts.push(m),
      context: async () => windows,
      // Greedy: the random weights then give the same nonsense every run.
      sampling: { temperature: 0 },
    });
    assert.equal(await session.send('What does add do?'), true);
    const deltas = posts.filter((p): p is Extract<HostMessage, { type: 'delta' }> => p.type === 'delta');
    const done = posts.at(-1) as Extract<HostMessage, { type: 'done' }>;
    assert.equal(done.type, 'done');
    assert.equal(done.turn.error, undefined, done.turn.error);
    assert.ok(deltas.length > 1, `${deltas.length} deltas`);
    assert.equal(deltas.map((x) => x.content ?? '').join(''), done.turn.content);
    assert.ok(done.turn.content.length > 0);
    assert.ok(done.turn.finishReason === 'length' || done.turn.finishReason === 'stop');
    assert.match(done.turn.stats!, /^\d+ tokens? · \d+\.\d tok\/s$/);
    assert.deepEqual(session.turns[0]!.context, ['add.py:1-2']);

    // A second message carries the first exchange; Stop after the first delta cancels in the engine
    // (a long limit, so it cannot finish first).
    chatMaxTokens = 1000;
    const before = (await client.status()).requests.cancelled;
    const n = posts.length;
    const sent = session.send('And for strings?');
    while (!posts.slice(n).some((p) => p.type === 'delta')) await new Promise((r) => setTimeout(r, 2));
    session.stop();
    await sent;
    const stopped = posts.at(-1) as Extract<HostMessage, { type: 'done' }>;
    assert.equal(stopped.turn.finishReason, 'cancelled');
    assert.equal(stopped.turn.error, undefined);
    assert.ok(stopped.turn.content.length > 0, 'the partial text is kept');
    assert.ok(stopped.turn.content.length < 1000);
    const second = calls[1]!.messages;
    assert.deepEqual(
      second.map((m) => m.role),
      ['system', 'user', 'assistant', 'user'],
    );
    assert.equal(second[2]!.content, done.turn.content);
    // Earlier messages go as typed; the code context goes with the newest one.
    assert.equal(second[1]!.content, 'What does add do?');
    assert.match(second[3]!.content, /```python\ndef add\(a, b\):[^]*And for strings\?$/);
    assert.equal((await client.status()).requests.cancelled, before + 1);
  });
});
