// What a newcomer does: a fresh clone of the committed HEAD, `npm install`, `npm start`; then
// the content of the verification module's outputs is checked, and that nothing is left
// running. Uncommitted changes are not in the clone: commit before running this test.
//
// The install: a real `npm install --prefer-offline` compiles better-sqlite3 from source, which
// took 130 s on an idle 2-CPU machine and more than 240 s on a busy one: too slow for a bounded
// test. So by default the clone is installed with `--ignore-scripts`, this checkout's compiled
// better-sqlite3 binding is copied in (same Node, same ABI), and `npm run prepare` (the build
// that `npm install` runs) is run by hand: about 20 s. DISTCOMP_FULL_INSTALL=1 runs the real
// `npm install --prefer-offline` instead (allow 5 minutes).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../helpers/relay-process.ts';

function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((res, rej) => {
    const c = spawn(cmd, args, { cwd, env: { ...process.env, DISTCOMP_TOKEN: '', npm_config_audit: 'false', npm_config_fund: 'false' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => {
      c.kill('SIGKILL');
      rej(new Error(`${cmd} ${args.join(' ')} did not finish in ${timeoutMs / 1000} s\n${out}`));
    }, timeoutMs);
    c.on('error', rej);
    c.on('close', (code) => {
      clearTimeout(t);
      res({ code, out });
    });
  });
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('npm start on a fresh clone', { timeout: process.env['DISTCOMP_FULL_INSTALL'] === '1' ? 420_000 : 240_000 }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'distcomp-clone-'));
  const clone = join(tmp, 'distcomp');
  after(() => {
    if (process.env['DISTCOMP_KEEP_TEST_DIRS'] === '1') process.stderr.write(`kept ${tmp}\n`);
    else rmSync(tmp, { recursive: true, force: true });
  });

  it('git clone, npm install, npm start: the verification outputs are right and nothing keeps running', async () => {
    const g = await run('git', ['clone', '--quiet', REPO, clone], tmp, 60_000);
    assert.equal(g.code, 0, g.out);

    if (process.env['DISTCOMP_FULL_INSTALL'] !== '1') {
      const i = await run('npm', ['install', '--prefer-offline', '--ignore-scripts'], clone, 120_000);
      assert.equal(i.code, 0, i.out);
      const rel = join('node_modules', 'better-sqlite3', 'build', 'Release');
      mkdirSync(join(clone, rel), { recursive: true });
      copyFileSync(join(REPO, rel, 'better_sqlite3.node'), join(clone, rel, 'better_sqlite3.node'));
      const b = await run('npm', ['run', 'prepare'], clone, 120_000);
      assert.equal(b.code, 0, b.out);
    } else {
      const i = await run('npm', ['install', '--prefer-offline'], clone, 290_000);
      assert.equal(i.code, 0, i.out);
    }

    const s = await run('npm', ['start'], clone, 60_000);
    assert.equal(s.code, 0, s.out);
    assert.match(s.out, /verification passed in \d+\.\d s/);
    assert.match(s.out, /progress status change from .* to got return/);
    assert.match(s.out, /calc status = completed/);
    assert.match(s.out, new RegExp(`relay data dir +${join(clone, '.distcomp', 'data').replace(/[.]/g, '\\.')}`));
    assert.match(s.out, /logs +.*server\.log, .*agent\.log/);
    assert.match(s.out, /stopped: agent and relay/);
    const token = readFileSync(join(clone, '.distcomp', 'demo-token'), 'utf8').trim();
    assert.match(token, /^[0-9a-f]{64}$/);
    assert.ok(!s.out.includes(token), 'the demo token is never printed whole');

    // the outputs, at the module's output port paths
    const runs = readdirSync(join(clone, '.distcomp', 'runs'));
    assert.equal(runs.length, 1);
    const ports = join(clone, '.distcomp', 'runs', runs[0] as string, 'output-ports');
    const curve = readFileSync(join(ports, 'cyclic_curve.dat'), 'utf8');
    assert.match(curve, /K' = 889\.2 MPa, n' = 0\.1432, E = 206000 MPa/);
    const rows = curve.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.trim().split(/\s+/).map(Number));
    assert.equal(rows.length, 16);
    assert.deepEqual(rows[0], [0.001254, 237.75, 0.0001]);
    assert.deepEqual(rows[15], [0.022465, 507.78, 0.02]);
    for (let i = 1; i < rows.length; i++) {
      const [ea, sa, ep] = rows[i] as [number, number, number];
      assert.ok(sa > (rows[i - 1] as number[])[1]!, 'stress rises with strain');
      assert.ok(Math.abs(ea - (sa / 206000 + ep)) < 2e-6, `row ${i}: total = elastic + plastic`);
    }
    const inp = readFileSync(join(ports, 'material.inp'), 'utf8');
    assert.match(inp, /^\*MATERIAL, NAME=CYCLIC\n\*ELASTIC\n206000\.0, 0\.3\n\*PLASTIC\n237\.75, 0\.000000\n/m);
    assert.equal(inp.trimEnd().split('\n').filter((l) => /^\d+\.\d+, \d\.\d+$/.test(l)).length, 17, '*ELASTIC line + 16 *PLASTIC rows');

    // the agent is gone (npm start stopped it)
    const pid = Number(/agent +polling site "demo-site" \(pid (\d+)\)/.exec(s.out)?.[1]);
    assert.ok(pid > 0);
    assert.equal(alive(pid), false, 'the agent process is gone');

    // a second start in the same place works too (existing data dir, user and files)
    const again = await run('npm', ['start'], clone, 60_000);
    assert.equal(again.code, 0, again.out);
    assert.equal(readdirSync(join(clone, '.distcomp', 'runs')).length, 2);
  });
});
