// Pickup latency of the polling agent: from the moment allow-wait-calc is answered to the
// moment the calc's command is running, with an idle agent long-polling a real relay (both
// separate processes on loopback). The command is /bin/date +%s.%N, so "running" is measured
// by the command itself. Printed next to an empty HTTP round trip of the same run.
// Target (issue 3): p50 <= 5 round trips + 2 ms, p99 <= 50 ms.
//
//   npm run build && npm run bench -- agent          (N=300 by default; BENCH_N to change)
//
// Measured 2026-11-25, runs alternating with the build of the session's start (N=150):
// p50 11.9 / 15.2 ms vs 27.2 / 28.2 ms; a full run: p50 20.0 ms, p99 32.9 ms, round trip
// 0.99 ms (target p50 6.9 ms: not met). The chain: claim answer (calc-info with it), working
// directory and journal, one call for params-complete + start, journal, two output files,
// spawn. On this VM creating a file costs 0.04-1 ms of kernel time, and the agent creates six
// before the command runs; fork+exec of a ~55 MiB Node process takes ~2.5 ms.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { STDOUT_FILE } from '../src/protocol/calc-info.ts';
import { AgentProcess, awaitResult, calcInfo, workflowClient } from '../test/helpers/agent-process.ts';
import { CLI, RelayProcess } from '../test/helpers/relay-process.ts';

const N = Number(process.env['BENCH_N'] ?? 300);
const SITE = 'bench-site';
const DATE = '/bin/date';

if (!existsSync(CLI)) {
  process.stderr.write('bench agent: run `npm run build` first (the relay and the agent run from dist/)\n');
  process.exit(2);
}

const nowMs = (): number => performance.timeOrigin + performance.now();
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
};
const r3 = (x: number): number => Math.round(x * 1000) / 1000;
const line = (o: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify({ bench: 'agent', ...o })}\n`);
};

const calcBase = mkdtempSync(join(tmpdir(), 'distcomp-bench-'));
const relay = await RelayProcess.start({ sites: { [SITE]: { commands: [DATE] } }, server: { rate_limit_per_minute: '0' } });
const agent = new AgentProcess([SITE, relay.url, `calc_base:${calcBase}`, '--allow-command', DATE], {
  env: { ...process.env, DISTCOMP_TOKEN: relay.token(), XDG_CONFIG_HOME: calcBase },
});
const wf = workflowClient(relay.url, relay.token());
try {
  await agent.waitFor(/code = 0300/);

  // baseline: an empty round trip on the same kind of client and connection
  const rtt: number[] = [];
  for (let i = 0; i < N + 20; i++) {
    const t0 = performance.now();
    await wf.serverFeatures();
    if (i >= 20) rtt.push(performance.now() - t0);
  }

  const pickup: number[] = [];
  const info = calcInfo(SITE, DATE, { parameters: '+%s.%N' });
  for (let i = 0; i < N + 10; i++) {
    const id = await wf.addCalcInfo(info);
    await new Promise((r) => setTimeout(r, 5)); // the agent is back in its long poll
    await wf.allowWaitCalc(id);
    const allowed = nowMs();
    const r = await awaitResult(wf, id);
    if (r.status !== 'completed') throw new Error(`calc ${id} ended ${r.status}`);
    const started = Number(Buffer.from(r.files[STDOUT_FILE]?.content ?? '', 'base64').toString().trim()) * 1000;
    if (i >= 10) pickup.push(started - allowed);
  }

  const rttP50 = pct(rtt, 50);
  line({ metric: 'http_round_trip_ms', what: 'GET x/features, keep-alive, same run', n: rtt.length, p50: r3(rttP50), p99: r3(pct(rtt, 99)) });
  const p50 = pct(pickup, 50);
  const p99 = pct(pickup, 99);
  const targetP50 = 5 * rttP50 + 2;
  line({
    metric: 'pickup_latency_ms', what: 'allow-wait-calc answered -> command running (idle long-polling agent, concurrency 1)',
    n: pickup.length, p50: r3(p50), p99: r3(p99), max: r3(Math.max(...pickup)),
    target_p50_ms: r3(targetP50), target_p99_ms: 50, meets_target: p50 <= targetP50 && p99 <= 50,
    p50_in_round_trips: r3(p50 / rttP50),
  });
} finally {
  await agent.kill9();
  await wf.close();
  await relay.cleanup();
  rmSync(calcBase, { recursive: true, force: true });
}
