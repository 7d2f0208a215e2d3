// kill -9 of the relay (after registration, in a long poll, during an input download, during
// a result upload) and of the agent (after the claim, during the run with and without a
// restart, after the run before the upload). After each, the history invariants.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readJournal } from '../../src/agent/journal.ts';
import { FaultRig } from '../helpers/fault-rig.ts';
import type { AgentProcess } from '../helpers/agent-process.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const STDERR = '計算標準エラー出力.txt';

describe('faults: kill -9 of the relay and of the agent', { timeout: 240_000 }, () => {
  let rig: FaultRig;
  let agent: AgentProcess;
  const progress = async (id: string): Promise<string> => (await rig.wf.calcProgress(id)).progress;
  const restartRelay = async (): Promise<void> => {
    await rig.relay.kill9();
    await sleep(300);
    await rig.relay.restart();
  };

  before(async () => {
    // grace 8 s: the restarts below must come back in time even on a loaded 2-core machine
    rig = await FaultRig.start({ leaseS: 1, graceS: 8 });
    agent = rig.startAgent();
    await agent.waitFor(/code = 0300/);
  });
  after(async () => rig?.cleanup());

  it('relay killed after a registration: the calc survives and completes', async () => {
    const id = await rig.submit('echo ok > out.txt', { allow: false });
    await restartRelay();
    await rig.wf.allowWaitCalc(id);
    assert.equal((await rig.ended(id)).status, 'completed');
    rig.check([id]);
  });

  it('relay killed during a long poll: the agent reconnects and completes the next calc', async () => {
    await sleep(500);
    await restartRelay();
    const id = await rig.submit('echo ok > out.txt');
    assert.equal((await rig.ended(id)).status, 'completed');
    rig.check([id]);
  });

  it('relay killed during an input download: the lease holder fetches its inputs again; byte-identical', async () => {
    const input = randomBytes(768 * 1024);
    rig.proxy.throttle(256 * 1024);
    const id = await rig.submit('base64 -d in.b64 > out.bin', { inputs: { 'in.b64': input.toString('base64') }, results: ['out.bin'] });
    await rig.until('the download to start', async () => (await progress(id)) === 'sending params');
    await sleep(800);
    await restartRelay();
    rig.proxy.throttle(null);
    const r = await rig.ended(id);
    assert.equal(r.status, 'completed', agent.stdout);
    const files = await rig.wf.getCalcResult(id);
    assert.equal(sha(Buffer.from(files['out.bin']?.content ?? '', 'base64')), sha(input));
    rig.check([id]);
  });

  it('relay killed during a result upload: the upload is sent again; byte-identical', async () => {
    rig.proxy.throttle(256 * 1024);
    const id = await rig.submit('head -c 786432 /dev/urandom > out.bin', { results: ['out.bin'] });
    await rig.until('the upload to start', async () => (await progress(id)) === 'calc end');
    await sleep(800);
    await restartRelay();
    rig.proxy.throttle(null);
    const r = await rig.ended(id);
    assert.equal(r.status, 'completed', agent.stdout);
    const files = await rig.wf.getCalcResult(id);
    const out = Buffer.from(files['out.bin']?.content ?? '', 'base64');
    assert.equal(out.length, 786432);
    // what the agent read from its working directory is what arrived
    const { readFileSync } = await import('node:fs');
    assert.equal(sha(out), sha(readFileSync(`${rig.workdir(id)}/out.bin`)));
    rig.check([id]);
  });

  it('agent killed after the claim (inputs half downloaded): the restarted agent resumes under its lease; the command runs once', async () => {
    rig.proxy.throttle(128 * 1024);
    const id = await rig.submit('echo ok > out.txt', { inputs: { 'in.b64': randomBytes(384 * 1024).toString('base64') } });
    await rig.until('the download to start', async () => (await progress(id)) === 'sending params');
    await sleep(500);
    await agent.kill9();
    rig.proxy.throttle(null);
    agent = rig.startAgent();
    const r = await rig.ended(id);
    assert.equal(r.status, 'completed', agent.stdout);
    assert.match(agent.stdout, /resume accept_id .* from step "claimed"/);
    rig.check([id]);
  });

  it('agent killed during the run, then restarted: it reconciles, reports abnormal (exit status unknown), never reruns', async () => {
    const id = await rig.submit('sleep 1.5; echo ok > out.txt');
    await rig.until('the command to run', () => rig.runs().has(id));
    // the agent journals the pid right after the spawn: killed in that instant (the command may
    // already be running), the restarted agent cannot wait for the orphan; not what this tests
    await rig.until('the pid in the journal', () => readJournal(rig.workdir(id))?.phase === 'running');
    await agent.kill9();
    agent = rig.startAgent();
    const r = await rig.ended(id);
    assert.equal(r.status, 'abnormal');
    const files = await rig.wf.getCalcResult(id);
    assert.match(Buffer.from(files[STDERR]?.content ?? '', 'base64').toString('utf8'), /restarted while the command was running/);
    assert.equal(Buffer.from(files['out.txt']?.content ?? '', 'base64').toString('utf8'), 'ok\n', 'the orphan finished its work and it was sent');
    const { terminal } = rig.check([id]);
    assert.equal(terminal.get(id), 'end-send');
  });

  it('agent killed during the run and not restarted: the lease expires and the calc ends abnormal with the reason', async () => {
    const id = await rig.submit('sleep 1; echo ok > out.txt');
    await rig.until('the command to run', () => rig.runs().has(id));
    await agent.kill9();
    const r = await rig.ended(id, 25_000);
    assert.equal(r.status, 'abnormal');
    assert.match(r.reason ?? '', /^lease expired/);
    const { terminal } = rig.check([id]);
    assert.equal(terminal.get(id), 'lease-expired');
    agent = rig.startAgent();
    // generous: the race file may be starting 50 agents on the same 2 cores right now
    await agent.waitFor(/code = 0300/, 90_000);
  });

  it('agent killed after the run, before the upload: the restarted agent sends the results; the command ran once', async () => {
    const id = await rig.submit('sleep 0.5; echo ok > out.txt');
    await rig.until('the command to run', () => rig.runs().has(id));
    rig.proxy.pause();
    await agent.waitFor(new RegExp(`accept_id ${id}: command ended, exit code 0`), 10_000);
    await sleep(200);
    await agent.kill9();
    rig.proxy.resume();
    agent = rig.startAgent();
    // the killed agent's last request may still reach the relay when the link resumes (it was
    // whole in the proxy) and end the calc; the restarted agent resumes either way, and finds
    // the relay at or past where its journal stands
    await agent.waitFor(/resume accept_id .* from step "(exited|ended)"/, 90_000); // generous: see above
    const r = await rig.ended(id);
    assert.equal(r.status, 'completed', agent.stdout);
    const files = await rig.wf.getCalcResult(id);
    assert.equal(Buffer.from(files['out.txt']?.content ?? '', 'base64').toString('utf8'), 'ok\n');
    rig.check([id]);
  });
});
