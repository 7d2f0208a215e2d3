import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SshUsageError } from '../../src/ssh/errors.ts';
import { backoffDelayMs } from '../../src/ssh/reconnect.ts';
import { compileSshOptions, type SshFlags } from '../../src/ssh/ssh-options.ts';

const compile = (words: string[], flags: SshFlags = {}, env: Record<string, string> = {}) =>
  compileSshOptions({ words, flags, env, cwd: '/work/calc' });

test('HOST FILE... with the deployed defaults', () => {
  const o = compile(['mint-ext', 'a.dat', 'sub/b.dat']);
  assert.equal(o.host, 'mint-ext');
  assert.deepEqual(o.inputs, ['/work/calc/a.dat', '/work/calc/sub/b.dat']);
  assert.equal(o.program, '~/misrc_remote_workflow/scripts/execute_remote-side_program_ssh.sh');
  assert.equal(o.base, '/tmp');
  assert.equal(o.removeWorkdir, 'never');
  assert.equal(o.port, undefined);
  assert.equal(o.destination, '/work/calc');
});

test("the Python variant's words", () => {
  const o = compile(['client_name:user@host', 'client_cmd:~/bin/run.sh', 'client_files:a,b,c:d']);
  assert.equal(o.host, 'user@host');
  assert.equal(o.program, '~/bin/run.sh');
  assert.deepEqual(o.inputs, ['/work/calc/a', '/work/calc/b', '/work/calc/c:d']);
});

test('flags: remote dir, base, port, ssh config from the environment, removal', () => {
  const o = compile(['h'], { remoteDir: '/opt/mint/', base: '/scratch/', port: '2222', removeWorkdir: true }, { DISTCOMP_SSH_CONFIG: 'cfg' });
  assert.equal(o.program, '/opt/mint/execute_remote-side_program_ssh.sh');
  assert.equal(o.base, '/scratch');
  assert.equal(o.port, 2222);
  assert.equal(o.sshConfigFile, '/work/calc/cfg');
  assert.equal(o.removeWorkdir, 'success');
  assert.equal(compile(['h'], { alwaysRemoveWorkdir: true }).removeWorkdir, 'always');
});

test('usage errors', () => {
  assert.throws(() => compile([]), SshUsageError);
  assert.throws(() => compile(['-oProxyCommand=x']), SshUsageError);
  assert.throws(() => compile(['h'], { base: 'tmp' }), SshUsageError);
  assert.throws(() => compile(['h'], { base: '/tmp/../etc' }), SshUsageError);
  assert.throws(() => compile(['h'], { port: '70000' }), SshUsageError);
  assert.throws(() => compile(['h'], { attach: 'not-a-uuid' }), SshUsageError);
  assert.throws(() => compile(['h', 'f'], { attach: '0123abcd-0000-4000-8000-00000000beef' }), SshUsageError);
  assert.throws(() => compile(['client_name:h', 'client_cmd:a'], { program: 'b' }), SshUsageError);
});

test('backoff doubles up to the ceiling, with jitter inside [half, full]', () => {
  assert.equal(backoffDelayMs(0, 1000, 30000, () => 0), 500);
  assert.equal(backoffDelayMs(0, 1000, 30000, () => 1), 1000);
  assert.equal(backoffDelayMs(3, 1000, 30000, () => 1), 8000);
  assert.equal(backoffDelayMs(10, 1000, 30000, () => 1), 30000);
  assert.equal(backoffDelayMs(10, 1000, 30000, () => 0), 15000);
});
