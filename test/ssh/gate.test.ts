// The authorized_keys gate (templates/ssh/distcomp-ssh-gate.sh as `command="...",restrict`):
// distcomp ssh works through it; anything else is refused and logged on the remote side.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ALIAS, SshdFixture, sshSkipReason } from '../helpers/sshd.ts';
import { agentWords } from '../../src/ssh/remote-agent.ts';
import { remoteCommandLine } from '../../src/ssh/remote-command.ts';
import { baseArgs, distcompSsh, exists, localDir, removeLocalDirs, writeProgram, workdirs } from './cli-helpers.ts';

const skip = sshSkipReason();

describe('the authorized_keys gate', { skip }, () => {
  let sshd: SshdFixture;
  let base: string;
  let program: string;

  before(async () => {
    sshd = await SshdFixture.start({ proxy: false });
    // A base with a space: rsync escapes it with a backslash, the gate must unescape it.
    base = sshd.makeRemoteDir('gated base');
    program = writeProgram(sshd, 'gated-prog.sh', 'cat in.txt > out.txt; echo gated >> out.txt');
    sshd.authorize({ base, program });
  });
  after(async () => {
    await sshd.stop();
    removeLocalDirs();
  });

  const ssh = (...remote: string[]) =>
    spawnSync('ssh', ['-F', sshd.configFile, '-o', 'BatchMode=yes', '-T', ALIAS, ...remote], { encoding: 'utf8', input: '' });
  const gateLog = (): string => readFileSync(sshd.gateLog, 'utf8');

  test('distcomp ssh runs through the gate', async () => {
    const cwd = localDir();
    writeFileSync(join(cwd, 'in.txt'), 'through the gate\n');
    const r = await distcompSsh([...baseArgs(sshd, base), '--program', program, '--remove-workdir', ALIAS, 'in.txt'], { cwd });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(cwd, 'out.txt'), 'utf8'), 'through the gate\ngated\n');
    assert.deepEqual(workdirs(base), []);
    assert.equal(gateLog(), '', 'nothing was refused');
  });

  test('a foreign command is refused (exit 126) and logged', () => {
    for (const command of ['cat /etc/passwd', 'id; echo hi', "sh -c 'id'", 'rsync --server --sender -lDtpre.iLsfxCIvu . /etc/']) {
      const r = ssh(command);
      assert.equal(r.status, 126, `${command}: ${r.stderr}`);
      assert.match(r.stderr, /distcomp-ssh: refused:/);
      assert.doesNotMatch(r.stdout, /root:|uid=/);
    }
    const log = gateLog();
    assert.match(log, /refused: not a distcomp ssh command; .*command=cat \/etc\/passwd/);
    assert.match(log, /refused: character not allowed outside quotes; .*command=id; echo hi/);
    assert.match(log, /refused: .*command=rsync --server --sender/);
  });

  test('an interactive login is refused', () => {
    const r = ssh();
    assert.equal(r.status, 126, r.stderr);
    assert.match(gateLog(), /refused: no command \(interactive login\)/);
  });

  test('rsync into a directory outside the base is refused', () => {
    const cwd = localDir();
    writeFileSync(join(cwd, 'x'), 'x');
    const outside = sshd.makeRemoteDir('outside');
    const r = spawnSync('rsync', ['-e', `ssh -F ${sshd.configFile}`, join(cwd, 'x'), `${ALIAS}:${outside}/`], { encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /distcomp-ssh: refused:/);
    assert.equal(exists(join(outside, 'x')), false);
  });

  test('another program, or another base, is refused: exit 254 from distcomp ssh', async () => {
    const cwd = localDir();
    writeFileSync(join(cwd, 'in.txt'), 'x');
    const r1 = await distcompSsh([...baseArgs(sshd, base), '--program', '/bin/sh', ALIAS, 'in.txt'], { cwd });
    assert.equal(r1.code, 254, r1.stderr);
    assert.match(r1.stderr, /SSH_REFUSED.*program is not the gate's program/);
    const other = sshd.makeRemoteDir('other-base');
    const r2 = await distcompSsh([...baseArgs(sshd, other), '--program', program, ALIAS, 'in.txt'], { cwd });
    assert.equal(r2.code, 254, r2.stderr);
    assert.match(r2.stderr, /SSH_REFUSED/);
    assert.deepEqual(workdirs(other), []);
  });

  test('the gate runs its own copy of a verb, never the script a client sends', () => {
    const uuid = '0123abcd-0000-4000-8000-00000000beef';
    mkdirSync(join(base, uuid));
    const planted = join(sshd.dir, 'PLANTED');
    const words = agentWords('status', base, uuid);
    words[2] = `touch ${planted}`;
    const r = ssh(remoteCommandLine(words));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^not-started$/m);
    assert.equal(exists(planted), false);
  });
});
