// The SSH method against what it replaces, in the same run, on a throw-away loopback sshd
// (the remote user's login shell is /bin/sh, so no startup files blur the figures):
//  - wall time of a no-op job (one small input, program C `true`), median of RUNS, beside the
//    deployed sequence done by hand (ssh mkdir; rsync -av -L per input; ssh run; rsync -av
//    back: a new connection each) and a single `ssh HOST true`; then, from extra runs with
//    --verbose, when each of its steps started, beside `node -e 0` (Node alone);
//  - transfer of a 1 GiB input (program C removes it, so the fetch is small) beside plain
//    `rsync -a FILE HOST:DIR/` of the same file over a fresh connection.
// Targets (issue 5): no-op job <= 0.35 x deployed sequence; transfer >= 0.8 x plain rsync.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, writeSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ALIAS, SshdFixture, sshSkipReason } from '../test/helpers/sshd.ts';

const RUNS = 7;
const GiB = 1024 ** 3;
const root = new URL('..', import.meta.url).pathname;
const cli = join(root, 'dist', 'cli', 'main.js');

function run(cmd: string, args: string[], cwd: string): number {
  return runEnv(cmd, args, cwd, process.env);
}

function runEnv(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { cwd, env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

const round = (x: number): number => Math.round(x * 10) / 10;

if (sshSkipReason() !== undefined) process.exit(1);
const build = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'ignore' });
if (build.status !== 0) throw new Error('npm run build failed');

const sshd = await SshdFixture.start({ proxy: false });
try {
  const base = sshd.makeRemoteDir('bench-base');
  const cfg = sshd.configFile;
  const local = mkdtempSync(join(tmpdir(), 'distcomp-bench-'));
  writeFileSync(join(local, 'input.dat'), randomBytes(1024));

  const ours: number[] = [];
  const warm: number[] = [];
  const persistDir = mkdtempSync('/tmp/distcomp-bench-rt-');
  const warmArgs = [cli, 'ssh', '-F', cfg, '--base', base, '--program', 'true', '--persist', '60', ALIAS, 'input.dat'];
  const warmEnv = { ...process.env, XDG_RUNTIME_DIR: persistDir };
  const deployed: number[] = [];
  const sshTrue: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    // Interleaved, so drift in machine load hits all three alike.
    ours.push(run(process.execPath, [cli, 'ssh', '-F', cfg, '--base', base, '--program', 'true', ALIAS, 'input.dat'], local));
    const d = `${base}/${randomUUID()}`;
    deployed.push(
      run('ssh', ['-F', cfg, ALIAS, `if [ -e ${d} ]; then rm -rf ${d}; fi; mkdir ${d}`], local) +
        run('rsync', ['-av', '-L', '-e', `ssh -F ${cfg}`, 'input.dat', `${ALIAS}:${d}`], local) +
        run('ssh', ['-F', cfg, ALIAS, `cd ${d}; true > ${d}/remote_program_exec.log 2>&1`], local) +
        run('rsync', ['-av', '-e', `ssh -F ${cfg}`, `${ALIAS}:${d}/`, './'], local),
    );
    sshTrue.push(run('ssh', ['-F', cfg, ALIAS, 'true'], local));
    // --persist: the connection of the previous run is reused (the first run opens it)
    const w = runEnv(process.execPath, warmArgs, local, warmEnv);
    if (i > 0) warm.push(w);
  }
  spawnSync('ssh', ['-F', cfg, '-o', `ControlPath=${persistDir}/distcomp-ssh/%C`, '-O', 'exit', ALIAS]);
  const noop = { ours_ms: round(median(ours)), deployed_sequence_ms: round(median(deployed)), ssh_true_ms: round(median(sshTrue)) };
  const ratio = noop.ours_ms / noop.deployed_sequence_ms;
  console.log(
    JSON.stringify({ bench: 'ssh', case: 'noop-job', runs: RUNS, ...noop, ratio: Math.round(ratio * 1000) / 1000, target_max_ratio: 0.35, meets_target: ratio <= 0.35 }),
  );
  const warmMs = median(warm);
  console.log(
    JSON.stringify({
      bench: 'ssh', case: 'noop-job-persistent-connection', runs: warm.length, ours_ms: round(warmMs), deployed_sequence_ms: noop.deployed_sequence_ms,
      ratio: Math.round((warmMs / noop.deployed_sequence_ms) * 1000) / 1000, target_max_ratio: 0.35, meets_target: warmMs / noop.deployed_sequence_ms <= 0.35,
      note: 'with --persist, each run after the first reuses the connection the previous run left open',
    }),
  );

  // Where the no-op job's time goes, from extra runs with --verbose (each step line says when
  // it started, in ms since the process started) beside a bare `node -e 0` in the same
  // environment: the part of ours that is Node starting before any of our code runs. These
  // runs are not part of the figures above.
  const steps: Record<string, number[]> = {};
  const nodeStart: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    nodeStart.push(run(process.execPath, ['-e', '0'], local));
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, [cli, 'ssh', '-v', '-F', cfg, '--base', base, '--program', 'true', ALIAS, 'input.dat'], { cwd: local, encoding: 'utf8' });
    const total = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`distcomp ssh -v failed (${r.status}): ${r.stderr}`);
    for (const m of r.stderr.matchAll(/step: ([a-z ]+) \(at (\d+) ms\)/g)) (steps[`${m[1]?.replaceAll(' ', '_')}_at_ms`] ??= []).push(Number(m[2]));
    (steps['exit_ms'] ??= []).push(total);
  }
  console.log(
    JSON.stringify({
      bench: 'ssh', case: 'noop-job-steps', runs: RUNS, node_e_0_ms: round(median(nodeStart)),
      ...Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, round(median(v))])),
      note: 'medians of extra --verbose runs: when each step started, ms since process start; node -e 0 is Node alone in the same environment',
    }),
  );

  // 1 GiB of incompressible data, written in 16 MiB pieces.
  const big = join(local, 'big.bin');
  const fd = openSync(big, 'w');
  for (let n = 0; n < 64; n++) writeSync(fd, randomBytes(16 * 1024 * 1024));
  closeSync(fd);
  const clearBase = (): void => {
    for (const name of readdirSync(base)) rmSync(join(base, name), { recursive: true, force: true });
  };
  const program = join(sshd.dir, 'drop-input.sh');
  writeFileSync(program, '#!/bin/sh\nrm -f big.bin\n', { mode: 0o755 });
  const oursT: number[] = [];
  const plainT: number[] = [];
  for (let i = 0; i < 2; i++) {
    clearBase();
    const target = sshd.makeRemoteDir(`bench-base/plain-${i}`);
    plainT.push(run('rsync', ['-a', '-e', `ssh -F ${cfg}`, big, `${ALIAS}:${target}/`], local));
    clearBase();
    oursT.push(run(process.execPath, [cli, 'ssh', '-F', cfg, '--base', base, '--program', program, ALIAS, 'big.bin'], local));
  }
  clearBase();
  const oursRate = GiB / 2 ** 20 / (Math.min(...oursT) / 1000);
  const plainRate = GiB / 2 ** 20 / (Math.min(...plainT) / 1000);
  console.log(
    JSON.stringify({
      bench: 'ssh',
      case: 'transfer-1GiB',
      runs: 2,
      ours_s: round(Math.min(...oursT) / 1000),
      plain_rsync_s: round(Math.min(...plainT) / 1000),
      ours_MiB_per_s: round(oursRate),
      plain_rsync_MiB_per_s: round(plainRate),
      ratio: Math.round((oursRate / plainRate) * 1000) / 1000,
      target_min_ratio: 0.8,
      meets_target: oursRate / plainRate >= 0.8,
      note: 'ours is the whole job (connect, upload, run C which removes the input, fetch, place); plain is one rsync over a fresh connection',
    }),
  );
  rmSync(local, { recursive: true, force: true });
} finally {
  await sshd.stop();
}
