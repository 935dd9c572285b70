/**
 * A scripted OpenAI-compatible endpoint for the end-to-end tests (a node:http server on 127.0.0.1):
 * `GET /v1/models`, `/v1/completions` (nothing to suggest) and `/v1/chat/completions` (plain or
 * streamed word by word, with a usage chunk), answering what the test scripts. `broken`: the model
 * list answers, every completion and chat request gets a 500 (an endpoint whose model crashed).
 * It stands in for vLLM/SGLang, which cannot run here.
 */
import http from 'node:http';
import type net from 'node:net';
import { sleep } from './harness.ts';

export const SCRIPTED_MODEL = 'scripted-coder';

export interface ScriptedEndpoint {
  url: string;
  requests: { method: string; path: string; body: Record<string, unknown> | undefined }[];
  close(): Promise<void>;
}

export interface ScriptOptions {
  /** The chat answer to a request body, and the pause between its streamed words. */
  answer: (body: Record<string, unknown> | undefined) => { text: string; delayMs: number };
  broken?: boolean;
}

export function startScriptedEndpoint(opts: ScriptOptions): Promise<ScriptedEndpoint> {
  const requests: ScriptedEndpoint['requests'] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      let body: Record<string, unknown> | undefined;
      try {
        body = raw ? (JSON.parse(raw) as Record<string, unknown>) : undefined;
      } catch {
        body = undefined;
      }
      const route = (req.url ?? '').split('?')[0]!;
      requests.push({ method: req.method ?? '', path: route, body });
      const json = (status: number, o: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(o));
      };
      if (req.method === 'GET' && route === '/v1/models') return json(200, { object: 'list', data: [{ id: SCRIPTED_MODEL, object: 'model', owned_by: 'e2e' }] });
      if (opts.broken) return json(500, { error: { message: 'the model worker crashed (e2e)', type: 'server_error' } });
      if (req.method === 'POST' && route === '/v1/completions') {
        // Inline completions while the endpoint is set: nothing to suggest.
        return json(200, { id: 'cmpl-e2e', object: 'text_completion', model: SCRIPTED_MODEL, choices: [{ index: 0, text: '', finish_reason: 'stop' }] });
      }
      if (req.method === 'POST' && route === '/v1/chat/completions') {
        const base = { id: 'chatcmpl-e2e', object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model: SCRIPTED_MODEL };
        const { text, delayMs } = opts.answer(body);
        if (body?.stream !== true) {
          return json(200, { ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }] });
        }
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
        const send = (o: unknown) => res.write(`data: ${typeof o === 'string' ? o : JSON.stringify(o)}\n\n`);
        const parts = text.match(/\s*\S+\s*/g) ?? [text];
        void (async () => {
          send({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] });
          for (const part of parts) {
            if (res.destroyed) return;
            send({ ...base, choices: [{ index: 0, delta: { content: part }, finish_reason: null }] });
            await sleep(delayMs);
          }
          send({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
          send({ ...base, choices: [], usage: { prompt_tokens: 100, completion_tokens: parts.length, total_tokens: 100 + parts.length } });
          send('[DONE]');
          res.end();
        })();
        return;
      }
      json(404, { error: { message: `no route ${req.method} ${route}` } });
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}/v1`,
        requests,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}
