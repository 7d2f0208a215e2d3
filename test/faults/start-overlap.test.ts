// The start call that goes out together with the command's start (a leased calc of our relay):
// the command runs before the relay has answered calc-params-complete + calc-start. Held here
// on its way (the proxy holds the agent's requests, the answers still flow), so that what
// happens meanwhile is deterministic: a cancel, then the start refused; a kill -9 of the agent,
// then a new agent that sends the start again and never reruns the command.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isCancelled } from '../../src/client/relay-client.ts';
import { readJournal } from '../../src/agent/journal.ts';
import { alive, FaultRig } from '../helpers/fault-rig.ts';
import { STDERR_FILE } from '../../src/protocol/calc-info.ts';
import { awaitResult, text, type AgentProcess } from '../helpers/agent-process.ts';

describe('faults: the start call sent with the command\'s start', { timeout: 120_000 }, () => {
  let rig: FaultRig;
  let agent: AgentProcess;
  const progress = async (id: string): Promise<string> => (await rig.wf.calcProgress(id)).progress;
  const shPid = (id: string): number => Number(readFileSync(join(rig.workdir(id), 'sh.pid'), 'utf8').trim() || 'NaN');
  /** Submits `body` with the agent's requests held, and waits until its command runs. */
  const runningUnannounced = async (body: string): Promise<{ id: string; sh: number }> => {
    await new Promise((r) => setTimeout(r, 300)); // the agent's long poll is at the relay (--wait 60)
    rig.proxy.holdUpstream();
    const id = await rig.submit(`echo $$ > sh.pid; ${body}`);
    await rig.until('the command to run', () => rig.hasFile(id, 'sh.pid') && Number.isFinite(shPid(id)));
    // the relay has not heard of the start: the claim is all it has seen
    assert.equal(await progress(id), 'not start');
    assert.equal(readJournal(rig.workdir(id))?.startPending, true);
    return { id, sh: shPid(id) };
  };

  before(async () => {
    // a lease long enough that no heartbeat is due while the requests are held
    rig = await FaultRig.start({ leaseS: 20, graceS: 5 });
    agent = rig.startAgent(['--wait', '60']);
    await agent.waitFor(/code = 0300/);
  });
  after(async () => rig?.cleanup());

  it('cancelled before the start reached the relay: the start is refused, the command is stopped, nothing is sent', async () => {
    const { id, sh } = await runningUnannounced('sleep 60; echo late > out.txt');
    await rig.wf.cancelWaitCalc(id, { force: true });
    rig.proxy.releaseUpstream();
    await agent.waitFor(new RegExp(`accept_id ${id}: CANCELLED: the calc was cancelled by its workflow side; stopping the command`), 5000);
    await rig.until('the command to be stopped', () => !alive(sh), 8000);
    await agent.waitFor(new RegExp(`accept_id ${id}: given up`), 5000);
    await assert.rejects(rig.wf.calcProgress(id), (err) => isCancelled(err));
    assert.equal(rig.check([id]).terminal.get(id), 'cancelled');
    const kinds = rig.history().events.filter((e) => e.accept_id === id).map((e) => e.kind);
    assert.ok(!kinds.includes('calc-end') && !kinds.includes('send-results'), kinds.join(','));
    assert.equal(rig.hasFile(id, 'out.txt'), false);
    assert.equal(readJournal(rig.workdir(id))?.phase, 'abandoned');
  });

  it('kill -9 before the start reached the relay: the next agent sends it, waits for the command, never reruns it', async () => {
    const { id, sh } = await runningUnannounced('sleep 1; echo done > out.txt');
    await agent.kill9();
    rig.proxy.releaseUpstream();
    agent = rig.startAgent(['--wait', '60']);
    const r = await awaitResult(rig.wf, id);
    assert.equal(r.status, 'abnormal');
    assert.match(text(r.files[STDERR_FILE]), /restarted while the command was running, so its exit status is unknown; the command was not run again/);
    assert.equal(text(r.files['out.txt']), 'done\n');
    assert.equal(alive(sh), false);
    assert.equal(rig.runs().get(id), 1);
    rig.check([id]);
    const kinds = rig.history().events.filter((e) => e.accept_id === id).map((e) => e.kind);
    assert.ok(kinds.includes('calc-start') || kinds.includes('calc-params-complete'), kinds.join(','));
    const j = readJournal(rig.workdir(id));
    assert.equal(j?.phase, 'done');
    assert.deepEqual(j?.history.map((h) => h.phase), ['claimed', 'params', 'starting', 'running', 'exited', 'done']);
  });
});
