/**
 * The remote endpoint's health (extension/backend/remote-health.ts) over real HTTP with the real
 * RemoteBackend: a closed port (nothing listens: refused), a node:http server written here that
 * answers GET /models but fails every completion with a 500 (what made completions fail silently),
 * and the same server healthy again. The VS Code side (status bar, chat line) is test/e2e/first-hour.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { BackendError } from '../../../extension/backend/backend.ts';
import { endpointFailure, RemoteHealth, type RemoteHealthState } from '../../../extension/backend/remote-health.ts';
import { RemoteBackend } from '../../../extension/backend/remote.ts';

let server: http.Server;
let url = '';
let failing = true;

before(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/v1/models') return res.end(JSON.stringify({ object: 'list', data: [{ id: 'm', object: 'model' }] }));
      if (failing) {
        res.statusCode = 500;
        return res.end(JSON.stringify({ error: { message: 'CUDA out of memory', type: 'server_error' } }));
      }
      res.end(JSON.stringify({ id: 'c', object: 'text_completion', model: 'm', choices: [{ index: 0, text: 'x', finish_reason: 'stop' }] }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

/** A closed port: one that was just free (listen on 0, close). */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function watched(endpoint: string) {
  const states: RemoteHealthState[] = [];
  const backend = new RemoteBackend({ endpoint, timeoutMs: 5000, contextLength: 4096 });
  const health = new RemoteHealth({ probe: (signal) => backend.probe(signal), onChange: (s) => states.push(s), retryMs: 60_000 });
  return { states, health, backend: health.watch(backend) };
}

const complete = { prefix: 'def f(', suffix: '', maxTokens: 4 };

describe('RemoteHealth', () => {
  test('a closed port: the probe marks the endpoint failing with the refusal, and the settings as the fix', async () => {
    const port = await closedPort();
    const w = watched(`http://127.0.0.1:${port}/v1`);
    await w.health.check();
    const s = w.health.state;
    assert.equal(s.kind, 'failing');
    assert.match((s as unknown as { message: string }).message, new RegExp(`Cannot reach the remote endpoint http://127.0.0.1:${port}/v1: connection refused`));
    assert.equal((s as unknown as { fix: string }).fix, 'settings');
    w.health.dispose();
  });

  test('completions that fail with a 500 mark it failing although GET /models answers; a success clears it', async () => {
    failing = true;
    const w = watched(url);
    await w.health.check();
    assert.equal(w.health.state.kind, 'ok', 'GET /models answers');
    await assert.rejects(w.backend.complete(complete), (e) => e instanceof BackendError && e.status === 500);
    const s = w.health.state;
    assert.equal(s.kind, 'failing');
    assert.match((s as unknown as { message: string }).message, /answered 500.*CUDA out of memory/);
    failing = false;
    assert.equal((await w.backend.complete(complete)).text, 'x');
    assert.equal(w.health.state.kind, 'ok');
    assert.deepEqual(w.states.map((x) => x.kind), ['ok', 'failing', 'ok']);
    w.health.dispose();
  });

  test('a cancelled request or a request the server refuses as bad (400) says nothing about the endpoint', () => {
    assert.equal(endpointFailure(new BackendError('cancelled', 'cancelled')), undefined);
    assert.equal(endpointFailure(new BackendError('prompt too long', 'http', 400)), undefined);
    assert.deepEqual(endpointFailure(new BackendError('refused (401)', 'http', 401)), { message: 'refused (401)', fix: 'apiKey' });
    assert.equal(endpointFailure(new Error('a bug')), undefined);
  });

  test('an answer about an endpoint that was changed meanwhile is ignored', async () => {
    const port = await closedPort();
    const w = watched(`http://127.0.0.1:${port}/v1`);
    const pending = w.health.check();
    w.health.reset(false);
    await pending;
    assert.equal(w.health.state.kind, 'unchecked');
    w.health.dispose();
  });
});
