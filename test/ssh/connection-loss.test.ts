// Dropped connections, made by our own loopback proxy between ssh and sshd: a reset while
// program C runs, a network that stops answering (only keepalives notice), and resets in the
// middle of the upload and of the fetch. The run must complete, program C must run once,
// transfers must resume, and a half-fetched result must never look complete.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ALIAS, SshdFixture, sshSkipReason } from '../helpers/sshd.ts';
import { baseArgs, distcompSsh, exists, localDir, removeLocalDirs, sha256, until, writeProgram, workdirs } from './cli-helpers.ts';

const skip = sshSkipReason();
const MiB = 1024 * 1024;

describe('surviving dropped connections', { skip }, () => {
  let sshd: SshdFixture;

  before(async () => {
    sshd = await SshdFixture.start({ proxy: true });
  });
  after(async () => {
    await sshd.stop();
    removeLocalDirs();
  });

  const proxy = () => {
    assert.ok(sshd.proxy);
    return sshd.proxy;
  };
  const started = (base: string): boolean => workdirs(base).some((d) => exists(join(base, d, '.distcomp', 'pid')));

  test('connection reset while program C runs: reconnect, wait, collect; C ran once', async () => {
    const base = sshd.makeRemoteDir('base-reset');
    const program = writeProgram(sshd, 'prog-slow.sh', 'echo run >> runs.txt\nsleep 2\necho done > result.txt');
    const cwd = localDir();
    writeFileSync(join(cwd, 'in'), 'x');
    const run = distcompSsh([...baseArgs(sshd, base), '--program', program, ALIAS, 'in'], { cwd });
    await until('program C to start', () => started(base));
    const cutsBefore = proxy().cuts;
    proxy().cut();
    const r = await run;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(proxy().cuts, cutsBefore + 1);
    assert.match(r.stderr, /connection lost during run and fetch/);
    assert.match(r.stderr, /reconnected; resuming run and fetch/);
    assert.equal(readFileSync(join(cwd, 'result.txt'), 'utf8'), 'done\n');
    assert.equal(readFileSync(join(cwd, 'runs.txt'), 'utf8'), 'run\n', 'program C ran exactly once');
  });

  test('a network that stops answering is noticed by keepalives, and the run completes', async () => {
    const base = sshd.makeRemoteDir('base-stall');
    const program = writeProgram(sshd, 'prog-stall.sh', 'echo run >> runs.txt\nsleep 1\necho done > result.txt');
    const cwd = localDir();
    writeFileSync(join(cwd, 'in'), 'x');
    const t0 = Date.now();
    const run = distcompSsh([...baseArgs(sshd, base), '--program', program, ALIAS, 'in'], { cwd });
    await until('program C to start', () => started(base));
    proxy().stall();
    const r = await run;
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /connection lost during run and fetch/);
    assert.equal(readFileSync(join(cwd, 'result.txt'), 'utf8'), 'done\n');
    assert.equal(readFileSync(join(cwd, 'runs.txt'), 'utf8'), 'run\n');
    // --alive-interval 1 --alive-count 3: noticed within seconds, not never.
    assert.ok(Date.now() - t0 < 20000);
  });

  test('an upload cut in the middle resumes instead of starting over', async () => {
    const base = sshd.makeRemoteDir('base-upload');
    const cwd = localDir();
    const size = 48 * MiB;
    writeFileSync(join(cwd, 'big.in'), randomBytes(size));
    const program = writeProgram(sshd, 'prog-sum.sh', 'cksum big.in > sum.txt');
    const upBefore = proxy().upBytes;
    proxy().cutAfter('up', 16 * MiB);
    const r = await distcompSsh([...baseArgs(sshd, base), '--program', program, ALIAS, 'big.in'], { cwd });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /connection lost during upload/);
    const [dir] = workdirs(base);
    assert.ok(dir);
    assert.equal(sha256(join(base, dir, 'big.in')), sha256(join(cwd, 'big.in')));
    assert.equal(exists(join(base, dir, '.rsync-partial')), false);
    // Starting over would send 16 + 48 MiB; resuming sends the rest of the 48 (plus checksums).
    const sent = proxy().upBytes - upBefore;
    assert.ok(sent < 1.2 * size, `sent ${(sent / MiB).toFixed(1)} MiB for a ${size / MiB} MiB file`);
  });

  test('a fetch cut in the middle resumes, and nothing half-fetched is ever in place', async () => {
    const base = sshd.makeRemoteDir('base-fetch');
    const cwd = localDir();
    writeFileSync(join(cwd, 'in'), 'x');
    const program = writeProgram(sshd, 'prog-big.sh', 'dd if=/dev/urandom of=big.out bs=1048576 count=48 2>/dev/null\necho small > small.out');
    let seenAtCut: { bigInPlace: boolean; smallInPlace: boolean; staging: string[] } | undefined;
    const run = distcompSsh([...baseArgs(sshd, base), '--program', program, ALIAS, 'in'], { cwd });
    await until('program C to finish', () => workdirs(base).some((d) => exists(join(base, d, '.distcomp', 'exit-status'))));
    const downBefore = proxy().downBytes;
    proxy().cutAfter('down', 16 * MiB, () => {
      seenAtCut = {
        bigInPlace: exists(join(cwd, 'big.out')),
        smallInPlace: exists(join(cwd, 'small.out')),
        staging: readdirSync(cwd).filter((n) => n.startsWith('.distcomp-fetch-')),
      };
    });
    const r = await run;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(seenAtCut, 'the cut happened during the fetch');
    assert.deepEqual(seenAtCut, { bigInPlace: false, smallInPlace: false, staging: seenAtCut.staging });
    assert.equal(seenAtCut.staging.length, 1, 'the fetch was going into a hidden staging directory');
    assert.match(r.stderr, /connection lost during run and fetch/);
    const [dir] = workdirs(base);
    assert.ok(dir);
    assert.equal(sha256(join(cwd, 'big.out')), sha256(join(base, dir, 'big.out')));
    assert.equal(readFileSync(join(cwd, 'small.out'), 'utf8'), 'small\n');
    assert.deepEqual(readdirSync(cwd).filter((n) => n.startsWith('.')), [], 'no staging or control directory left');
    const received = proxy().downBytes - downBefore;
    assert.ok(received < 1.2 * 48 * MiB, `received ${(received / MiB).toFixed(1)} MiB`);
  });

  test('when the host stays away, reconnecting gives up after the bounded attempts: exit 255', async () => {
    const base = sshd.makeRemoteDir('base-gone');
    const program = writeProgram(sshd, 'prog-gone.sh', 'sleep 2');
    const cwd = localDir();
    writeFileSync(join(cwd, 'in'), 'x');
    const config = join(cwd, 'ssh_config');
    // Same fixture, but the client config is rewritten to a dead port after the start.
    writeFileSync(config, readFileSync(sshd.configFile, 'utf8'));
    const args = [...baseArgs(sshd, base), '-F', config, '--reconnect-attempts', '2', '--program', program, ALIAS, 'in'];
    const run = distcompSsh(args, { cwd });
    await until('program C to start', () => started(base));
    writeFileSync(config, readFileSync(sshd.configFile, 'utf8').replace(/Port \d+/, 'Port 1'));
    proxy().cut();
    const r = await run;
    assert.equal(r.code, 255, r.stderr);
    assert.match(r.stderr, /SSH_CONNECTION_LOST: connection lost during run and fetch; 2 reconnect attempts failed/);
    assert.match(r.stderr, /the remote working directory is kept/);
  });
});
