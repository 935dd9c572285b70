/**
 * The demo's random-weight model is recognised by its marker file, and only by it: the views then
 * say what it cannot show (no code blocks, so no refactor diff) and how to get a real checkpoint.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { DEMO_CHAT_NOTE, DEMO_MARKER, DEMO_MARKER_CONTENT, demoRefactorMessage, isDemoModel } from '../../extension/demo-model.ts';

const made: string[] = [];
after(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

const folder = (marker?: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-demo-model-'));
  made.push(dir);
  fs.writeFileSync(path.join(dir, 'config.json'), '{}');
  if (marker !== undefined) fs.writeFileSync(path.join(dir, DEMO_MARKER), marker);
  return dir;
};

describe('demo model', () => {
  it('is the folder with the marker; a plain checkpoint, a broken marker, a missing folder and "" are not', () => {
    assert.equal(isDemoModel(folder(JSON.stringify(DEMO_MARKER_CONTENT))), true);
    assert.equal(isDemoModel(folder()), false);
    assert.equal(isDemoModel(folder('{"randomWeights": "yes"}')), false);
    assert.equal(isDemoModel(folder('not json')), false);
    assert.equal(isDemoModel(path.join(os.tmpdir(), 'sy-no-such-model-folder')), false);
    assert.equal(isDemoModel(''), false);
  });

  it('the messages say what the demo cannot show and how to see it with a real checkpoint', () => {
    for (const m of [DEMO_CHAT_NOTE, demoRefactorMessage('Fix')]) {
      assert.match(m, /random weights/);
      assert.match(m, /code block/);
      assert.match(m, /diff/);
      assert.match(m, /real checkpoint/);
      assert.match(m, /SWITCHYARD_MODEL=/);
      assert.match(m, /Download Model/);
    }
    assert.match(demoRefactorMessage('Rewrite'), /for Rewrite:/);
  });
});
