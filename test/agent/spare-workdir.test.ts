// The spare working directory: made while idle, renamed into place at the claim, never over
// anything but an empty directory of ours; its output files take their real names only when the
// command runs; spares of dead agents are removed.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ZygoteSupply } from '../../src/agent/exec-zygote.ts';
import { readJournal } from '../../src/agent/journal.ts';
import { discardSpareOutputs, runCommand } from '../../src/agent/run-calc.ts';
import { removeStaleSpares, SPARE_OUTPUTS, SpareWorkdir, WorkerSpares } from '../../src/agent/spare-workdir.ts';
import { createWorkdir } from '../../src/agent/workdir.ts';
import { STDERR_FILE, STDOUT_FILE } from '../../src/protocol/calc-info.ts';

const base = mkdtempSync(join(tmpdir(), 'spare-test-'));
const zygotes = new ZygoteSupply(0);
after(() => {
  zygotes.stop();
  rmSync(base, { recursive: true, force: true });
});

describe('SpareWorkdir', () => {
  it('is renamed into place with an empty journal (no journal to a reader) and hidden outputs', async () => {
    const spare = new SpareWorkdir(base, 0, zygotes);
    spare.fill();
    await spare.settled();
    const w = join(base, randomUUID());
    const t = spare.take(w);
    assert.ok(t);
    t.prefork?.dismiss();
    assert.equal(existsSync(spare.path), false);
    assert.equal(lstatSync(w).mode & 0o777, 0o700 & ~process.umask());
    assert.deepEqual(readdirSync(w).sort(), ['.distcomp-journal.json', ...Object.values(SPARE_OUTPUTS)].sort());
    assert.equal(readJournal(w), null);
    assert.equal(spare.take(join(base, randomUUID())), false, 'one spare, one take');
    spare.fill();
    assert.ok(existsSync(spare.path));
    spare.dispose();
    assert.equal(existsSync(spare.path), false);
  });

  it('never replaces a symlink, a file or a non-empty directory; createWorkdir then judges as before', () => {
    const spare = new SpareWorkdir(base, 1, zygotes);
    const link = join(base, randomUUID());
    symlinkSync(tmpdir(), link);
    spare.fill();
    assert.equal(spare.take(link), false);
    assert.throws(() => createWorkdir(link), /symlink/);
    assert.ok(lstatSync(link).isSymbolicLink());
    const file = join(base, randomUUID());
    writeFileSync(file, 'x');
    spare.fill();
    assert.equal(spare.take(file), false);
    assert.equal(readFileSync(file, 'utf8'), 'x');
    const full = join(base, randomUUID());
    mkdirSync(full);
    writeFileSync(join(full, 'in.txt'), 'keep');
    spare.fill();
    assert.equal(spare.take(full), false);
    assert.equal(readFileSync(join(full, 'in.txt'), 'utf8'), 'keep');
    spare.dispose();
  });

  it('removes the spares of agents that no longer run, and no other', () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    const stale = join(base, `.distcomp-spare-${dead}-0`);
    mkdirSync(stale);
    const mine = new SpareWorkdir(base, 2, zygotes);
    mine.fill();
    const other = join(base, '.distcomp-spare-x');
    mkdirSync(other);
    removeStaleSpares(base);
    assert.equal(existsSync(stale), false);
    assert.ok(existsSync(mine.path));
    assert.ok(existsSync(other));
    mine.dispose();
  });
});

describe('WorkerSpares', () => {
  const sparesOf = (worker: number): string[] => [2 * worker, 2 * worker + 1].map((n) => join(base, `.distcomp-spare-${process.pid}-${n}`));
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  it('keeps a second spare ready while the one just used is made again, later', async () => {
    const spares = new WorkerSpares(base, 10, zygotes);
    const [a, b] = sparesOf(10) as [string, string];
    spares.fill(false, 200);
    assert.ok(existsSync(a) && existsSync(b), 'both made at once when no calc just ended');
    const first = await spares.forClaim();
    const w1 = join(base, randomUUID());
    const t1 = first.take(w1);
    assert.ok(t1 && t1.prefork, 'a ready spare with its helper');
    t1.prefork?.dismiss();
    const used = first.path;
    const other = used === a ? b : a;

    spares.fill(true, 200);
    assert.equal(existsSync(used), false, 'the spare just used is not made at once after a calc');
    assert.ok(existsSync(other));
    // a calc claimed meanwhile gets the other spare, ready
    const second = await spares.forClaim();
    assert.equal(second.path, other);
    const t2 = second.take(join(base, randomUUID()));
    assert.ok(t2 && t2.prefork);
    t2.prefork?.dismiss();

    // both used: the next claim makes one on the spot (the pending refill is not waited for)
    const third = await spares.forClaim();
    const t3 = third.take(join(base, randomUUID()));
    assert.ok(t3, 'a spare made at the claim');
    t3.prefork?.dismiss();

    spares.fill(true, 50);
    await sleep(400);
    assert.ok(existsSync(a) && existsSync(b), 'both made again once the refill time passed');
    spares.dispose();
    assert.ok(!existsSync(a) && !existsSync(b));
  });

  it('makes nothing after dispose(), even with a refill pending', async () => {
    const spares = new WorkerSpares(base, 11, zygotes);
    spares.fill(false, 0);
    const t = (await spares.forClaim()).take(join(base, randomUUID()));
    assert.ok(t);
    t.prefork?.dismiss();
    spares.fill(true, 30);
    spares.dispose();
    await sleep(200);
    assert.deepEqual(sparesOf(11).filter((p) => existsSync(p)), []);
  });
});

describe('output files from the spare', () => {
  it('take their real names when the command runs; a calc that does not run has none', async () => {
    const spare = new SpareWorkdir(base, 3, zygotes);
    spare.fill();
    await spare.settled();
    const w = join(base, randomUUID());
    const t = spare.take(w);
    assert.ok(t);
    const r = await runCommand({ command: '/bin/echo', args: ['hello'], workdir: w, env: {}, killSignal: new AbortController().signal, killGraceMs: 1000, prefork: t.prefork });
    assert.equal(r.exitCode, 0);
    assert.equal(readFileSync(join(w, STDOUT_FILE), 'utf8'), 'hello\n');
    assert.equal(readFileSync(join(w, STDERR_FILE), 'utf8'), '');
    assert.ok(Object.values(SPARE_OUTPUTS).every((n) => !existsSync(join(w, n))));

    spare.fill();
    const refused = join(base, randomUUID());
    const unused = spare.take(refused);
    assert.ok(unused);
    unused.prefork?.dismiss();
    discardSpareOutputs(refused);
    assert.deepEqual(readdirSync(refused), ['.distcomp-journal.json']);
  });
});
