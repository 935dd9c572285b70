/**
 * Maps the bare `vscode` import to a test's stand-in module (the real API exists only inside VS Code;
 * the end-to-end tests use the real one). Call it before dynamically importing the module under test.
 */
import { register } from 'node:module';

export function mapVscodeTo(url: string): void {
  register(
    `data:text/javascript,${encodeURIComponent(
      `export async function resolve(s, c, next) { return s === 'vscode' ? { url: ${JSON.stringify(url)}, shortCircuit: true } : next(s, c); }`,
    )}`,
    import.meta.url,
  );
}
