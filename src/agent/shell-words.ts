// Splits a calc's `parameters` text into arguments by the POSIX shell's quoting rules, and
// does nothing else: no variable, command, arithmetic, tilde or path expansion, no
// operators, no comments. `; touch /tmp/x $(id)` becomes the four literal arguments
// `;`, `touch`, `/tmp/x`, `$(id)`. This matches Python's `shlex.split(s)` (posix mode,
// comments off), which is what a deployed command line would have been written against.
//
// Rules (POSIX XCU 2.2):
// - unquoted: space, tab and newline separate words; `\x` is a literal x; `\<newline>` is removed;
// - '...': everything literal up to the next ';
// - "...": literal, except `\` before one of $ ` " \ <newline> escapes it (`\<newline>` is removed);
//   before any other character the backslash stays;
// - '' and "" make an empty argument.

export class ShellWordsError extends Error {
  override readonly name = 'ShellWordsError';
}

const BLANK = new Set([' ', '\t', '\n']);
const DQ_ESCAPABLE = new Set(['$', '`', '"', '\\', '\n']);

export function splitShellWords(text: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const ch = text[i] as string;
    if (BLANK.has(ch)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
      i++;
    } else if (ch === '\\') {
      if (i + 1 >= n) throw new ShellWordsError('parameters end with a backslash that escapes nothing');
      const next = text[i + 1] as string;
      if (next !== '\n') {
        cur += next;
        inWord = true;
      }
      i += 2;
    } else if (ch === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new ShellWordsError(`parameters have a single quote without its closing quote (at character ${i + 1})`);
      cur += text.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (ch === '"') {
      const start = i;
      i++;
      inWord = true;
      for (;;) {
        if (i >= n) throw new ShellWordsError(`parameters have a double quote without its closing quote (at character ${start + 1})`);
        const c = text[i] as string;
        if (c === '"') {
          i++;
          break;
        }
        if (c === '\\' && i + 1 < n && DQ_ESCAPABLE.has(text[i + 1] as string)) {
          if (text[i + 1] !== '\n') cur += text[i + 1];
          i += 2;
        } else {
          cur += c;
          i++;
        }
      }
    } else {
      cur += ch;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** One argument quoted so that splitShellWords() gives it back unchanged (for display and tests). */
export function quoteShellWord(word: string): string {
  if (word === '') return "''";
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Arguments joined into one text that splitShellWords() splits back into them. */
export function joinShellWords(words: readonly string[]): string {
  return words.map(quoteShellWord).join(' ');
}
