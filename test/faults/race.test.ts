// 50 agent processes race for 1,000 calcs through the proxy: every calc ends exactly once,
// completed, its command run exactly once, no stale step accepted.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { FaultRig } from '../helpers/fault-rig.ts';

const AGENTS = 50;
const CALCS = 1000;

describe('faults: 50 agents racing for 1,000 calcs', { timeout: 240_000 }, () => {
  let rig: FaultRig;

  before(async () => {
    rig = await FaultRig.start({ leaseS: 2, graceS: 10 });
  });
  after(async () => rig?.cleanup());

  it('every calc is claimed, run and ended exactly once', async () => {
    const t0 = Date.now();
    // registered while the agents start (2 cores: both take a while), allowed once all poll
    const ids: string[] = [];
    const register = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) ids.push(await rig.submit('echo ok > out.txt', { allow: false }));
    };
    const registering = Promise.all(Array.from({ length: 4 }, () => register(CALCS / 4)));
    const agents = Array.from({ length: AGENTS }, (_, i) => {
      const base = join(rig.calcBase, `a${i}`);
      mkdirSync(base);
      return rig.startAgent(['--wait', '5'], base);
    });
    await Promise.all(agents.map((a) => a.waitFor(/code = 0300/, 90_000)));
    await registering;
    const started = Date.now();
    const queue = [...ids];
    const allow = async (): Promise<void> => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) await rig.wf.allowWaitCalc(id);
    };
    await Promise.all(Array.from({ length: 8 }, allow));
    const submitted = Date.now();
    await rig.until('all calcs to end', () => rig.history().events.filter((e) => e.kind === 'end-send').length >= CALCS, 180_000);
    const done = Date.now();
    const { calcs } = rig.history();
    assert.equal(calcs.length, CALCS);
    for (const c of calcs) assert.equal(c.status, 'completed', `${c.accept_id}: ${c.status} ${c.reason ?? ''}`);
    const { terminal } = rig.check(ids);
    assert.equal([...terminal.values()].filter((k) => k === 'end-send').length, CALCS);
    const runs = rig.runs();
    assert.equal(runs.size, CALCS);
    const busy = agents.filter((a) => /calc received/.test(a.stdout)).length;
    assert.ok(busy >= AGENTS / 2, `only ${busy} of ${AGENTS} agents got work`);
    process.stderr.write(`race: agents up and calcs registered ${started - t0} ms, allowed in ${submitted - started} ms, all ended ${done - started} ms after the first allow; ${busy} agents busy\n`);
  });
});
