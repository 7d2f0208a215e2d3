// The commander-free parser of `distcomp ssh` command lines must read every line it takes
// exactly as commander does, and leave every other line to commander.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSshArgv, type SshCliFlags } from '../../src/cli/ssh-argv.ts';
import { sshCommand } from '../../src/cli/ssh-command.ts';

async function byCommander(args: string[]): Promise<{ words: string[]; flags: SshCliFlags }> {
  let got: { words: string[]; flags: SshCliFlags } | undefined;
  const command = sshCommand(async (words, flags) => {
    got = { words, flags: { ...flags } };
  });
  await command.parseAsync(args, { from: 'user' });
  assert.ok(got);
  return got;
}

test('ordinary command lines: the same words and flags as commander', async () => {
  const lines = [
    ['mint-ext', 'a.dat', 'b.dat'],
    ['-F', '/cfg file', '--base', '/scratch', '--program', 'true', 'h', 'input.dat'],
    ['--port=2222', '-v', '--remove-workdir', 'user@host', 'x'],
    ['-p', '22', '--persist', '60', '--reconnect-delay', '0.2', '--alive-count', '3', 'h'],
    ['client_name:h', 'client_cmd:~/run.sh', 'client_files:a,b', '--always-remove-workdir'],
    ['--attach', '0123abcd-0000-4000-8000-00000000beef', 'h'],
    ['h', '--', '-dash', '--port', 'with space'],
    ['--keep-workdir', 'h', 'f', '--verbose'],
    [],
  ];
  for (const line of lines) {
    const fast = parseSshArgv(line);
    assert.ok(fast, `taken: ${JSON.stringify(line)}`);
    assert.deepEqual(fast, await byCommander(line), JSON.stringify(line));
  }
});

test('help, unknown options, grouped or attached short options, option-like values: left to commander', () => {
  for (const line of [
    ['--help'],
    ['-h'],
    ['-V'],
    ['--nope', 'h'],
    ['-x', 'h'],
    ['-vp', '22', 'h'],
    ['-p22', 'h'],
    ['-p=22', 'h'],
    ['--program', '-x', 'h'],
    ['--remove-workdir=yes', 'h'],
    ['--port'],
    ['h', '-dash-file'],
    ['h', '-'],
  ]) {
    assert.equal(parseSshArgv(line), undefined, JSON.stringify(line));
  }
});
