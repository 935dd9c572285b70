import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadTokenizer, type EngineTokenizer } from '../../../engine/tokenizer/tokenizer.ts';
import { renderChat, type ChatMessage } from '../../../engine/prompt/chat.ts';
import { sharedDir } from '../../helpers/paths.ts';

const TOK = path.join(sharedDir(), 'tokenizers');

/** The same tokenizer with another chat template (undefined: none). */
function withTemplate(tok: EngineTokenizer, chatTemplate: string | undefined): EngineTokenizer {
  return new Proxy(tok, {
    get(target, prop) {
      if (prop === 'chatTemplate') return chatTemplate;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

const CONVERSATION: ChatMessage[] = [
  { role: 'system', content: 'You write TypeScript.' },
  { role: 'user', content: 'Add two numbers.' },
  { role: 'assistant', content: 'const add = (a: number, b: number) => a + b;' },
  { role: 'user', content: 'Now in Python.' },
];
const NO_SYSTEM = CONVERSATION.slice(1);

let deepseek: EngineTokenizer;
let qwen: EngineTokenizer;
before(async () => {
  [deepseek, qwen] = await Promise.all([
    loadTokenizer(path.join(TOK, 'deepseek-coder-v1')),
    loadTokenizer(path.join(TOK, 'qwen2.5-coder')),
  ]);
});

describe("DeepSeek-Coder's own template", () => {
  // Read from its tokenizer_config.json: BOS, then the system message as is (no newline after it),
  // '### Instruction:\n{user}\n', '### Response:\n{assistant}\n<|EOT|>\n', and with
  // add_generation_prompt '### Response:' plus the newline that follows that expression.
  const BOS = '<｜begin▁of▁sentence｜>';
  const DEFAULT_SYSTEM =
    'You are an AI programming assistant, utilizing the Deepseek Coder model, developed by Deepseek Company, and you ' +
    'only answer questions related to computer science. For politically sensitive questions, security and privacy ' +
    'issues, and other non-computer science questions, you will refuse to answer\n';
  const TURNS =
    '### Instruction:\nAdd two numbers.\n' +
    '### Response:\nconst add = (a: number, b: number) => a + b;\n<|EOT|>\n' +
    '### Instruction:\nNow in Python.\n';

  test('system + user + assistant + user', () => {
    const r = renderChat(deepseek, CONVERSATION, { addGenerationPrompt: true });
    assert.equal(r.fallback, undefined);
    assert.equal(r.text, `${BOS}You write TypeScript.${TURNS}### Response:\n`);
    assert.deepEqual(r.ids, deepseek.encode(r.text));
    // The template prints BOS: it is there once, as the BOS id, not doubled.
    assert.equal(r.ids[0], 32013);
    assert.equal(r.ids.filter((x) => x === 32013).length, 1);
    // <|EOT|> printed by the template became its id.
    assert.equal(r.ids.filter((x) => x === 32021).length, 1);
  });

  test('without a system message it uses its default one', () => {
    const r = renderChat(deepseek, NO_SYSTEM);
    assert.equal(r.fallback, undefined);
    assert.equal(r.text, `${BOS}${DEFAULT_SYSTEM}${TURNS}### Response:\n`);
  });

  test('without the generation prompt', () => {
    const r = renderChat(deepseek, CONVERSATION, { addGenerationPrompt: false });
    assert.equal(r.text, `${BOS}You write TypeScript.${TURNS}`);
  });
});

describe("Qwen2.5's own template", () => {
  const TURNS =
    '<|im_start|>user\nAdd two numbers.<|im_end|>\n' +
    '<|im_start|>assistant\nconst add = (a: number, b: number) => a + b;<|im_end|>\n' +
    '<|im_start|>user\nNow in Python.<|im_end|>\n';

  test('system + user + assistant + user', () => {
    const r = renderChat(qwen, CONVERSATION, { addGenerationPrompt: true });
    assert.equal(r.fallback, undefined);
    assert.equal(r.text, `<|im_start|>system\nYou write TypeScript.<|im_end|>\n${TURNS}<|im_start|>assistant\n`);
    assert.deepEqual(r.ids, qwen.encode(r.text));
    assert.equal(r.ids[0], 151644, 'no BOS: Qwen has none');
    assert.equal(r.ids.filter((x) => x === 151644).length, 5);
    assert.equal(r.ids.filter((x) => x === 151645).length, 4);
  });

  test("without a system message it uses Qwen's default one", () => {
    const r = renderChat(qwen, NO_SYSTEM);
    assert.equal(r.fallback, undefined);
    assert.equal(
      r.text,
      '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' +
        `${TURNS}<|im_start|>assistant\n`,
    );
  });

  test('without the generation prompt', () => {
    const r = renderChat(qwen, CONVERSATION, { addGenerationPrompt: false });
    assert.equal(r.text, `<|im_start|>system\nYou write TypeScript.<|im_end|>\n${TURNS}`);
  });
});

describe('fallbacks', () => {
  const CHATML =
    '<|im_start|>system\nYou write TypeScript.<|im_end|>\n' +
    '<|im_start|>user\nAdd two numbers.<|im_end|>\n' +
    '<|im_start|>assistant\nconst add = (a: number, b: number) => a + b;<|im_end|>\n' +
    '<|im_start|>user\nNow in Python.<|im_end|>\n' +
    '<|im_start|>assistant\n';

  test('a template with a statement the renderer lacks falls back to ChatML, with the reason', () => {
    // {% with %} is core Jinja (transformers renders it); @huggingface/jinja 0.5 has no such statement.
    const tmpl = "{% for m in messages %}{% with role = m.role %}{{ role + ': ' + m.content }}{% endwith %}{% endfor %}";
    const r = renderChat(withTemplate(qwen, tmpl), CONVERSATION);
    assert.match(r.fallback ?? '', /not supported by the renderer/);
    assert.match(r.fallback ?? '', /with/);
    assert.equal(r.text, CHATML);
    assert.deepEqual(r.ids, qwen.encode(CHATML));
  });

  test('a template that fails while rendering falls back, with its message', () => {
    const tmpl = "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}";
    const r = renderChat(withTemplate(qwen, tmpl), CONVERSATION);
    assert.match(r.fallback ?? '', /failed to render.*roles must alternate/);
    assert.equal(r.text, CHATML);
  });

  test('no template and no ChatML tokens: the instruction format, BOS once', () => {
    const r = renderChat(withTemplate(deepseek, undefined), CONVERSATION);
    assert.equal(r.fallback, 'the tokenizer has no chat_template');
    assert.equal(
      r.text,
      '<｜begin▁of▁sentence｜>You write TypeScript.\n\n' +
        '### Instruction:\nAdd two numbers.\n' +
        '### Response:\nconst add = (a: number, b: number) => a + b;\n<|EOT|>\n' +
        '### Instruction:\nNow in Python.\n' +
        '### Response:\n',
    );
    assert.deepEqual(r.ids, deepseek.encode(r.text));
    assert.equal(r.ids.filter((x) => x === 32013).length, 1);
  });
});

test('BOS is added once when the tokenizer adds BOS and the template does not print it', () => {
  const r = renderChat(withTemplate(deepseek, '{% for m in messages %}{{ m.content }}\n{% endfor %}'), NO_SYSTEM);
  assert.equal(r.fallback, undefined);
  assert.equal(r.text, 'Add two numbers.\nconst add = (a: number, b: number) => a + b;\nNow in Python.\n');
  assert.deepEqual(r.ids, [32013, ...deepseek.encode(r.text)]);
});
