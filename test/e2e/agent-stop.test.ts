// End to end: Ctrl+C (SIGINT) and SIGTERM handling of `distcomp agent`, idle and busy, and
// the second Ctrl+C that stops the command's whole process group.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { RelayClient } from '../../src/client/relay-client.ts';
import { STDERR_FILE } from '../../src/protocol/calc-info.ts';
import { AgentProcess, Scratch, awaitResult, calcInfo, submit, text, workflowClient } from '../helpers/agent-process.ts';
import { RelayProcess } from '../helpers/relay-process.ts';

const SITE = 'site-stop';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('agent e2e: stopping', { timeout: 90_000 }, () => {
  const s = new Scratch();
  // writes "started", then waits until the file named by its first argument exists; writes result.txt
  const gate = s.script('gate.mjs', `
import { existsSync, writeFileSync } from 'node:fs';
const [release, started] = process.argv.slice(2);
writeFileSync(started, String(process.pid));
const t = setInterval(() => {
  if (existsSync(release)) { clearInterval(t); writeFileSync('result.txt', 'done'); }
}, 20);
`);
  // starts a grandchild in the same process group, records both pids, then waits forever
  const stubborn = s.script('stubborn.mjs', `
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
const kid = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
writeFileSync(process.argv[2], JSON.stringify({ self: process.pid, kid: kid.pid }));
setInterval(() => {}, 1000);
`);
  const calcBase = s.path('calcs');
  let relay: RelayProcess;
  let wf: RelayClient;
  let rules: string;
  const agents: AgentProcess[] = [];
  const startAgent = async (): Promise<AgentProcess> => {
    const a = new AgentProcess([SITE, relay.url, `calc_base:${calcBase}`, 'retry:2,0.2', '--rules', rules, '--kill-grace', '1'],
      { env: { ...process.env, DISTCOMP_TOKEN: relay.token() } });
    agents.push(a);
    await a.waitFor(/code = 0300/);
    return a;
  };

  before(async () => {
    mkdirSync(calcBase);
    relay = await RelayProcess.start({ sites: { [SITE]: { commands: [gate, stubborn] } } });
    rules = s.rules({ allowed_commands: [gate, stubborn] });
    wf = workflowClient(relay.url, relay.token());
  });

  after(async () => {
    for (const a of agents) await a.kill9();
    await wf?.close();
    await relay?.cleanup();
    s.cleanup();
  });

  it('idle: the first Ctrl+C prints the manual\'s line and exits 0 at once', async () => {
    const a = await startAgent();
    a.signal('SIGINT');
    const r = await a.exited(5_000);
    assert.equal(r.code, 0);
    assert.match(a.stdout, /^Ctrl \+ C スクリプト停止要求受付$/m);
    assert.match(a.stdout, /stop requested: no calc is running; exiting/);
  });

  it('idle: SIGTERM does the same (systemd stop)', async () => {
    const a = await startAgent();
    a.signal('SIGTERM');
    assert.equal((await a.exited(5_000)).code, 0);
  });

  it('busy: the first Ctrl+C lets the running calc finish and send its results, then exits 0', async () => {
    const a = await startAgent();
    const release = s.path('release-1');
    const started = s.path('started-1');
    const id = await submit(wf, calcInfo(SITE, gate, { parameters: `${release} ${started}`, results: ['result.txt'] }));
    await until('the command to start', () => existsSync(started));
    a.signal('SIGINT');
    await a.waitFor(/running calc\(s\) finish and send their results first/);
    assert.equal(a.child.exitCode, null, 'still running while the calc runs');
    writeFileSync(release, '');
    const r = await awaitResult(wf, id);
    assert.equal(r.status, 'completed');
    assert.equal(text(r.files['result.txt']), 'done');
    assert.equal((await a.exited()).code, 0);
    // it took no new calc after the Ctrl+C: a calc allowed now stays for the next agent
    const next = await submit(wf, calcInfo(SITE, gate, { parameters: `${release} ${s.path('started-never')}` }));
    assert.equal((await wf.calcProgress(next)).progress, 'not start');
    await wf.cancelWaitCalc(next, { force: true });
  });

  it('busy: a second Ctrl+C kills the command\'s process group, reports the calc abnormal, and exits', async () => {
    const a = await startAgent();
    const pids = s.path('pids.json');
    const id = await submit(wf, calcInfo(SITE, stubborn, { parameters: pids }));
    await until('the command to start', () => existsSync(pids) && readFileSync(pids, 'utf8').length > 0);
    const { self, kid } = JSON.parse(readFileSync(pids, 'utf8')) as { self: number; kid: number };
    a.signal('SIGINT');
    await a.waitFor(/Ctrl \+ C スクリプト停止要求受付/);
    a.signal('SIGINT');
    await a.waitFor(/second stop request/);
    const r = await awaitResult(wf, id);
    assert.equal(r.status, 'abnormal');
    assert.match(text(r.files[STDERR_FILE]), /stopped on the external computer/);
    const exit = await a.exited();
    assert.equal(exit.code, 130);
    await until('the whole process group to be gone', () => !alive(self) && !alive(kid), 5_000);
  });
});
