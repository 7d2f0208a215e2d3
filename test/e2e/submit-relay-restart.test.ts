// `distcomp submit` keeps waiting through a relay restart (kill -9, back on the same port):
// the calc, persisted by the relay, completes and its results are written.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentProcess, Scratch } from '../helpers/agent-process.ts';
import { RelayProcess } from '../helpers/relay-process.ts';
import { SubmitProcess } from '../helpers/submit-process.ts';

const SITE = 'site-restart';

describe('submit e2e: relay restart while the calc runs', { timeout: 90_000 }, () => {
  const s = new Scratch();
  const release = s.path('release');
  const waiter = s.script('waiter.mjs', `
import { existsSync, writeFileSync } from 'node:fs';
const end = Date.now() + 30000;
const t = setInterval(() => {
  if (existsSync(${JSON.stringify(release)}) || Date.now() > end) {
    clearInterval(t);
    writeFileSync('out.txt', existsSync(${JSON.stringify(release)}) ? 'released' : 'timed out');
  }
}, 50);
`);
  let relay: RelayProcess;
  let agent: AgentProcess;

  before(async () => {
    mkdirSync(s.path('calcs'));
    relay = await RelayProcess.start({ sites: { [SITE]: { commands: [waiter] } } });
    agent = new AgentProcess([SITE, relay.url, `calc_base:${s.path('calcs')}`, 'retry:60,0.25', '--allow-command', waiter], {
      env: { ...process.env, DISTCOMP_TOKEN: relay.token(), XDG_CONFIG_HOME: s.dir },
    });
    await agent.waitFor(/code = 0300/);
  });
  after(async () => {
    await agent?.kill9();
    await relay?.cleanup();
    s.cleanup();
  });

  it('completes after the relay was killed and restarted', async () => {
    const d = mkdtempSync(join(s.dir, 'wf-'));
    const p = new SubmitProcess([relay.url, SITE, waiter, '', 'out.txt', '--retry', '3,0.5'], { cwd: d, env: { ...process.env, DISTCOMP_TOKEN: relay.token() } });
    await p.waitFor(/to running$/m);
    await relay.kill9();
    await p.waitFor(/calc-progress: .*; retry 1\/30/);
    await relay.restart();
    writeFileSync(release, '');
    const r = await p.done(60_000);
    assert.equal(r.code, 0, p.show());
    assert.equal(readFileSync(join(d, 'out.txt'), 'utf8'), 'released');
    assert.match(r.stdout, /to got return$/m);
  });
});
