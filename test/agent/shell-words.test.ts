import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { joinShellWords, quoteShellWord, ShellWordsError, splitShellWords } from '../../src/agent/shell-words.ts';

describe('splitShellWords', () => {
  it('splits on blanks and honours quotes and backslashes (POSIX rules)', () => {
    const cases: [string, string[]][] = [
      ['', []],
      ['   \t\n ', []],
      ['a b  c', ['a', 'b', 'c']],
      [`'a b' "c d" e\\ f`, ['a b', 'c d', 'e f']],
      [`''`, ['']],
      [`"" x`, ['', 'x']],
      [`a'b'"c"d`, ['abcd']],
      [`"a\\"b" "a\\\\b" "a\\$b" "a\\xb"`, ['a"b', 'a\\b', 'a$b', 'a\\xb']],
      [`'a\\b'`, ['a\\b']],
      [`"it's"`, ["it's"]],
      ['a\\\nb', ['ab']],
      ['"a\\\nb"', ['ab']],
      ['--input=in.dat -n 4', ['--input=in.dat', '-n', '4']],
    ];
    for (const [text, words] of cases) assert.deepEqual(splitShellWords(text), words, JSON.stringify(text));
  });

  it('expands nothing: variables, commands, globs, tildes, operators and comments stay literal', () => {
    assert.deepEqual(splitShellWords('; touch /tmp/pwned $(id)'), [';', 'touch', '/tmp/pwned', '$(id)']);
    assert.deepEqual(splitShellWords('$HOME ~ *.txt `id` a&&b a|b >out <in # not a comment'),
      ['$HOME', '~', '*.txt', '`id`', 'a&&b', 'a|b', '>out', '<in', '#', 'not', 'a', 'comment']);
    assert.deepEqual(splitShellWords(`"$(rm -rf /)" '\${x}'`), ['$(rm -rf /)', '${x}']);
  });

  it('refuses unterminated quotes and a trailing backslash with a clear message', () => {
    assert.throws(() => splitShellWords(`a 'b`), (e: unknown) => e instanceof ShellWordsError && /single quote/.test(e.message));
    assert.throws(() => splitShellWords(`a "b`), (e: unknown) => e instanceof ShellWordsError && /double quote/.test(e.message));
    assert.throws(() => splitShellWords('a \\'), (e: unknown) => e instanceof ShellWordsError && /backslash/.test(e.message));
  });

  it('property: quoting any list of arguments and splitting gives the list back', () => {
    fc.assert(fc.property(fc.array(fc.string({ unit: 'binary' }).filter((s) => !s.includes('\0'))), (words) => {
      assert.deepEqual(splitShellWords(joinShellWords(words)), words);
    }), { numRuns: 500 });
  });

  it('property: text without quotes or backslashes splits exactly like a split on blanks', () => {
    const chars = fc.constantFrom(' ', '\t', '\n', 'a', 'b', '$', '(', ')', ';', '|', '&', '*', '~', '#', '`', '>', 'é', '字');
    fc.assert(fc.property(fc.array(chars).map((a) => a.join('')), (text) => {
      assert.deepEqual(splitShellWords(text), text.split(/[ \t\n]+/).filter((w) => w !== ''));
    }), { numRuns: 500 });
  });

  it('property: a single-quoted word is one literal argument whatever it holds', () => {
    fc.assert(fc.property(fc.string().filter((s) => !s.includes("'")), (w) => {
      assert.deepEqual(splitShellWords(`'${w}'`), [w]);
    }));
  });

  it('quoteShellWord leaves plain words alone', () => {
    assert.equal(quoteShellWord('in.dat'), 'in.dat');
    assert.equal(quoteShellWord("it's"), `'it'\\''s'`);
  });
});
