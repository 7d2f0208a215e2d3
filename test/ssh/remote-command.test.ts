// The one quoting function, checked against a real POSIX shell: whatever the word, the shell
// hands it over unchanged and runs nothing.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import fc from 'fast-check';
import { quoteWord, remoteCommandLine, rsyncShellWord } from '../../src/ssh/remote-command.ts';

// sh -c 'printf "%s\0" WORDS...' prints each word followed by NUL, exactly as sh received it.
function throughShell(words: string[]): string[] {
  const r = spawnSync('/bin/sh', ['-c', `printf '%s\\0' ${remoteCommandLine(words)}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split('\0').slice(0, -1);
}

test('hand-picked hostile words stay literal', () => {
  const words = ["it's", '$(touch /tmp/PWNED-q)', '`id`', 'a;b', 'a\nb', '"', "'", "''", '\\', '*', '~', '$HOME', '-n', ' lead', 'trail ', '', '!x', '|&<>'];
  assert.deepEqual(throughShell(words), words);
});

test('any string without NUL survives the remote shell (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.string({ unit: 'binary', minLength: 0, maxLength: 12 }).filter((s) => !s.includes('\0')), { minLength: 1, maxLength: 4 }), (words) => {
      assert.deepEqual(throughShell(words), words);
    }),
    { numRuns: 150 },
  );
});

test('a NUL byte cannot be quoted and is rejected', () => {
  assert.throws(() => quoteWord('a\0b'), TypeError);
});

test('rsync -e words: plain words pass, spaces get quotes, both quote kinds are refused', () => {
  assert.equal(rsyncShellWord('ControlPath=/tmp/distcomp-ssh-x/m'), 'ControlPath=/tmp/distcomp-ssh-x/m');
  assert.equal(rsyncShellWord('/my config'), "'/my config'");
  assert.equal(rsyncShellWord("/it's"), `"/it's"`);
  assert.throws(() => rsyncShellWord(`/it's "x"`), TypeError);
});
