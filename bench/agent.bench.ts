// Pickup latency of the polling agent: from the moment allow-wait-calc is answered to the
// moment the calc's command is running, with an idle agent long-polling a real relay (both
// separate processes on loopback). The command is /bin/date +%s.%N, so "running" is measured
// by the command itself. Printed next to an empty HTTP round trip of the same run.
// Target (issue 3): p50 <= 5 round trips + 2 ms, p99 <= 50 ms.
//
// CORRECTION (2026-12-02, fourth session): the round trips below (0.77-1.18 ms) were taken
// right after the relay started; the baseline is now warm (see the code). Then, on this VM:
// round trip 0.39 ms (our client over node:http), target 3.97 ms, pickup p50 13.6 ms, p99 26 ms
// (34 round trips): not met.
//
//   npm run build && npm run bench -- agent          (N=300 by default; BENCH_N to change)
//
// Measured 2026-12-02 (N=300), each run paired with one of the 2026-11-25 build right before it,
// on the shared 2-core VM whose load swings the figures by ±50 % (p50, ms; target in brackets):
//   this build:           7.61 [6.15]  5.20 [6.82]  7.26 [7.24]  6.49 [7.89]  6.77 [6.38]
//   2026-11-25, paired:  11.57 [5.83] 10.98 [5.90] 12.86 [7.30] 15.00 [7.15] 11.67 [6.86]
// p99 11-23 ms vs 28-44 ms; round trip 0.77-1.18 ms. Target p50 met in 2 of 5 runs (missed by
// 1.5, 0.02 and 0.4 ms), never by the old build; p99 <= 50 ms always. Earlier pairs at quieter
// moments: spare directory alone 3.99 [4.57] and 6.29 [6.53] vs 5.67 and 8.20.
// Where the time goes now (medians of per-step timestamps, quiet vs loaded moment): the relay
// answers the long poll with the claim 0.9-1.6 ms after allow-wait-calc's answer; the agent's
// JS, the journal append and building the request 0.5 ms; the combined params-complete + start
// call 2.2-4.7 ms (an empty round trip is 0.5-1 ms: the rest is the relay's transaction and
// the client); the journal append and the message to the pre-forked helper 0.4 ms; the
// helper's exec until /bin/date runs 1.8-2.9 ms. Nothing is created on disk and nothing forks
// on this path any more: the working directory, journal and output files come from a spare
// made while idle, and the command is exec'd by a helper forked while idle (docs/agent.md).
// The cost moved to the idle moment after each calc: ~0.5 ms of file creation and a fork of the
// agent (2-9 ms, blocking its event loop) plus perl's start (1.6 ms of CPU) while the next long
// poll waits; a calc allowed in that instant waits for it (a likely part of the p99 tail here,
// where the bench allows the next calc ~5-10 ms after the previous one ended).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { STDOUT_FILE } from '../src/protocol/calc-info.ts';
import { AgentProcess, awaitResult, calcInfo, workflowClient } from '../test/helpers/agent-process.ts';
import { CLI, RelayProcess } from '../test/helpers/relay-process.ts';
import { emit, percentile, timeEach } from './bench-stats.ts';

const N = Number(process.env['BENCH_N'] ?? 300);
const SITE = 'bench-site';
const DATE = '/bin/date';

if (!existsSync(CLI)) {
  process.stderr.write('bench agent: run `npm run build` first (the relay and the agent run from dist/)\n');
  process.exit(2);
}

const nowMs = (): number => performance.timeOrigin + performance.now();

const calcBase = mkdtempSync(join(tmpdir(), 'distcomp-bench-'));
const relay = await RelayProcess.start({ sites: { [SITE]: { commands: [DATE] } }, server: { rate_limit_per_minute: '0' } });
const agent = new AgentProcess([SITE, relay.url, `calc_base:${calcBase}`, '--allow-command', DATE], {
  env: { ...process.env, DISTCOMP_TOKEN: relay.token(), XDG_CONFIG_HOME: calcBase },
});
const wf = workflowClient(relay.url, relay.token());
try {
  await agent.waitFor(/code = 0300/);

  // baseline: an empty round trip on the same kind of client and connection, warm (the first
  // ones after the relay starts take 2-4 times as long: its code and the client's not yet
  // optimized; before 2026-12-02's fourth session this baseline was those first ones), measured
  // before and after the pickups. The pickup path itself runs once per calc and stays colder
  // (the relay's CPU per calc in the e2e bench is 12-20 ms, against ~2 ms under load): the
  // ratio compares a path as an idle agent meets it with a warm round trip.
  const rtt: number[] = [];
  const roundTrip = (): Promise<unknown> => wf.serverFeatures();
  await timeEach(3000, roundTrip, []);
  await timeEach(N, roundTrip, rtt);

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
  await timeEach(N, roundTrip, rtt);

  // emit() rounds every figure to 3 decimals
  const rttP50 = percentile(rtt, 50);
  emit({ bench: 'agent', metric: 'http_round_trip_ms', what: 'GET x/features, keep-alive, same run', n: rtt.length, p50: rttP50, p99: percentile(rtt, 99) });
  const p50 = percentile(pickup, 50);
  const p99 = percentile(pickup, 99);
  const targetP50 = 5 * rttP50 + 2;
  emit({
    bench: 'agent', metric: 'pickup_latency_ms', what: 'allow-wait-calc answered -> command running (idle long-polling agent, concurrency 1)',
    n: pickup.length, p50, p99, max: Math.max(...pickup),
    target_p50_ms: targetP50, target_p99_ms: 50, meets_target: p50 <= targetP50 && p99 <= 50,
    p50_in_round_trips: p50 / rttP50,
  });
} finally {
  await agent.kill9();
  await wf.close();
  await relay.cleanup();
  rmSync(calcBase, { recursive: true, force: true });
}
