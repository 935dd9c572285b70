import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { codeForInsert, codeForReplace } from '../../../extension/chat/line-ends.ts';

describe('code block line ends', () => {
  it('insert: a newline only at the start of a line with text after the cursor', () => {
    assert.equal(codeForInsert('def f():\n    pass', { column: 0, restOfLine: 'def main():' }), 'def f():\n    pass\n');
    assert.equal(codeForInsert('x = 1', { column: 0, restOfLine: '   ' }), 'x = 1', 'an empty line needs none');
    assert.equal(codeForInsert('x = 1', { column: 4, restOfLine: 'y' }), 'x = 1', 'mid-line: as is');
    assert.equal(codeForInsert('x = 1\n', { column: 0, restOfLine: 'y' }), 'x = 1\n', 'never doubled');
    assert.equal(codeForInsert('', { column: 0, restOfLine: 'y' }), '');
  });
  it('replace: keeps the replaced text\'s final line end (LF or CRLF)', () => {
    assert.equal(codeForReplace('a\nb', 'x\ny\n'), 'a\nb\n');
    assert.equal(codeForReplace('a\r\nb', 'x\r\ny\r\n'), 'a\r\nb\r\n');
    assert.equal(codeForReplace('a', 'x'), 'a');
    assert.equal(codeForReplace('a\n', 'x\n'), 'a\n');
  });
});
