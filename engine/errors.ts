/**
 * Errors caused by the user's input (a checkpoint, a file, a request), as opposed to bugs.
 * The CLI and the protocol print only `message` for these (no stack trace), so the message must
 * name the file or thing at fault and the problem in one line.
 */
export class EngineInputError extends Error {
  override readonly name = 'EngineInputError';
  constructor(
    /** The file (or other input) at fault, e.g. `/models/x/config.json`. */
    readonly file: string,
    /** What is wrong with it, in words a user understands. */
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

export function isEngineInputError(e: unknown): e is EngineInputError {
  return e instanceof EngineInputError;
}
