// Where a string from outside meets a shell. Two shells read what we build:
// - the remote login shell, which sshd gives the command line (`$SHELL -c "<line>"`);
// - rsync's own splitting of its `-e` value (spaces separate words; quotes, no backslashes).
// Every remote command line is made by `remoteCommandLine`, which single-quotes every word,
// so no word is ever expanded, split, or run (spaces, quotes, $(), ;, newlines stay literal).

/** Single-quote one word for a POSIX (or csh-like) shell: `it's` becomes `'it'\''s'`. */
export function quoteWord(word: string): string {
  if (word.includes('\0')) throw new TypeError('a word for the remote shell cannot contain a NUL byte');
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** One remote command line from words, each single-quoted. */
export function remoteCommandLine(words: readonly string[]): string {
  return words.map(quoteWord).join(' ');
}

const RSYNC_PLAIN = /^[A-Za-z0-9_./=:%@,+-]+$/;

/**
 * One word of rsync's `-e` value. rsync splits that value on spaces and honours single and
 * double quotes (not backslashes), so a word with both kinds of quote cannot be expressed.
 */
export function rsyncShellWord(word: string): string {
  if (RSYNC_PLAIN.test(word)) return word;
  if (!word.includes("'")) return `'${word}'`;
  if (!word.includes('"')) return `"${word}"`;
  throw new TypeError(`cannot pass ${JSON.stringify(word)} through rsync -e: it holds both kinds of quote`);
}
