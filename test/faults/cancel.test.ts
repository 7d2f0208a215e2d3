// Cancellation (cancel-wait-calc with delete=force, what submit's Ctrl+C and the deployed
// workflow program send) in every state of a calc, with a real agent: the calc ends exactly
// once, as cancelled, visible as such; a running command's whole process group is stopped
// within seconds; nothing is sent after the cancel.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RelayClient, isCancelled } from '../../src/client/relay-client.ts';
import { alive, FaultRig, SITE } from '../helpers/fault-rig.ts';
import type { AgentProcess } from '../helpers/agent-process.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('faults: cancellation in every state', { timeout: 120_000 }, () => {
  let rig: FaultRig;
  let agent: AgentProcess;
  const progress = async (id: string): Promise<string> => (await rig.wf.calcProgress(id)).progress;
  const cancel = (id: string): Promise<void> => rig.wf.cancelWaitCalc(id, { force: true });
  /** The workflow side sees the calc as cancelled (code 400 + cancelled: true). */
  const seesCancelled = async (id: string): Promise<void> => {
    await assert.rejects(rig.wf.calcProgress(id), (err) => isCancelled(err));
    await assert.rejects(rig.wf.calcStatus(id), (err) => isCancelled(err));
  };

  before(async () => {
    rig = await FaultRig.start({ leaseS: 1, graceS: 3 });
    agent = rig.startAgent();
    await agent.waitFor(/code = 0300/);
  });
  after(async () => rig?.cleanup());

  it('registered, never allowed', async () => {
    const id = await rig.submit('echo ok > out.txt', { allow: false });
    await cancel(id);
    await seesCancelled(id);
    const { terminal } = rig.check([id]);
    assert.equal(terminal.get(id), 'cancelled');
  });

  it('allowed, not yet claimed (the agent cut off): it is never run', async () => {
    rig.proxy.cut();
    await sleep(300);
    const id = await rig.submit('echo ok > out.txt');
    await cancel(id);
    rig.proxy.restore();
    const probe = await rig.submit('echo ok > out.txt');
    assert.equal((await rig.ended(probe)).status, 'completed');
    await seesCancelled(id);
    assert.equal(rig.runs().get(id), undefined);
    assert.equal(rig.check([id, probe]).terminal.get(id), 'cancelled');
  });

  it('claimed, inputs downloading (sending params): the agent learns it (heartbeat, or its download refused) and never runs it', async () => {
    rig.proxy.throttle(64 * 1024);
    const id = await rig.submit('echo ok > out.txt', { inputs: { 'in.b64': randomBytes(256 * 1024).toString('base64') } });
    await rig.until('the download to start', async () => (await progress(id)) === 'sending params');
    await cancel(id);
    // whichever comes first: the heartbeat's answer, or the relay refusing the blob of a cancelled calc
    await agent.waitFor(new RegExp(`accept_id ${id}: given up: the calc was cancelled by its workflow side`), 5000);
    rig.proxy.throttle(null);
    await seesCancelled(id);
    assert.equal(rig.runs().get(id), undefined);
    assert.equal(rig.check([id]).terminal.get(id), 'cancelled');
  });

  it('complete send (a lease-aware poller of our own): calc-start and the heartbeat are refused as cancelled', async () => {
    rig.proxy.cut(); // keep the agent out of this one
    await sleep(300);
    const poller = new RelayClient({ baseUrl: rig.relay.url, token: rig.relay.token(), retry: { retries: 0, intervalMs: 0, jitter: 0 } });
    try {
      const id = await rig.submit('echo ok > out.txt');
      const claim = await poller.calcRequest(SITE, { lease: true });
      assert.equal(claim.kind, 'calc');
      assert.ok(claim.kind === 'calc' && claim.acceptId === id && claim.lease !== null);
      const attempt = claim.kind === 'calc' ? claim.attempt : null;
      await poller.calcParams(SITE, id, { attempt });
      await poller.calcParamsComplete(SITE, id, { attempt });
      await cancel(id);
      await assert.rejects(poller.calcStart(SITE, id, { attempt }), (err) => isCancelled(err));
      await assert.rejects(poller.heartbeat(SITE, id, attempt as number), (err) => isCancelled(err));
      await seesCancelled(id);
      const { terminal, refused } = rig.check([id]);
      assert.equal(terminal.get(id), 'cancelled');
      assert.equal(refused.get(id)?.length, 2);
    } finally {
      await poller.close();
      rig.proxy.restore();
    }
  });

  it('running: the whole process group is stopped (TERM, then KILL) within seconds; nothing is sent', async () => {
    // the shell ignores TERM, so the agent must escalate to KILL after --kill-grace (1 s)
    const id = await rig.submit('trap "" TERM; sleep 60 & echo $! > kid.pid; echo $$ > sh.pid; wait; echo late > out.txt');
    const pidOf = (name: string): number => Number(readFileSync(join(rig.workdir(id), name), 'utf8').trim() || 'NaN');
    await rig.until('the command to run', () => rig.hasFile(id, 'sh.pid') && rig.hasFile(id, 'kid.pid') && Number.isFinite(pidOf('sh.pid')) && Number.isFinite(pidOf('kid.pid')));
    const [sh, kid] = [pidOf('sh.pid'), pidOf('kid.pid')];
    const t0 = Date.now();
    await cancel(id);
    await rig.until('the process group to be gone', () => !alive(sh) && !alive(kid), 8000);
    const took = Date.now() - t0;
    assert.ok(took < 5000, `took ${took} ms`);
    await agent.waitFor(new RegExp(`accept_id ${id}: given up`), 5000);
    await seesCancelled(id);
    const { terminal } = rig.check([id]);
    assert.equal(terminal.get(id), 'cancelled');
    const ev = rig.history().events.filter((e) => e.accept_id === id).map((e) => e.kind);
    assert.ok(!ev.includes('calc-end') && !ev.includes('send-results'), ev.join(','));
  });

  it('calc end, results uploading: the upload is stopped or refused; the calc stays cancelled', async () => {
    rig.proxy.throttle(128 * 1024);
    const id = await rig.submit('head -c 1048576 /dev/urandom > out.bin', { results: ['out.bin'] });
    await rig.until('the upload to start', async () => (await progress(id)) === 'calc end');
    await cancel(id);
    await agent.waitFor(new RegExp(`accept_id ${id}: given up`), 10_000);
    rig.proxy.throttle(null);
    await seesCancelled(id);
    const { terminal } = rig.check([id]);
    assert.equal(terminal.get(id), 'cancelled');
    const kinds = rig.history().events.filter((e) => e.accept_id === id).map((e) => e.kind);
    assert.ok(!kinds.includes('send-results'), kinds.join(','));
  });

  it('got return: a forced cancel discards the results; the calc had already ended once', async () => {
    const id = await rig.submit('echo ok > out.txt');
    assert.equal((await rig.ended(id)).status, 'completed');
    await cancel(id);
    await seesCancelled(id);
    const { terminal } = rig.check([id]);
    assert.equal(terminal.get(id), 'end-send');
    assert.ok(rig.history().events.some((e) => e.accept_id === id && e.kind === 'discarded'));
  });
});
