// `distcomp ssh` against a real OpenSSH sshd on loopback, with the remote account's login
// shell /bin/sh. No mocks: real ssh, real rsync, real sshd.
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { ALIAS, SshdFixture, sshSkipReason } from '../helpers/sshd.ts';
import { baseArgs, distcompSsh, exists, localDir, removeLocalDirs, writeProgram, workdirs } from './cli-helpers.ts';

const skip = sshSkipReason();
const SAMPLE = new URL('../../templates/ssh/execute_remote-side_program_ssh.sample.sh', import.meta.url).pathname;

describe('distcomp ssh against a real sshd', { skip }, () => {
  let sshd: SshdFixture;
  let failed = false;

  before(async () => {
    sshd = await SshdFixture.start({ proxy: false });
  });
  after(async () => {
    // A failing run keeps the fixture (keys, configs, sshd.log, remote dirs) for debugging.
    await sshd.stop({ keep: failed });
    if (failed) console.error(`ssh fixture kept in ${sshd.dir}`);
    else removeLocalDirs();
  });
  const check = async (fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      failed = true;
      throw err;
    }
  };

  test('--persist keeps one connection for the next run to the same host, in a private directory', () =>
    check(async () => {
      const base = sshd.makeRemoteDir('base-persist');
      const program = writeProgram(sshd, 'prog-persist.sh', 'echo ran > ran.txt');
      const runtime = localDir();
      const env = { ...process.env, XDG_RUNTIME_DIR: runtime };
      const socketDir = join(runtime, 'distcomp-ssh');
      const masterPid = (): string => {
        const r = spawnSync('ssh', ['-F', sshd.configFile, '-o', `ControlPath=${socketDir}/%C`, '-O', 'check', ALIAS], { encoding: 'utf8' });
        return /pid=(\d+)/.exec(r.stderr)?.[1] ?? 'none';
      };
      try {
        const cwd1 = localDir();
        const r1 = await distcompSsh([...baseArgs(sshd, base), '--persist', '30', '--program', program, ALIAS], { cwd: cwd1, env });
        assert.equal(r1.code, 0, r1.stderr);
        const pid = masterPid();
        assert.match(pid, /^\d+$/, 'the master outlives the run');
        assert.equal(lstatSync(socketDir).mode & 0o777, 0o700);
        const cwd2 = localDir();
        const r2 = await distcompSsh([...baseArgs(sshd, base), '--persist', '30', '--program', program, ALIAS], { cwd: cwd2, env });
        assert.equal(r2.code, 0, r2.stderr);
        assert.equal(readFileSync(join(cwd2, 'ran.txt'), 'utf8'), 'ran\n');
        assert.equal(masterPid(), pid, 'the second run reused the same connection');
      } finally {
        spawnSync('ssh', ['-F', sshd.configFile, '-o', `ControlPath=${socketDir}/%C`, '-O', 'exit', ALIAS]);
      }
    }));

  test('success: inputs in (symlinks followed), program C runs there, whole directory back, status 0', () =>
    check(async () => {
      const base = sshd.makeRemoteDir('base-success');
      const program = writeProgram(
        sshd,
        'prog-success.sh',
        [
          'echo "program C ran in $(pwd)"',
          'echo "to stderr" >&2',
          '[ -L linked.txt ] && echo "linked.txt arrived as a symlink"',
          'cat a.txt linked.txt > joined.txt',
          'mkdir -p sub && echo nested > sub/out.txt',
          'echo "shell: $0 HOME=$HOME"',
        ].join('\n'),
      );
      const cwd = localDir();
      writeFileSync(join(cwd, 'a.txt'), 'alpha\n');
      writeFileSync(join(cwd, 'target.txt'), 'beta\n');
      symlinkSync(join(cwd, 'target.txt'), join(cwd, 'linked.txt'));

      const r = await distcompSsh([...baseArgs(sshd, base), '--program', program, ALIAS, 'a.txt', 'linked.txt'], { cwd });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(join(cwd, 'joined.txt'), 'utf8'), 'alpha\nbeta\n');
      assert.equal(readFileSync(join(cwd, 'sub', 'out.txt'), 'utf8'), 'nested\n');
      const log = readFileSync(join(cwd, 'remote_program_exec.log'), 'utf8');
      const [dir] = workdirs(base);
      assert.ok(dir, 'a UUID working directory exists under the base');
      assert.match(log, new RegExp(`program C ran in ${join(base, dir)}`));
      assert.match(log, /to stderr/);
      assert.doesNotMatch(log, /arrived as a symlink/);
      // Our control directory and the staging directory never show up in the destination.
      assert.deepEqual(
        readdirSync(cwd).filter((n) => n.startsWith('.')),
        [],
      );
      // Kept by default, as deployed (where failures are investigated).
      assert.ok(exists(join(base, dir, 'joined.txt')));
      assert.equal(lstatSync(join(base, dir, 'linked.txt')).isSymbolicLink(), false);
      assert.match(r.stderr, new RegExp(`working directory ${ALIAS}:${base}/${dir}`));
    }));

  test('the deployed words client_name: client_cmd: client_files:, and --remove-workdir', () =>
    check(async () => {
      const base = sshd.makeRemoteDir('base-words');
      const program = writeProgram(sshd, 'prog-words.sh', 'wc -c < in1 > count.txt; cat in2 >> count.txt');
      const cwd = localDir();
      writeFileSync(join(cwd, 'in1'), '12345');
      writeFileSync(join(cwd, 'in2'), 'two\n');
      const r = await distcompSsh(
        [...baseArgs(sshd, base), '--remove-workdir', `client_name:${ALIAS}`, `client_cmd:${program}`, 'client_files:in1,in2'],
        { cwd },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(join(cwd, 'count.txt'), 'utf8').trim(), '5\ntwo');
      assert.deepEqual(workdirs(base), [], 'removed after the successful fetch');
    }));

  test('remote failure: its exit status becomes ours, the log tail is shown, the directory still comes back', () =>
    check(async () => {
      const base = sshd.makeRemoteDir('base-fail');
      const program = writeProgram(sshd, 'prog-fail.sh', 'for i in 1 2 3 4 5; do echo "line $i"; done\necho partial > partial.txt\necho "solver diverged" >&2\nexit 7');
      const cwd = localDir();
      writeFileSync(join(cwd, 'in.dat'), 'x');
      const r = await distcompSsh([...baseArgs(sshd, base), '--program', program, '--remove-workdir', ALIAS, 'in.dat'], { cwd });
      assert.equal(r.code, 7, r.stderr);
      assert.match(r.stderr, /exited with status 7/);
      assert.match(r.stderr, /solver diverged/);
      assert.match(r.stderr, /line 5/);
      assert.equal(readFileSync(join(cwd, 'partial.txt'), 'utf8'), 'partial\n');
      assert.equal(workdirs(base).length, 1, '--remove-workdir (success) keeps a failed run for investigation');
    }));

  test('a missing input fails before connecting, naming the file, exit 2', () =>
    check(async () => {
      const base = sshd.makeRemoteDir('base-missing');
      const cwd = localDir();
      writeFileSync(join(cwd, 'present.txt'), 'x');
      const r = await distcompSsh([...baseArgs(sshd, base), '--program', 'true', ALIAS, 'present.txt', 'absent file.txt'], { cwd });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /SSH_MISSING_INPUT/);
      assert.match(r.stderr, /absent file\.txt/);
      assert.deepEqual(workdirs(base), []);
    }));

  test('an unreachable host is a connection failure, exit 255', () =>
    check(async () => {
      const cwd = localDir();
      const config = join(cwd, 'cfg');
      // Port 1 on loopback: nothing listens there.
      writeFileSync(config, `Host nowhere\n  HostName 127.0.0.1\n  Port 1\n`);
      const r = await distcompSsh(['-F', config, '--program', 'true', 'nowhere'], { cwd });
      assert.equal(r.code, 255, r.stderr);
      assert.match(r.stderr, /SSH_CONNECT/);
    }));

  test('file names with spaces, quotes, $(), ;, newlines and a leading dash stay literal', () =>
    check(async () => {
      const nasty = ["with space's \"q\".txt", '$(touch PWNED)', 'a;touch PWNED2;b', 'new\nline', '-dash', '`touch PWNED3`', '*'];
      // Even the base directory and the program's path hold a space and a quote.
      const base = sshd.makeRemoteDir("base it's $(x)");
      const program = writeProgram(sshd, "prog 'odd' $(y).sh", 'for f in *; do printf "%s\\n" "$f"; done > ../listing-$$ ; mv ../listing-$$ listing.txt');
      const cwd = localDir();
      for (const [i, name] of nasty.entries()) writeFileSync(join(cwd, name), `content ${i}\n`);
      const r = await distcompSsh([...baseArgs(sshd, base), '--program', program, ALIAS, '--', ...nasty], { cwd });
      assert.equal(r.code, 0, r.stderr);
      for (const [i, name] of nasty.entries()) {
        assert.equal(readFileSync(join(cwd, name), 'utf8'), `content ${i}\n`, name);
      }
      const listing = readFileSync(join(cwd, 'listing.txt'), 'utf8');
      for (const name of nasty.filter((n) => !n.includes('\n'))) assert.ok(listing.split('\n').includes(name), `remote saw ${name}`);
      const [dir] = workdirs(base);
      assert.ok(dir);
      for (const where of [cwd, join(base, dir), base, sshd.dir, '/tmp']) {
        for (const p of ['PWNED', 'PWNED2', 'PWNED3']) assert.equal(exists(join(where, p)), false, `${p} in ${where}`);
      }
    }));

  test('a file name with a single quote, $() and ; as the remote program word is not run by a shell', () =>
    check(async () => {
      const base = sshd.makeRemoteDir('base-progword');
      const cwd = localDir();
      writeFileSync(join(cwd, 'in'), 'x');
      const r = await distcompSsh([...baseArgs(sshd, base), '--program', "true; touch PWNED4 '$(touch PWNED5)'", ALIAS, 'in'], { cwd });
      // No such program: the shell inside reports 127, nothing was touched.
      assert.equal(r.code, 127, r.stderr);
      const [dir] = workdirs(base);
      assert.ok(dir);
      assert.equal(exists(join(base, dir, 'PWNED4')), false);
      assert.equal(exists(join(base, dir, 'PWNED5')), false);
      assert.equal(exists(join(base, dir, '$(touch PWNED5)')), false);
    }));

  test('--attach collects a run that is already there, without starting it again', () =>
    check(async () => {
      const base = sshd.makeRemoteDir('base-attach');
      const program = writeProgram(sshd, 'prog-attach.sh', 'echo run >> runs.txt');
      const cwd1 = localDir();
      writeFileSync(join(cwd1, 'in'), 'x');
      const first = await distcompSsh([...baseArgs(sshd, base), '--program', program, ALIAS, 'in'], { cwd: cwd1 });
      assert.equal(first.code, 0, first.stderr);
      const [dir] = workdirs(base);
      assert.ok(dir);
      const cwd2 = localDir();
      const again = await distcompSsh([...baseArgs(sshd, base), '--program', program, '--attach', dir, ALIAS], { cwd: cwd2 });
      assert.equal(again.code, 0, again.stderr);
      assert.equal(readFileSync(join(cwd2, 'runs.txt'), 'utf8'), 'run\n', 'program C ran once');
    }));

  test('the shipped sample program C runs as it is', () =>
    check(async () => {
      const base = sshd.makeRemoteDir('base-sample');
      const program = writeProgram(sshd, 'sample.sh', readFileSync(SAMPLE, 'utf8'));
      const cwd = localDir();
      writeFileSync(join(cwd, 'yield_strength.dat'), '1\n');
      const r = await distcompSsh([...baseArgs(sshd, base), '--program', program, ALIAS, 'yield_strength.dat'], { cwd });
      assert.equal(r.code, 0, r.stderr);
      const log = readFileSync(join(cwd, 'remote_program_exec.log'), 'utf8');
      assert.match(log, /^started .* in \//);
      assert.match(log, /yield_strength\.dat/);
      assert.match(log, /^finished /m);
    }));

  test('zero input files: the working directory is made by the mkdir step', () =>
    check(async () => {
      const base = sshd.makeRemoteDir('base-noinput');
      const cwd = localDir();
      mkdirSync(join(cwd, 'unrelated'));
      const r = await distcompSsh([...baseArgs(sshd, base), '--program', 'pwd', '--verbose', ALIAS], { cwd });
      assert.equal(r.code, 0, r.stderr);
      // --verbose says when each step started (ms since the process started), in order.
      const at = [...r.stderr.matchAll(/step: ([a-z ]+) \(at (\d+) ms\)/g)].map((m) => [m[1], Number(m[2])] as const);
      assert.deepEqual(at.map(([step]) => step), ['connect', 'mkdir', 'run and fetch', 'done']);
      assert.ok(at.every(([, ms], i) => i === 0 || ms >= (at[i - 1]?.[1] ?? 0)), r.stderr);
      const [dir] = workdirs(base);
      assert.ok(dir);
      assert.equal(readFileSync(join(cwd, 'remote_program_exec.log'), 'utf8').trim(), join(base, dir));
    }));
});
