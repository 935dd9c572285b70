/**
 * JSON-RPC 2.0 over a pair of streams (the engine child's stdin/stdout), framed with
 * Content-Length headers by vscode-jsonrpc. Maps protocol.ts onto Engine and engine errors onto
 * JSON-RPC errors; a bad message gets an error reply and the engine keeps serving.
 */
import {
  createMessageConnection,
  ResponseError,
  StreamMessageReader,
  StreamMessageWriter,
  ErrorCodes as RpcErrorCodes,
  type CancellationToken,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import { isEngineInputError } from '../errors.ts';
import {
  Chat,
  ChatDelta,
  Complete,
  CountTokens,
  ErrorCodes,
  Initialize,
  InspectModel,
  LoadModel,
  Log,
  Progress,
  PROTOCOL_VERSION,
  Shutdown,
  Status,
} from '../protocol/protocol.ts';
import { inspectModel } from '../models/inspect.ts';
import { Engine, ENGINE_VERSION, LoadError, NoModelError } from './engine.ts';
import { PromptTooLongError } from './generate.ts';
import { ParamError, checkInitialize } from './validate.ts';

function abortOn(token: CancellationToken): AbortSignal {
  const ac = new AbortController();
  if (token.isCancellationRequested) ac.abort();
  else token.onCancellationRequested(() => ac.abort());
  return ac.signal;
}

/** Errors the user's input caused (bad parameters, a missing or bad model folder, a long prompt), not bugs. */
function isUserError(e: unknown): boolean {
  return e instanceof ParamError || e instanceof NoModelError || e instanceof PromptTooLongError || e instanceof LoadError || isEngineInputError(e);
}

/** Engine errors -> JSON-RPC errors with a clear one-line message. */
export function toResponseError(e: unknown): ResponseError<unknown> {
  if (e instanceof ResponseError) return e;
  if (e instanceof ParamError) return new ResponseError(RpcErrorCodes.InvalidParams, e.message);
  if (e instanceof NoModelError) return new ResponseError(ErrorCodes.NoModel, e.message);
  if (e instanceof PromptTooLongError) return new ResponseError(ErrorCodes.PromptTooLong, e.message, { promptTokens: e.promptTokens, contextLength: e.contextLength });
  if (e instanceof LoadError || isEngineInputError(e)) return new ResponseError(ErrorCodes.LoadFailed, (e as Error).message);
  return new ResponseError(RpcErrorCodes.InternalError, String((e as Error)?.message ?? e).split('\n')[0]!);
}

export function serveEngine(input: NodeJS.ReadableStream, output: NodeJS.WritableStream, opts: { onExit?: () => void } = {}): MessageConnection {
  const writer = new StreamMessageWriter(output);
  const conn = createMessageConnection(new StreamMessageReader(input), writer);
  const log = (level: 'info' | 'warn' | 'error', message: string) => void conn.sendNotification(Log, { level, message }).catch(() => {});
  const engine = new Engine(log);
  const guard =
    <P, R>(fn: (p: P, token: CancellationToken) => Promise<R> | R) =>
    async (p: P, token: CancellationToken): Promise<R | ResponseError<unknown>> => {
      try {
        return await fn(p, token);
      } catch (e) {
        // The reply carries a user error's one-line message (the host logs it); only a bug's stack is logged here.
        if (!isUserError(e)) log('error', String((e as Error)?.stack ?? e));
        return toResponseError(e);
      }
    };

  conn.onRequest(
    Initialize,
    guard((p) => {
      checkInitialize(p);
      return { engineVersion: ENGINE_VERSION, protocolVersion: PROTOCOL_VERSION, pid: process.pid };
    }),
  );
  conn.onRequest(
    LoadModel,
    guard((p) => {
      return engine.loadModel(p, (e) => {
        if (p.progressId) void conn.sendNotification(Progress, { progressId: p.progressId, ...e });
      });
    }),
  );
  // Fit check: no model is loaded and the loaded one (if any) is untouched.
  conn.onRequest(
    InspectModel,
    guard((p) => inspectModel(p)),
  );
  conn.onRequest(
    Complete,
    guard((p, token) => {
      return engine.complete(p, abortOn(token));
    }),
  );
  conn.onRequest(
    Chat,
    guard((p, token) => {
      return engine.chat(p, abortOn(token), (d) => {
        if (p.streamId) void conn.sendNotification(ChatDelta, { streamId: p.streamId, ...d });
      });
    }),
  );
  conn.onRequest(
    CountTokens,
    guard((p) => {
      return { count: engine.countTokens(p.text) };
    }),
  );
  const guard0 =
    <R>(fn: () => Promise<R> | R) =>
    (token: CancellationToken) =>
      guard<undefined, R>(() => fn())(undefined, token);
  conn.onRequest(Status, guard0(() => engine.status()));
  conn.onRequest(
    Shutdown,
    guard0(async () => {
      await engine.shutdown();
      setImmediate(() => {
        conn.dispose();
        opts.onExit?.();
      });
    }),
  );
  // Unknown methods get vscode-jsonrpc's MethodNotFound reply. A frame whose body is not JSON has no
  // id to answer to: JSON-RPC says reply with a Parse error and id null, which vscode-jsonrpc does
  // not do, so we write it ourselves.
  conn.onError(([err]) => {
    log('error', `bad message: ${err.message}`);
    if (/JSON/i.test(err.message)) {
      void writer.write({ jsonrpc: '2.0', id: null, error: { code: RpcErrorCodes.ParseError, message: `Parse error: ${err.message}` } } as never).catch(() => {});
    }
  });
  conn.onClose(() => opts.onExit?.());
  conn.listen();
  return conn;
}
