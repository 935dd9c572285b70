/**
 * Where Generate Tests puts its tests: a file next to the source, named by the language's
 * convention (test_x.py, x.test.ts, x_test.go, XTest.java, ...). No 'vscode' import: works on
 * URI paths (always '/'-separated).
 */
import * as path from 'node:path';

const JS_LIKE = new Set(['javascript', 'typescript', 'javascriptreact', 'typescriptreact']);

/** The test file's name for a source file `fileName` ("x.py") in `languageId`. */
export function testFileName(fileName: string, languageId: string): string {
  const ext = path.posix.extname(fileName);
  const stem = ext ? fileName.slice(0, -ext.length) : fileName;
  const Stem = stem.charAt(0).toUpperCase() + stem.slice(1);
  if (JS_LIKE.has(languageId)) return `${stem}.test${ext || '.js'}`;
  switch (languageId) {
    case 'python':
      return `test_${stem}${ext || '.py'}`;
    case 'go':
      return `${stem}_test${ext || '.go'}`;
    case 'java':
      return `${Stem}Test${ext || '.java'}`;
    case 'kotlin':
      return `${Stem}Test${ext || '.kt'}`;
    case 'csharp':
      return `${Stem}Tests${ext || '.cs'}`;
    case 'php':
      return `${Stem}Test${ext || '.php'}`;
    case 'ruby':
      return `${stem}_spec${ext || '.rb'}`;
    case 'c':
      return `test_${stem}${ext || '.c'}`;
    default:
      // Rust, C++ and the rest: x_test.ext beside the source.
      return `${stem}_test${ext}`;
  }
}

/** The test file's path (same folder) for the source at `sourcePath` ('/'-separated, e.g. a URI's path). */
export function testFilePath(sourcePath: string, languageId: string): string {
  return path.posix.join(path.posix.dirname(sourcePath), testFileName(path.posix.basename(sourcePath), languageId));
}
