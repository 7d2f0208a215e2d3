// The pre-forked helper, forked by the exec zygote: the command it becomes gets its arguments
// literally (no shell), exactly the environment given, the calc's directory and output files; a
// failed exec is a spawn error; exit codes, signals and the process-group kill are the command's;
// an unused helper goes away; a request cut short runs nothing; a zygote that dies loses no
// command (its status is reported lost once the command ended) and is replaced.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ZygoteSupply } from '../../src/agent/exec-zygote.ts';
import { commandMessage, lengthFramed, type PreforkedExec } from '../../src/agent/prefork-exec.ts';
import { groupAlive, runCommand, type RunOptions } from '../../src/agent/run-calc.ts';
import { ZYGOTE_SCRIPT } from '../../src/agent/zygote-script.ts';
import { SpareWorkdir } from '../../src/agent/spare-workdir.ts';
import { STDERR_FILE, STDOUT_FILE } from '../../src/protocol/calc-info.ts';

const base = mkdtempSync(join(tmpdir(), 'prefork-test-'));
const zygotes = new ZygoteSupply(0);
after(() => {
  zygotes.stop();
  rmSync(base, { recursive: true, force: true });
});
const hasPerl = existsSync('/usr/bin/perl');

const until = async (cond: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 250 && !cond(); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(cond(), what);
};

/** A calc directory taken from a spare, with its helper. */
async function taken(supply = zygotes): Promise<{ workdir: string; prefork: PreforkedExec; run: (o: Partial<RunOptions> & { command: string }) => ReturnType<typeof runCommand> }> {
  const spare = new SpareWorkdir(base, 0, supply);
  spare.fill();
  await spare.settled();
  const workdir = join(base, randomUUID());
  const t = spare.take(workdir);
  assert.ok(t);
  const prefork = t.prefork;
  assert.ok(prefork, 'a helper came with the spare');
  return {
    workdir, prefork,
    run: (o) => runCommand({ args: [], workdir, env: {}, killSignal: new AbortController().signal, killGraceMs: 200, prefork, ...o }),
  };
}

describe('PreforkedExec', { skip: hasPerl ? false : 'no /usr/bin/perl on this computer (the agent spawns as before)' }, () => {
  it('runs the command with literal arguments, exactly the given environment, in the calc directory', async () => {
    const { workdir, run } = await taken();
    const pwned = join(base, 'pwned');
    let spawned: number | null = null;
    const r = await run({
      command: process.execPath,
      args: ['-e', 'process.stdout.write(JSON.stringify({ argv: process.argv.slice(1), env: process.env, cwd: process.cwd() })); console.error("to stderr")', '; touch', `${pwned} $(id)`, '`id`', '', '計算 ünïcode'],
      env: { ONLY: 'this one', WITH_EQ: 'a=b' },
      onSpawn: (pid) => (spawned = pid),
    });
    assert.deepEqual(r, { exitCode: 0, signal: null, killedByAgent: false, spawnError: null, statusLost: false });
    assert.ok(spawned !== null);
    const out = JSON.parse(readFileSync(join(workdir, STDOUT_FILE), 'utf8')) as { argv: string[]; env: Record<string, string>; cwd: string };
    assert.deepEqual(out.argv, ['; touch', `${pwned} $(id)`, '`id`', '', '計算 ünïcode']);
    assert.deepEqual(out.env, { ONLY: 'this one', WITH_EQ: 'a=b', CALC_DIR: workdir });
    assert.equal(out.cwd, workdir);
    assert.equal(readFileSync(join(workdir, STDERR_FILE), 'utf8'), 'to stderr\n');
    assert.equal(existsSync(pwned), false);
  });

  it('leaves the command no descriptor of its own (the status pipe closes on exec): the same as spawn() gives', async () => {
    const fds = async (prefork: boolean): Promise<string[]> => {
      const { workdir, run } = await taken();
      const r = await run({ command: '/bin/sh', args: ['-c', 'ls /proc/$$/fd'], ...(prefork ? {} : { prefork: null }) });
      assert.equal(r.exitCode, 0);
      return readFileSync(join(workdir, STDOUT_FILE), 'utf8').trim().split('\n').sort();
    };
    const viaHelper = await fds(true);
    assert.ok(viaHelper.includes('2'));
    assert.deepEqual(viaHelper, await fds(false));
  });

  it('reports a command that cannot be executed as a spawn error', async () => {
    const { run } = await taken();
    const r = await run({ command: join(base, 'no-such-command') });
    assert.equal(r.exitCode, null);
    assert.match(r.spawnError ?? '', /^exec .*no-such-command: No such file or directory$/);
  });

  it('passes on exit codes and signals, and an abort kills the command\'s process group', async () => {
    assert.equal((await (await taken()).run({ command: '/bin/sh', args: ['-c', 'exit 7'] })).exitCode, 7);
    assert.equal((await (await taken()).run({ command: '/bin/sh', args: ['-c', 'kill -USR1 $$'] })).signal, 'SIGUSR1');
    const ac = new AbortController();
    const { workdir, run } = await taken();
    const running = run({ command: '/bin/sh', args: ['-c', 'sleep 30 & echo $! > kid.pid; wait'], killSignal: ac.signal });
    const pidFile = join(workdir, 'kid.pid');
    while (!existsSync(pidFile) || readFileSync(pidFile, 'utf8').trim() === '') await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    const r = await running;
    assert.equal(r.killedByAgent, true);
    assert.equal(r.signal, 'SIGTERM', 'ended by the TERM sent to its group (not only by the KILL after the grace)');
    const kid = Number(readFileSync(pidFile, 'utf8'));
    const gone = (): boolean => {
      try {
        process.kill(kid, 0); // also true for a zombie not yet reaped by init
        return false;
      } catch {
        return true;
      }
    };
    for (let i = 0; i < 250 && !gone(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(gone(), 'the grandchild was killed with the group');
  });

  it('runs nothing from a request cut short (the agent killed while writing it), and dismisses idle helpers at end-of-file', async () => {
    const target = join(base, 'touched');
    const out = join(base, 'cut.out');
    writeFileSync(out, '');
    const zygote = spawn('/usr/bin/perl', ['-e', ZYGOTE_SCRIPT], { env: {}, stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: zygote.stdout })[Symbol.asyncIterator]();
    const touch = (path: string): Buffer => commandMessage('/usr/bin/touch', [path], { PATH: '/usr/bin' }) as Buffer;
    assert.equal((await lines.next()).value, 'Z', 'it says it started');
    // a whole request runs
    zygote.stdin.write(lengthFramed(['P', '1', base, out, out]));
    assert.match((await lines.next()).value as string, /^F 1 \d+$/);
    zygote.stdin.write(lengthFramed(['R', '1'], touch(`${target}-whole`)));
    assert.equal((await lines.next()).value, 'X 1');
    assert.equal((await lines.next()).value, 'W 1 0 -');
    assert.equal(existsSync(`${target}-whole`), true);
    // one cut short by a byte does not
    zygote.stdin.write(lengthFramed(['P', '2', base, out, out]));
    const forked = (await lines.next()).value as string;
    assert.match(forked, /^F 2 \d+$/);
    const helper = Number(forked.split(' ')[2]);
    const run = lengthFramed(['R', '2'], touch(target));
    zygote.stdin.end(run.subarray(0, run.length - 1));
    await until(() => !groupAlive(helper), 'the idle helper exited with its zygote');
    assert.equal(existsSync(target), false, 'nothing ran');
  });

  it('an unused helper exits when dismissed, and a NUL in an argument falls back to spawn (which refuses it)', async () => {
    const t = await taken();
    assert.equal(t.prefork.run('/bin/echo', ['a\0b'], {}), null);
    assert.equal(t.prefork.usable(), true);
    const helper = t.prefork.helperPid;
    assert.ok(helper !== null && groupAlive(helper));
    t.prefork.dismiss();
    assert.equal(t.prefork.usable(), false);
    await until(() => !groupAlive(helper), 'the dismissed helper exited');
  });

  it('a zygote killed while a command runs: the command goes on, its end is reported with the status lost; the next spare gets a new zygote', async () => {
    const supply = new ZygoteSupply(0);
    try {
      const { workdir, run } = await taken(supply);
      const zygotePid = (supply as unknown as { zygote: { child: { pid: number } } }).zygote.child.pid;
      let pid = 0;
      const running = run({ command: '/bin/sh', args: ['-c', 'sleep 0.6; echo done'], onSpawn: (p) => (pid = p) });
      await until(() => pid !== 0, 'the command started');
      process.kill(zygotePid, 'SIGKILL');
      const r = await running;
      assert.equal(r.statusLost, true);
      assert.equal(r.spawnError, null);
      assert.equal(readFileSync(join(workdir, STDOUT_FILE), 'utf8'), 'done\n', 'the command ran to its end');
      assert.equal(groupAlive(pid), false);
      const again = await taken(supply);
      assert.equal((await again.run({ command: '/bin/sh', args: ['-c', 'exit 4'] })).exitCode, 4);
    } finally {
      supply.stop();
    }
  });

  it('the zygote lives in a session of its own (a terminal\'s Ctrl+C to the agent never reaches it), as does each command', async () => {
    const supply = new ZygoteSupply(0);
    try {
      const { run } = await taken(supply);
      const zygotePid = (supply as unknown as { zygote: { child: { pid: number } } }).zygote.child.pid;
      const sid = (p: number | string): string => readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]?.split(' ')[3] ?? '';
      const ours = sid('self');
      assert.equal(sid(zygotePid), String(zygotePid));
      let pid = 0;
      const r = run({ command: '/bin/sleep', args: ['0.3'], onSpawn: (p) => (pid = p) });
      await until(() => pid !== 0, 'the command started');
      assert.equal(sid(pid), String(pid));
      assert.notEqual(ours, String(pid));
      assert.equal((await r).exitCode, 0);
    } finally {
      supply.stop();
    }
  });

  it('a zygote that does not answer (stopped) costs the spare its helper, not the calc: the command is spawned', async () => {
    const supply = new ZygoteSupply(60_000);
    const spare = new SpareWorkdir(base, 7, supply);
    const zygote = supply.get();
    assert.ok(zygote);
    const zygotePid = (zygote as unknown as { child: { pid: number } }).child.pid;
    process.kill(zygotePid, 'SIGSTOP');
    try {
      spare.fill();
      const t0 = performance.now();
      await spare.settled(300);
      assert.ok(performance.now() - t0 < 5000);
      const workdir = join(base, randomUUID());
      const t = spare.take(workdir);
      assert.ok(t);
      assert.equal(t.prefork, null);
      const r = await runCommand({ command: '/bin/sh', args: ['-c', 'echo spawned'], workdir, env: {}, killSignal: new AbortController().signal, killGraceMs: 200, prefork: t.prefork });
      assert.equal(r.exitCode, 0);
      assert.equal(readFileSync(join(workdir, STDOUT_FILE), 'utf8'), 'spawned\n');
      await until(() => !zygote.alive, 'the zygote that did not answer was given up');
    } finally {
      try {
        process.kill(zygotePid, 'SIGCONT');
      } catch {
        // killed already (given up)
      }
      supply.stop();
    }
  });

  it('gives the command the signal dispositions and mask that spawn() gives', async () => {
    const sigs = async (prefork: boolean): Promise<string> => {
      const { workdir, run } = await taken();
      const r = await run({ command: '/bin/sh', args: ['-c', 'grep -E "^Sig(Ign|Blk|Cgt)" /proc/self/status'], ...(prefork ? {} : { prefork: null }) });
      assert.equal(r.exitCode, 0);
      return readFileSync(join(workdir, STDOUT_FILE), 'utf8');
    };
    const viaHelper = await sigs(true);
    assert.match(viaHelper, /SigIgn/);
    assert.equal(viaHelper, await sigs(false));
  });

  it('a zygote killed after it was given a command, before it answered: the pid counts as the command\'s, its status lost', async () => {
    const supply = new ZygoteSupply(0);
    try {
      const { run } = await taken(supply);
      const zygotePid = (supply as unknown as { zygote: { child: { pid: number } } }).zygote.child.pid;
      process.kill(zygotePid, 'SIGSTOP');
      const running = run({ command: '/bin/sh', args: ['-c', 'exit 0'] });
      await new Promise((r) => setTimeout(r, 100));
      process.kill(zygotePid, 'SIGKILL');
      const r = await running;
      assert.equal(r.spawnError, null);
      assert.equal(r.statusLost, true);
    } finally {
      supply.stop();
    }
  });

  it('a helper killed while idle, its end crossing its command on the way: the command is spawned', async () => {
    const supply = new ZygoteSupply(0);
    try {
      const t = await taken(supply);
      const workdir = t.workdir;
      const helper = t.prefork.helperPid as number;
      const zygotePid = (supply as unknown as { zygote: { child: { pid: number } } }).zygote.child.pid;
      process.kill(zygotePid, 'SIGSTOP');
      process.kill(helper, 'SIGKILL');
      const running = runCommand({ command: '/bin/sh', args: ['-c', 'echo spawned instead'], workdir, env: {}, killSignal: new AbortController().signal, killGraceMs: 200, prefork: t.prefork });
      process.kill(zygotePid, 'SIGCONT');
      const r = await running;
      assert.equal(r.spawnError, null);
      assert.equal(r.exitCode, 0);
      assert.equal(readFileSync(join(workdir, STDOUT_FILE), 'utf8'), 'spawned instead\n');
    } finally {
      supply.stop();
    }
  });

  it('a zygote that ends by itself before it started (its perl lacks a module) is not started again: commands are spawned', () => {
    const supply = new ZygoteSupply(0);
    const z = supply.get();
    assert.ok(z);
    const child = (z as unknown as { child: ChildProcess }).child;
    // standing in for perl's "Can't locate POSIX.pm": an end before the zygote's first answer
    process.kill(child.pid as number, 'SIGKILL');
    const alive = setTimeout(() => {}, 10_000); // the zygote's pipes do not hold the event loop
    return new Promise<void>((resolve) => {
      child.stdout?.once('close', () => {
        clearTimeout(alive);
        assert.equal(z.alive, false);
        assert.equal(z.failedAtStart, true);
        assert.equal(supply.get(), null, 'not started again');
        resolve();
      });
    });
  });
});
