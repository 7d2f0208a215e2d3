// Wall time of one whole `distcomp submit` (spawn to exit) for a calc that runs `true`, with an
// idle agent long-polling a real relay (all three separate processes on loopback), next to
// same-run baselines: `node -e 0`, `distcomp --version` (the CLI's own start), and spawning
// `sh -c true`. Target (issue 4): p50 <= CLI start + spawn + 25 ms.
//
//   npm run build && npm run bench -- e2e          (N=40 by default; BENCH_N to change)
//
// Measured 2026-11-25 on a shared 2-CPU box whose load (other sessions' test suites) swung
// between 2 and 20 during the runs, so every figure below moved by +-30 % from run to run:
//
//   client on undici (before):   submit p50 517-676 ms, CLI start 163-238 ms (submit - CLI 340-440)
//   client on node:http (now):   submit p50 330-534 ms, CLI start 155-262 ms (submit - CLI 154-271)
//   node -e 0 122-204 ms, sh -c true 5-11 ms: target NOT met (it asks for submit - CLI <= ~30).
//   Same builds interleaved in one quieter run (30 each): undici 438 ms, now 280, --version 155.
//
// Where the time goes now (median of 15 traced runs, ms from the submit process's start):
// start -> first request 68 (`--version` start -> exit: 28; the difference is loading the
// 19 modules of submit plus node:http, ~0.5-1 ms per file here, and Node's cold first
// http.request(), ~5 ms); add-calcinfo 6; allow-wait-calc 3 (+7 of cold code between them);
// the agent's own chain, calc-request answered -> end-send answered: 57 (8 requests, 2 of them
// x/blobs status calls for the two empty result files, and the spawn of `true`); the last
// long-poll answer + get-calc-result 6; writing the files and exiting 8; process teardown ~10.
// The agent's chain alone is twice the target's margin. What would shorten the calc is on the
// relay/agent side: small results sent inline rather than as blobs (2 requests fewer per
// file), one call to register and allow, and a calc-progress that waits for a given progress
// and lists the changes it saw (5 long-poll round trips fewer, each one relay CPU on 2 cores).
// Before: undici's import cost ~170 ms of every submit, and V8 --liftoff-only was needed to
// keep its WebAssembly parser from delaying the exit (both gone with undici).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { AgentProcess } from '../test/helpers/agent-process.ts';
import { CLI, RelayProcess } from '../test/helpers/relay-process.ts';
import { emit, percentile } from './bench-stats.ts';

const N = Math.max(30, Number(process.env['BENCH_N'] ?? 40));
const WARMUP = 3;
const SITE = 'bench-e2e';
const TRUE = '/bin/true';

if (!existsSync(CLI)) {
  process.stderr.write('bench e2e: run `npm run build` first (the relay, the agent and submit run from dist/)\n');
  process.exit(2);
}

/** Wall time of one process, spawn to exit, ms; throws unless it exits 0. */
function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<number> {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const c = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('error', rej);
    c.on('close', (code) => {
      const ms = performance.now() - t0;
      if (code === 0) res(ms);
      else rej(new Error(`${cmd} ${args.join(' ')} exited ${String(code)}: ${err}`));
    });
  });
}

interface Series {
  label: string;
  cmd: string;
  args: string[];
  xs: number[];
}

/**
 * Runs the series interleaved (one of each per round), so that a machine whose load drifts
 * (a shared CI box) weighs on every figure alike; the first rounds are warm-up.
 */
async function interleaved(all: Series[], env: NodeJS.ProcessEnv, cwd: string): Promise<void> {
  for (let i = 0; i < N + WARMUP; i++) {
    for (const s of all) {
      const ms = await timed(s.cmd, s.args, env, cwd);
      if (i >= WARMUP) s.xs.push(ms);
    }
  }
  for (const s of all) {
    emit({ bench: 'e2e', what: s.label, n: s.xs.length, p50_ms: percentile(s.xs, 50), p99_ms: percentile(s.xs, 99), min_ms: Math.min(...s.xs) });
  }
}

const dir = mkdtempSync(join(tmpdir(), 'distcomp-bench-e2e-'));
const relay = await RelayProcess.start({ sites: { [SITE]: { commands: [TRUE] } }, server: { rate_limit_per_minute: '0' } });
const agent = new AgentProcess([SITE, relay.url, `calc_base:${dir}`, '--allow-command', TRUE], {
  env: { ...process.env, DISTCOMP_TOKEN: relay.token(), XDG_CONFIG_HOME: dir },
});
try {
  await agent.waitFor(/code = 0300/);
  const env = { ...process.env, DISTCOMP_TOKEN: relay.token() };
  const node: Series = { label: 'node -e 0', cmd: process.execPath, args: ['-e', '0'], xs: [] };
  const cliStart: Series = { label: 'distcomp --version (CLI start)', cmd: process.execPath, args: [CLI, '--version'], xs: [] };
  const shSpawn: Series = { label: 'spawn sh -c true', cmd: '/bin/sh', args: ['-c', 'true'], xs: [] };
  const submitRun: Series = {
    label: 'distcomp submit (calc running true, idle agent)', cmd: process.execPath,
    args: [CLI, 'submit', relay.url, SITE, TRUE, '', '', '--quiet'], xs: [],
  };
  await interleaved([node, cliStart, shSpawn, submitRun], env, dir);
  const [cli, sh, submit] = [cliStart.xs, shSpawn.xs, submitRun.xs];
  const target = percentile(cli, 50) + percentile(sh, 50) + 25;
  emit({
    bench: 'e2e', what: 'summary', n: submit.length,
    submit_p50_ms: percentile(submit, 50), submit_p99_ms: percentile(submit, 99),
    node_p50_ms: percentile(node.xs, 50), cli_start_p50_ms: percentile(cli, 50), spawn_sh_p50_ms: percentile(sh, 50),
    target_p50_ms: target, target_met: percentile(submit, 50) <= target,
    submit_minus_cli_start_p50_ms: percentile(submit, 50) - percentile(cli, 50),
    // the same difference taken within each round (the two ran seconds apart), then its median:
    // steadier than the difference of two medians when the machine's load drifts
    submit_minus_cli_start_paired_p50_ms: percentile(submit.map((x, i) => x - (cli[i] as number)), 50),
  });
} finally {
  await agent.kill9();
  await relay.cleanup();
  rmSync(dir, { recursive: true, force: true });
}
