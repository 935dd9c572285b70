import assert from 'node:assert/strict';
import { ResponseError } from 'vscode-jsonrpc';

/** The JSON-RPC error a request fails with (fails the test when it succeeds or fails otherwise). */
export async function rpcError(p: Promise<unknown>): Promise<ResponseError<unknown>> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ResponseError, `expected a JSON-RPC error, got ${String(e)}`);
    return e;
  }
  assert.fail('expected the request to fail');
}
