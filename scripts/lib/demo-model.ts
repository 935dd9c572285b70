/**
 * The demo's built-in model (scripts/start.mjs without SWITCHYARD_MODEL): the tests' tiny
 * random-weight DeepSeek-V2 with the real DeepSeek-Coder tokenizer, written into `dir` (the demo
 * folder under the cache folder) and marked as the demo model, so the chat view and the refactor
 * warning can say what it cannot show (extension/demo-model.ts).
 *
 * Run: node --import tsx scripts/lib/demo-model.ts DIR   (prints the folder)
 */
import fs from 'node:fs';
import path from 'node:path';
import { DEMO_MARKER, DEMO_MARKER_CONTENT } from '../../extension/demo-model.ts';
import { tinyModel } from '../../test/helpers/tiny-model.ts';

export function writeDemoModel(dir: string): string {
  tinyModel('deepseek-coder-v1', path.resolve(dir));
  fs.writeFileSync(path.join(dir, DEMO_MARKER), JSON.stringify(DEMO_MARKER_CONTENT, null, 2) + '\n');
  return path.resolve(dir);
}

if (import.meta.filename === path.resolve(process.argv[1] ?? '')) {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node --import tsx scripts/lib/demo-model.ts DIR');
    process.exit(2);
  }
  process.stdout.write(writeDemoModel(dir) + '\n');
}
