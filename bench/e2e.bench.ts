// Wall time of one whole `distcomp submit` (spawn to exit) for a calc that runs `true`, with an
// idle agent long-polling a real relay (all three separate processes on loopback), next to
// same-run baselines: `node -e 0`, `distcomp --version` (the CLI's own start), and spawning
// `sh -c true`. Target (issue 4): p50 <= CLI start + spawn + 25 ms.
//
//   npm run build && npm run bench -- e2e          (N=40 by default; BENCH_N to change)
//
// Measured 2026-11-25 on a shared 2-CPU box under load 5-30 (an empty HTTP round trip took
// 2-6 ms there instead of ~0.3 ms): node -e 0 p50 135 ms, CLI start 647 ms, sh -c true 5 ms,
// submit p50 830 ms / p99 1134 ms, i.e. CLI start + 183 ms: target NOT met on that machine.
// In-process, the calc itself (register .. results written) took ~95 ms = ~15 round trips of
// that run; the rest is process start and exit. V8 --liftoff-only (submit-command.ts) took
// 270 ms off the exit. Most of the CLI start is loading modules (undici alone ~0.5 s there).
// Re-measure on an idle machine before drawing conclusions.
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
  });
} finally {
  await agent.kill9();
  await relay.cleanup();
  rmSync(dir, { recursive: true, force: true });
}
