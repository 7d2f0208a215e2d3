// The pre-forked helper: the command it becomes gets its arguments literally (no shell), exactly
// the environment given, the calc's directory and output files; a failed exec is a spawn error;
// exit codes, signals and the process-group kill are the command's; an unused helper goes away.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { HELPER_SCRIPT } from '../../src/agent/prefork-exec.ts';
import { runCommand, type RunOptions } from '../../src/agent/run-calc.ts';
import { SpareWorkdir } from '../../src/agent/spare-workdir.ts';
import { STDERR_FILE, STDOUT_FILE } from '../../src/protocol/calc-info.ts';

const base = mkdtempSync(join(tmpdir(), 'prefork-test-'));
after(() => rmSync(base, { recursive: true, force: true }));
const hasPerl = existsSync('/usr/bin/perl');

/** A calc directory taken from a spare, with its helper. */
function taken(): { workdir: string; run: (o: Partial<RunOptions> & { command: string }) => ReturnType<typeof runCommand> } {
  const spare = new SpareWorkdir(base, 0);
  spare.fill();
  const workdir = join(base, randomUUID());
  const t = spare.take(workdir);
  assert.ok(t);
  assert.ok(t.prefork, 'a helper came with the spare');
  return {
    workdir,
    run: (o) => runCommand({ args: [], workdir, env: {}, killSignal: new AbortController().signal, killGraceMs: 200, prefork: t.prefork, ...o }),
  };
}

describe('PreforkedExec', { skip: hasPerl ? false : 'no /usr/bin/perl on this computer (the agent spawns as before)' }, () => {
  it('runs the command with literal arguments, exactly the given environment, in the calc directory', async () => {
    const { workdir, run } = taken();
    const pwned = join(base, 'pwned');
    let spawned: number | null = null;
    const r = await run({
      command: process.execPath,
      args: ['-e', 'process.stdout.write(JSON.stringify({ argv: process.argv.slice(1), env: process.env, cwd: process.cwd() })); console.error("to stderr")', '; touch', `${pwned} $(id)`, '`id`', '', '計算 ünïcode'],
      env: { ONLY: 'this one', WITH_EQ: 'a=b' },
      onSpawn: (pid) => (spawned = pid),
    });
    assert.deepEqual(r, { exitCode: 0, signal: null, killedByAgent: false, spawnError: null });
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
      const { workdir, run } = taken();
      const r = await run({ command: '/bin/sh', args: ['-c', 'ls /proc/$$/fd'], ...(prefork ? {} : { prefork: null }) });
      assert.equal(r.exitCode, 0);
      return readFileSync(join(workdir, STDOUT_FILE), 'utf8').trim().split('\n').sort();
    };
    const viaHelper = await fds(true);
    assert.ok(viaHelper.includes('2'));
    assert.deepEqual(viaHelper, await fds(false));
  });

  it('reports a command that cannot be executed as a spawn error', async () => {
    const { run } = taken();
    const r = await run({ command: join(base, 'no-such-command') });
    assert.equal(r.exitCode, null);
    assert.match(r.spawnError ?? '', /no-such-command: No such file or directory/);
  });

  it('passes on exit codes and signals, and an abort kills the command\'s process group', async () => {
    assert.equal((await taken().run({ command: '/bin/sh', args: ['-c', 'exit 7'] })).exitCode, 7);
    assert.equal((await taken().run({ command: '/bin/sh', args: ['-c', 'kill -USR1 $$'] })).signal, 'SIGUSR1');
    const ac = new AbortController();
    const { workdir, run } = taken();
    const running = run({ command: '/bin/sh', args: ['-c', 'sleep 30 & echo $! > kid.pid; wait'], killSignal: ac.signal });
    const pidFile = join(workdir, 'kid.pid');
    while (!existsSync(pidFile) || readFileSync(pidFile, 'utf8').trim() === '') await new Promise((r) => setTimeout(r, 20));
    ac.abort();
    const r = await running;
    assert.equal(r.killedByAgent, true);
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

  it('runs nothing from a message cut short (the agent killed while writing it)', () => {
    const target = join(base, 'touched');
    const fields = Buffer.from(['2', '/usr/bin/touch', target, 'PATH=/usr/bin'].map((f) => `${f}\0`).join(''));
    const whole = Buffer.concat([Buffer.from(`${fields.length}\0`), fields]);
    for (const cut of [whole.subarray(0, whole.length - 1), whole.subarray(0, 12), Buffer.alloc(0)]) {
      const r = spawnSync('/usr/bin/perl', ['-e', HELPER_SCRIPT], { input: cut, env: {}, stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
      assert.equal(r.status, 0);
      assert.equal(existsSync(target), false);
    }
    spawnSync('/usr/bin/perl', ['-e', HELPER_SCRIPT], { input: whole, env: {}, stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
    assert.equal(existsSync(target), true, 'the whole message runs');
  });

  it('an unused helper exits when dismissed, and a NUL in an argument falls back to spawn (which refuses it)', async () => {
    const spare = new SpareWorkdir(base, 1);
    spare.fill();
    const workdir = join(base, randomUUID());
    const t = spare.take(workdir);
    assert.ok(t && t.prefork);
    assert.equal(t.prefork.run('/bin/echo', ['a\0b'], {}), null);
    assert.equal(t.prefork.usable(), true);
    t.prefork.dismiss();
    for (let i = 0; i < 100 && t.prefork.usable(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(t.prefork.usable(), false);
  });
});
