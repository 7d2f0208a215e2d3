// Link faults between a real agent and the real relay (through our TcpProxy): a cut during a
// long poll, a short and a long cut while the command runs, a 1 MiB/s link during large
// transfers, and an agent whose clock is an hour off. After each, the history invariants.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJournal } from '../../src/agent/journal.ts';
import { alive, FaultRig } from '../helpers/fault-rig.ts';
import type { AgentProcess } from '../helpers/agent-process.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const STDERR = '計算標準エラー出力.txt';

describe('faults: the link', { timeout: 120_000 }, () => {
  let rig: FaultRig;
  let agent: AgentProcess;

  before(async () => {
    rig = await FaultRig.start({ leaseS: 1, graceS: 3 });
    agent = rig.startAgent();
    await agent.waitFor(/code = 0300/);
  });
  after(async () => rig?.cleanup());

  it('cut during a long poll: the agent reconnects and takes the next calc', async () => {
    await sleep(300); // inside a long poll (--wait 2)
    rig.proxy.cut();
    await sleep(1000);
    rig.proxy.restore();
    const id = await rig.submit('echo ok > out.txt');
    const r = await rig.ended(id);
    assert.equal(r.status, 'completed');
    assert.ok(rig.proxy.stats.resets > 0);
    assert.match(agent.stdout, /network failure \(calc-request/);
    rig.check([id]);
  });

  it('short cut during the run (longer than the lease, shorter than lease + grace): disconnected, still computing; then completes', async () => {
    const id = await rig.submit('sleep 2.5; echo ok > out.txt');
    await rig.until('the command to run', () => rig.runs().has(id));
    rig.proxy.cut();
    await rig.until('the relay to show the agent disconnected', async () => (await rig.wf.calcProgress(id)).liveness === 'disconnected, still computing', 3000);
    const p = await rig.wf.calcProgress(id);
    assert.equal(p.progress, 'running', 'disconnected is not failed');
    await sleep(600); // cut ~1.8 s in all: lease 1 s + grace 3 s not reached
    rig.proxy.restore();
    await rig.until('the heartbeat to come back', async () => (await rig.wf.calcProgress(id)).liveness !== 'disconnected, still computing', 3000);
    const r = await rig.ended(id);
    assert.equal(r.status, 'completed');
    rig.check([id]);
  });

  it('long cut during the run: the calc ends abnormal with the reason; the reconnected agent stops the command group and sends nothing', async () => {
    const id = await rig.submit('sleep 30 & echo $! > kid.pid; wait; echo late > out.txt');
    await rig.until('the command to run', () => rig.hasFile(id, 'kid.pid') && readFileSync(join(rig.workdir(id), 'kid.pid'), 'utf8').trim() !== '');
    const kid = Number(readFileSync(join(rig.workdir(id), 'kid.pid'), 'utf8'));
    rig.proxy.cut();
    const r = await rig.ended(id, 15_000);
    assert.equal(r.status, 'abnormal');
    assert.match(r.reason ?? '', /^lease expired: the polling agent of site "faults" \(attempt 1\) was not heard from/);
    // what the deployed workflow program does: calc-status abnormal (→ exit 1), stderr file with the reason
    assert.equal((await rig.wf.calcStatus(id)).status, 'abnormal');
    const files = await rig.wf.getCalcResult(id);
    assert.match(Buffer.from(files[STDERR]?.content ?? '', 'base64').toString('utf8'), /ended abnormal: the polling agent .* was not heard from/);
    assert.equal(files['out.txt']?.mimetype1, 'Error', 'no result of the lost agent');
    assert.ok(alive(kid), 'still computing on the cut-off computer');
    rig.proxy.restore();
    await agent.waitFor(/LEASE LOST/, 10_000);
    await rig.until('the command group to be stopped', () => !alive(kid), 5000);
    await agent.waitFor(new RegExp(`accept_id ${id}: given up`), 5000);
    const { terminal, refused } = rig.check([id]);
    assert.equal(terminal.get(id), 'lease-expired');
    assert.ok((refused.get(id) ?? []).some((e) => JSON.parse(e.detail ?? '{}').endpoint === 'x/heartbeat'), 'the stale heartbeat is in the history');
    // and the agent goes on taking work
    const next = await rig.submit('echo ok > out.txt');
    assert.equal((await rig.ended(next)).status, 'completed');
    rig.check([id, next]);
  });

  it('a 1 MiB/s link during large transfers (2 MiB in, 1.5 MiB out, streamed): heartbeats get through, no timeout cuts it', async () => {
    const input = randomBytes(1.5 * 1024 * 1024);
    rig.proxy.throttle(1024 * 1024);
    const t0 = Date.now();
    const id = await rig.submit('cat in.b64 | base64 -d > out.bin; sleep 0.5', { inputs: { 'in.b64': input.toString('base64') }, results: ['out.bin'] });
    const r = await rig.ended(id, 60_000);
    const took = Date.now() - t0;
    rig.proxy.throttle(null);
    assert.equal(r.status, 'completed', agent.stdout);
    // 2 MiB down (the base64 input file, as raw bytes through the streaming endpoints) and
    // 1.5 MiB up at 1 MiB/s, with a lease of 1 s: the heartbeats share the slow link
    assert.ok(took > 3300, `the link was not throttled (${took} ms)`);
    assert.ok(rig.proxy.stats.bytes > 3.4 * 1024 * 1024);
    const files = await rig.wf.getCalcResult(id);
    assert.equal(sha(Buffer.from(files['out.bin']?.content ?? '', 'base64')), sha(input));
    rig.check([id]);
  });

  it('an agent whose clock is an hour off: a run of many lease periods completes; times come from the relay\'s clock', async () => {
    await agent.kill9();
    const skewed = rig.startAgent(['--clock-skew-ms', String(3_600_000)]);
    await skewed.waitFor(/code = 0300/);
    const t0 = Date.now();
    const id = await rig.submit('sleep 3; echo ok > out.txt');
    assert.equal((await rig.ended(id)).status, 'completed');
    const agentTime = Date.parse(readJournal(rig.workdir(id))?.history[0]?.at ?? '');
    assert.ok(agentTime - t0 > 3_500_000, 'the agent really ran an hour ahead');
    for (const e of rig.history().events.filter((x) => x.accept_id === id)) {
      assert.ok(e.at >= t0 - 1000 && e.at <= Date.now() + 1000, `event ${e.kind} at ${e.at} is not on the relay's clock`);
    }
    rig.check([id]);
  });
});
