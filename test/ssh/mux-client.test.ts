// The control-socket requests we speak ourselves (alive check, terminate), against a real
// OpenSSH master on a real sshd: the answers must match what `ssh -O check` sees.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ALIAS, SshdFixture, sshSkipReason } from '../helpers/sshd.ts';
import { muxRequest } from '../../src/ssh/mux-client.ts';

const skip = sshSkipReason();

describe('control socket requests from our own process', { skip }, () => {
  let sshd: SshdFixture;
  let dir: string;

  before(async () => {
    sshd = await SshdFixture.start({ proxy: false });
    dir = mkdtempSync(join(tmpdir(), 'distcomp-mux-'));
  });
  after(async () => {
    await sshd.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const ssh = (socket: string, ...args: string[]) =>
    spawnSync('ssh', ['-F', sshd.configFile, '-o', 'BatchMode=yes', '-o', `ControlPath=${socket}`, ...args, ALIAS], { encoding: 'utf8' });

  test('alive check gives the master pid; terminate ends it; afterwards nothing answers', async () => {
    const socket = join(dir, 'm');
    const up = ssh(socket, '-o', 'ControlMaster=yes', '-o', 'ControlPersist=30', '-N');
    assert.equal(up.status, 0, up.stderr);
    const pidBySsh = /pid=(\d+)/.exec(ssh(socket, '-O', 'check').stderr)?.[1];
    assert.ok(pidBySsh);

    const alive = await muxRequest(socket, 'alive');
    assert.deepEqual(alive, { ok: true, pid: Number(pidBySsh) });

    const terminated = await muxRequest(socket, 'terminate');
    assert.equal(terminated.ok, true, terminated.reason);
    // The master exits and removes its socket; ssh agrees nobody is there.
    for (let i = 0; i < 100 && ssh(socket, '-O', 'check').status === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.notEqual(ssh(socket, '-O', 'check').status, 0);
    assert.equal((await muxRequest(socket, 'alive')).ok, false);
  });

  test('no socket, or a file that is not a socket: not ok, never a throw', async () => {
    assert.equal((await muxRequest(join(dir, 'absent'), 'alive')).ok, false);
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'x');
    assert.equal((await muxRequest(file, 'terminate')).ok, false);
  });

  test('a socket that never answers times out as not ok', async () => {
    const path = join(dir, 'silent');
    const server = net.createServer(() => undefined);
    await new Promise<void>((r) => server.listen(path, r));
    try {
      const answer = await muxRequest(path, 'alive', 200);
      assert.deepEqual(answer, { ok: false, reason: 'no answer in 200 ms' });
    } finally {
      server.close();
    }
  });
});
