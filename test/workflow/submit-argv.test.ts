// The commander-free reader of `distcomp submit` command lines must read every line it takes
// exactly as commander does, and leave every other line to commander.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSubmitArgv } from '../../src/cli/submit-argv.ts';
import { submitCommand } from '../../src/cli/submit-command.ts';
import type { SubmitFlags } from '../../src/workflow/submit-options.ts';

const TOKEN = '0123456789abcdef'.repeat(4);

async function byCommander(args: string[]): Promise<{ positionals: string[]; flags: SubmitFlags }> {
  let got: { positionals: string[]; flags: SubmitFlags } | undefined;
  const command = submitCommand(async (positionals, flags) => {
    got = { positionals, flags: { ...flags } };
    return 0;
  });
  await command.parseAsync(args, { from: 'user' });
  assert.ok(got);
  return got;
}

test('ordinary command lines: the same positionals and flags as commander', async () => {
  const lines = [
    ['https://relay.example', 'nims-dev', TOKEN, '/opt/x.sh', 'a.dat:b.dat', 'XX.dat:XX.inp'],
    ['http://127.0.0.1:8082', 'site', '/bin/true', '', '', '--quiet'],
    ['http://h', 'site', '/bin/true', 'a', 'b', 'param with spaces', '-q', '--out', 'results/'],
    ['--url', 'https://r', '--site', 's', '--command', '/c', '--in', 'a.dat', '--in', 'N=b.dat', '--result', 'o1', '--result=o2'],
    ['--url=https://r', '--site=s', '--command=/c', '--parameters', 'x y', '--token-file', '~/t', '--port', '443'],
    ['--wait', '5', '--poll-interval', '0.5', '--retry', '2,1', '--insecure', 'u', 's', 'c', 'i', 'o'],
    ['--ca-file', '/ca.pem', 'u', 's', 'c', 'i', 'o', '--', '-n 4'],
    [],
  ];
  for (const line of lines) {
    const fast = parseSubmitArgv(line);
    assert.ok(fast, `taken: ${JSON.stringify(line)}`);
    assert.deepEqual(fast, await byCommander(line), JSON.stringify(line));
  }
});

test('help, unknown options, option-like values and parameters: left to commander', () => {
  for (const line of [
    ['--help'],
    ['-h'],
    ['-V'],
    ['--nope', 'u'],
    ['-x', 'u'],
    ['-qh'],
    ['--url'],
    ['--url', '-x'],
    ['--quiet=yes', 'u'],
    // the deployed grammar's parameter may start with "-": commander passes it on as a positional
    ['u', 's', 'c', 'i', 'o', '-n 4'],
    ['u', 's', 'c', 'i', 'o', '-'],
  ]) {
    assert.equal(parseSubmitArgv(line), undefined, JSON.stringify(line));
  }
});
