/**
 * The chat session (extension/chat/session.ts) with a fake ModelBackend that streams scripted
 * deltas: the real engine path is covered by session.real-engine.test.ts and the end-to-end test.
 * What is checked: deltas reach the view in order with content and reasoning apart, Stop ends the
 * turn as cancelled with the partial text, errors are shown on the turn, one generation at a time,
 * New Chat, earlier turns trimmed to the model's context, the chips' windows in the prompt with
 * their paths, and the history written during streaming.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChatDeltaParams, ChatParams, ChatResult } from '../../../engine/protocol/protocol.ts';
import { BackendError, type ModelBackend } from '../../../extension/backend/backend.ts';
import { allocateChips, type ChipSource, type ChipWindow } from '../../../extension/chat/chip-windows.ts';
import { ChatHistory, type MementoLike } from '../../../extension/chat/history.ts';
import { buildPrompt, ChatSession, errorText, formatStats, historyPairs, SYSTEM_PROMPT } from '../../../extension/chat/session.ts';
import type { HostMessage, Turn } from '../../../webview/protocol.ts';

type Step = ChatDeltaParams | { wait: number };

/** Streams `steps` (deltas, pauses), then resolves like the engine: the text so far and finishReason. */
class FakeBackend implements ModelBackend {
  readonly kind = 'local' as const;
  readonly label = 'fake (local, cpu)';
  calls: ChatParams[] = [];
  /** When aborted: resolve with finishReason 'cancelled' (the engine) or reject (an HTTP client). */
  abortMode: 'resolve' | 'reject' = 'resolve';
  fail: Error | undefined;
  constructor(
    private readonly steps: Step[],
    readonly contextLength = 4096,
  ) {}
  complete(): never {
    throw new Error('not used');
  }
  async countTokens(text: string): Promise<number> {
    return Math.ceil(text.length / 4);
  }
  async chat(p: ChatParams, onDelta?: (d: ChatDeltaParams) => void, signal?: AbortSignal): Promise<ChatResult> {
    this.calls.push(p);
    let text = '';
    let reasoning = '';
    let n = 0;
    for (const s of this.steps) {
      if (signal?.aborted) break;
      if ('wait' in s) {
        await new Promise((r) => setTimeout(r, s.wait));
        continue;
      }
      if (this.fail && n === 1) throw this.fail;
      text += s.content ?? '';
      reasoning += s.reasoning ?? '';
      n++;
      onDelta?.(s);
    }
    if (this.fail) throw this.fail;
    if (signal?.aborted) {
      if (this.abortMode === 'reject') throw new DOMException('This operation was aborted', 'AbortError');
      return { text, reasoning, finishReason: 'cancelled', usage: { promptTokens: 10, cachedTokens: 0, completionTokens: n, prefillMs: 1, decodeMs: 10 } };
    }
    return { text, reasoning, finishReason: 'stop', usage: { promptTokens: 10, cachedTokens: 0, completionTokens: 42, prefillMs: 5, decodeMs: 3415 } };
  }
}

const d = (content?: string, reasoning?: string): ChatDeltaParams => ({ streamId: 's', ...(content ? { content } : {}), ...(reasoning ? { reasoning } : {}) });

class FakeMemento implements MementoLike {
  readonly data = new Map<string, unknown>();
  get<T>(key: string): T | undefined {
    return this.data.get(key) === undefined ? undefined : (JSON.parse(JSON.stringify(this.data.get(key))) as T);
  }
  async update(key: string, value: unknown): Promise<void> {
    this.data.set(key, JSON.parse(JSON.stringify(value)));
  }
}

function setup(backend: ModelBackend | undefined, opts: { windows?: ChipWindow[]; turns?: Turn[]; memento?: FakeMemento; debounceMs?: number; thinking?: boolean } = {}) {
  const posts: HostMessage[] = [];
  const memento = opts.memento ?? new FakeMemento();
  const history = new ChatHistory(memento, undefined, { debounceMs: opts.debounceMs ?? 5 });
  let n = 0;
  const session = new ChatSession({
    backend: async () => backend,
    settings: () => ({ chatMaxTokens: 512, chatThinking: opts.thinking ?? false }),
    post: (m) => posts.push(m),
    context: async () => opts.windows ?? [],
    history,
    turns: opts.turns,
    newId: () => `id${n++}`,
  });
  return { session, posts, memento, history };
}

const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
  assert.ok(cond(), 'condition not reached in time');
};

describe('chat session', () => {
  it('switchyard.chat.thinking asks the backend for thinking; off, the request does not mention it', async () => {
    const on = new FakeBackend([d('ok')]);
    await setup(on, { thinking: true }).session.send('why?');
    assert.equal(on.calls[0]!.thinking, true);
    const off = new FakeBackend([d('ok')]);
    await setup(off).session.send('why?');
    assert.equal('thinking' in off.calls[0]!, false);
  });

  it('streams deltas to the view in order, content and reasoning apart, and finishes with stats', async () => {
    const b = new FakeBackend([d(undefined, 'think '), d(undefined, 'more'), d('Hello'), d(', '), d('world')]);
    const { session, posts, history } = setup(b);
    assert.equal(await session.send('  Say hi  '), true);
    assert.deepEqual(
      posts.map((p) => p.type),
      ['turn', 'turn', 'delta', 'delta', 'delta', 'delta', 'delta', 'done'],
    );
    assert.deepEqual(posts[0], { type: 'turn', turn: { id: 'id0', role: 'user', content: 'Say hi' } });
    assert.deepEqual(posts[1], { type: 'turn', turn: { id: 'id1', role: 'assistant', content: '', streaming: true } });
    const deltas = posts.filter((p): p is Extract<HostMessage, { type: 'delta' }> => p.type === 'delta');
    assert.deepEqual(deltas, [
      { type: 'delta', id: 'id1', reasoning: 'think ' },
      { type: 'delta', id: 'id1', reasoning: 'more' },
      { type: 'delta', id: 'id1', content: 'Hello' },
      { type: 'delta', id: 'id1', content: ', ' },
      { type: 'delta', id: 'id1', content: 'world' },
    ]);
    const done = posts.at(-1) as Extract<HostMessage, { type: 'done' }>;
    assert.equal(done.busy, false);
    assert.deepEqual(done.turn, { id: 'id1', role: 'assistant', content: 'Hello, world', reasoning: 'think more', streaming: false, finishReason: 'stop', stats: '42 tokens · 12.3 tok/s' });
    assert.equal(session.busy, false);
    assert.deepEqual(session.turns.map((t) => t.content), ['Say hi', 'Hello, world']);
    // The request: system prompt, the message; the chat defaults and the configured answer limit.
    assert.deepEqual(b.calls[0]!.messages, [
      { role: 'system', content: SYSTEM_PROMPT },
      { role: 'user', content: 'Say hi' },
    ]);
    assert.equal(b.calls[0]!.temperature, 0.2);
    assert.equal(b.calls[0]!.maxTokens, 512);
    await history.flush();
  });

  it('Stop ends the answer as cancelled and keeps the partial text (engine resolves, or a client rejects)', async () => {
    for (const abortMode of ['resolve', 'reject'] as const) {
      const b = new FakeBackend([d('par'), d('tial'), { wait: 50 }, d(' never shown')]);
      b.abortMode = abortMode;
      const { session, posts } = setup(b);
      const sent = session.send('go');
      await until(() => posts.filter((p) => p.type === 'delta').length === 2);
      assert.equal(session.busy, true);
      session.stop();
      await sent;
      const done = posts.at(-1) as Extract<HostMessage, { type: 'done' }>;
      assert.equal(done.type, 'done');
      assert.equal(done.turn.finishReason, 'cancelled', abortMode);
      assert.equal(done.turn.content, 'partial');
      assert.equal(done.turn.error, undefined);
      assert.equal(done.busy, false);
    }
  });

  it('shows errors on the turn: BackendError as is, others said to be a failed request, no backend explained', async () => {
    const b = new FakeBackend([d('a'), d('b')]);
    b.fail = new BackendError('The endpoint http://h:8000/v1 did not answer within 60 s.', 'timeout');
    const s1 = setup(b);
    await s1.session.send('q');
    const t1 = (s1.posts.at(-1) as Extract<HostMessage, { type: 'done' }>).turn;
    assert.equal(t1.error, 'The endpoint http://h:8000/v1 did not answer within 60 s.');
    assert.equal(t1.content, 'a', 'the partial answer is kept');
    assert.equal(s1.session.busy, false);

    const s2 = setup(undefined);
    await s2.session.send('q');
    assert.match((s2.posts.at(-1) as Extract<HostMessage, { type: 'done' }>).turn.error!, /No model is ready/);

    assert.equal(errorText(new Error('socket hang up')), 'The request failed: socket hang up');
    assert.match(errorText(new Error('Connection got disposed.')), /engine stopped while answering/);
    assert.equal(errorText(Object.assign(new Error('prompt of 9000 tokens does not fit the context (8192)'), { code: -32002 })), 'prompt of 9000 tokens does not fit the context (8192)');
  });

  it('one generation at a time: a send while busy is refused with a notice', async () => {
    const b = new FakeBackend([d('x'), { wait: 30 }, d('y')]);
    const { session, posts } = setup(b);
    const first = session.send('one');
    assert.equal(await session.send('two'), false);
    assert.equal(posts.filter((p) => p.type === 'notice').length, 1);
    await first;
    assert.deepEqual(session.turns.map((t) => t.content), ['one', 'xy']);
    assert.equal(b.calls.length, 1);
    assert.equal(await session.send('   '), false, 'empty messages are not sent');
  });

  it('New Chat stops a running answer, clears the turns and the stored history', async () => {
    const memento = new FakeMemento();
    const b = new FakeBackend([d('x'), { wait: 40 }, d('y')]);
    const { session, posts, history } = setup(b, { memento, turns: [{ id: 'old', role: 'user', content: 'old question' }] });
    const sent = session.send('q');
    await until(() => posts.some((p) => p.type === 'delta'));
    session.newChat();
    assert.equal(session.busy, false);
    assert.deepEqual(session.turns, []);
    const n = posts.length;
    await sent;
    assert.equal(posts.length, n, 'the stopped answer posts nothing into the new chat');
    await history.flush();
    assert.deepEqual(new ChatHistory(memento).load(), []);
  });

  it('a reload mid-answer finds the user turn and the partial answer in the history', async () => {
    const memento = new FakeMemento();
    const b = new FakeBackend([d('first '), d('part'), { wait: 200 }, d(' rest')]);
    const { session, posts } = setup(b, { memento, debounceMs: 10 });
    const sent = session.send('question');
    await until(() => posts.filter((p) => p.type === 'delta').length === 2);
    await new Promise((r) => setTimeout(r, 40));
    const restored = new ChatHistory(memento).load();
    assert.deepEqual(
      restored.map((t) => [t.role, t.content, t.finishReason]),
      [
        ['user', 'question', undefined],
        ['assistant', 'first part', 'cancelled'],
      ],
    );
    await sent;
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(new ChatHistory(memento).load()[1]!.content, 'first part rest');
  });

  it('earlier turns are trimmed to the context budget, newest kept, roles alternating', async () => {
    const turns: Turn[] = [];
    for (let i = 0; i < 40; i++) {
      turns.push({ id: `u${i}`, role: 'user', content: `question ${i} ${'q'.repeat(200)}` });
      // An answer that failed without text leaves its question out (roles must alternate).
      turns.push({ id: `a${i}`, role: 'assistant', content: i === 38 ? '' : `answer ${i} ${'a'.repeat(200)}`, ...(i === 38 ? { error: 'x' } : {}) });
    }
    const contextLength = 2048;
    const b = new FakeBackend([d('ok')], contextLength);
    const { session } = setup(b, { turns });
    await session.send('latest');
    const msgs = b.calls[0]!.messages;
    assert.equal(msgs[0]!.role, 'system');
    assert.deepEqual(msgs.at(-1), { role: 'user', content: 'latest' });
    for (let i = 1; i < msgs.length; i++) assert.equal(msgs[i]!.role, i % 2 === 1 ? 'user' : 'assistant');
    const kept = msgs.slice(1, -1).filter((m) => m.role === 'user').map((m) => Number(m.content.split(' ')[1]));
    assert.ok(kept.length >= 2 && kept.length < 39, `${kept.length} pairs kept`);
    assert.equal(kept.at(-1), 39, 'the newest pair is kept');
    assert.ok(!kept.includes(38), 'the unanswered question is left out');
    assert.deepEqual(kept, [...kept].sort((x, y) => x - y), 'in order');
    // Within the context minus the answer's reserve (chatMaxTokens 512).
    const tokens = msgs.reduce((a, m) => a + Math.ceil(m.content.length / 4) + 8, 0);
    assert.ok(tokens <= contextLength - 512, `${tokens} tokens`);
    assert.ok(tokens + 110 > contextLength - 512, 'and fills it (one more pair would not fit)');
    assert.ok(b.calls[0]!.maxTokens! <= 512);
  });

  it('buildPrompt refuses a message that leaves no room for an answer', async () => {
    const count = async (t: string) => Math.ceil(t.length / 4);
    await assert.rejects(buildPrompt({ system: 's', history: [], user: 'x'.repeat(8000), contextLength: 1024, chatMaxTokens: 256, count }), /do not fit the model's context of 1024 tokens/);
    const p = await buildPrompt({ system: 's', history: [], user: 'x'.repeat(3200), contextLength: 1024, chatMaxTokens: 256, count });
    assert.equal(p.maxTokens, 1024 - p.tokens, 'a long message shortens the answer limit');
    assert.deepEqual(historyPairs([{ id: '1', role: 'assistant', content: 'orphan' }]), []);
  });

  it('the prompt carries the context chips as fenced code with their paths; the user turn lists their labels', async () => {
    const sources: ChipSource[] = [
      { id: 'selection', kind: 'selection', label: 'main.py:2-3', path: 'src/main.py', languageId: 'python', text: 'def f():\n    return 1\n', firstLine: 2, totalLines: 9 },
      { id: 'mention:u', kind: 'mention', label: 'util/io.py', path: 'util/io.py', languageId: 'python', text: 'def read(p):\n    return open(p).read()\n' },
    ];
    const { windows } = allocateChips(sources, 1000, (t) => Math.ceil(t.length / 4));
    const b = new FakeBackend([d('ok')]);
    const { session, posts } = setup(b, { windows });
    await session.send('Explain f');
    const user = b.calls[0]!.messages.at(-1)!;
    assert.equal(user.role, 'user');
    assert.ok(user.content.includes('`util/io.py`:\n```python\ndef read(p):\n    return open(p).read()\n```'), user.content);
    assert.ok(user.content.includes('Selected code from `src/main.py` (lines 2-3):\n```python\ndef f():\n    return 1\n```'), user.content);
    assert.ok(user.content.endsWith('Explain f'));
    assert.deepEqual((posts[0] as Extract<HostMessage, { type: 'turn' }>).turn, { id: 'id0', role: 'user', content: 'Explain f', context: ['main.py:2-3', 'util/io.py'] });
    assert.equal(session.turns[0]!.content, 'Explain f', 'the history keeps what the user typed, not the code');
  });

  it('stats: tokens and the decode rate', () => {
    assert.equal(formatStats({ completionTokens: 42, decodeMs: 3415 }), '42 tokens · 12.3 tok/s');
    assert.equal(formatStats({ completionTokens: 1, decodeMs: 0 }), '1 token');
    assert.equal(formatStats({ completionTokens: 10, decodeMs: 0 }, 500), '10 tokens · 20.0 tok/s', 'the wall clock when the backend has no timing');
  });
});
