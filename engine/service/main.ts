/**
 * The engine child process: JSON-RPC on stdin/stdout (see protocol.ts). stdout belongs to the
 * protocol, so anything else that would print there goes to stderr.
 */
import { serveEngine } from './server.ts';

console.log = console.info = console.debug = (...args: unknown[]) => process.stderr.write(`${args.map(String).join(' ')}\n`);
process.on('uncaughtException', (e) => process.stderr.write(`engine: uncaught ${String(e?.stack ?? e)}\n`));
process.on('unhandledRejection', (e) => process.stderr.write(`engine: unhandled ${String((e as Error)?.stack ?? e)}\n`));
serveEngine(process.stdin, process.stdout, { onExit: () => process.exit(0) });
