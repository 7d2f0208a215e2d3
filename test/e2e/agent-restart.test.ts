// End to end: network trouble and restarts. The relay down at start and again during a calc
// (the agent retries, then completes); the agent killed with -9 after the command finished and
// before the results were sent (a new agent resumes from the journal and never reruns it).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJournal } from '../../src/agent/journal.ts';
import type { RelayClient } from '../../src/client/relay-client.ts';
import { AgentProcess, Scratch, awaitResult, calcInfo, submit, text, workflowClient } from '../helpers/agent-process.ts';
import { RelayProcess, freePort } from '../helpers/relay-process.ts';

const SITE = 'site-restart';

async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('agent e2e: network trouble and restarts', { timeout: 90_000 }, () => {
  const s = new Scratch();
  // appends to runs.log, writes "started", waits for the release file, writes result.txt
  const gate = s.script('gate.mjs', `
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
const [release, started] = process.argv.slice(2);
appendFileSync(${JSON.stringify(s.path('runs.log'))}, process.env.CALC_DIR + '\\n');
writeFileSync(started, '');
const t = setInterval(() => {
  if (existsSync(release)) { clearInterval(t); writeFileSync('result.txt', 'result of ' + process.pid); }
}, 20);
`);
  const calcBase = s.path('calcs');
  let relay: RelayProcess;
  let wf: RelayClient;
  let rules: string;
  const agents: AgentProcess[] = [];
  const agent = (): AgentProcess => {
    const a = new AgentProcess([SITE, relay.url || `http://127.0.0.1:${relay.port}`, `calc_base:${calcBase}`, 'retry:200,0.1', '--rules', rules],
      { env: { ...process.env, DISTCOMP_TOKEN: relay.token() } });
    agents.push(a);
    return a;
  };
  const runs = (): string[] => (existsSync(s.path('runs.log')) ? readFileSync(s.path('runs.log'), 'utf8').trim().split('\n') : []);

  before(async () => {
    mkdirSync(calcBase);
    relay = await RelayProcess.start({ sites: { [SITE]: { commands: [gate] } }, port: await freePort(), start: false });
    rules = s.rules({ allowed_commands: [gate] });
  });

  after(async () => {
    for (const a of agents) await a.kill9();
    await wf?.close();
    await relay?.cleanup();
    s.cleanup();
  });

  it('relay down at start and during a calc: retries, one line per attempt, then completes', async () => {
    const a = agent();
    await a.waitFor(/network failure \(calc-request: .*ECONNREFUSED.*retry 2\/200/);
    await relay.restart();
    await a.waitFor(/code = 0300/);
    wf = workflowClient(relay.url, relay.token());
    const release = s.path('release-1');
    const started = s.path('started-1');
    const id = await submit(wf, calcInfo(SITE, gate, { parameters: `${release} ${started}`, results: ['result.txt'] }));
    await until('the command to start', () => existsSync(started));
    await relay.kill9();
    writeFileSync(release, '');
    await a.waitFor(/network failure \((calc-end|send-results): .*ECONNREFUSED.*retry 2\/200/);
    await relay.restart();
    const r = await awaitResult(wf, id);
    assert.equal(r.status, 'completed');
    assert.match(text(r.files['result.txt']), /^result of \d+$/);
    assert.equal(runs().length, 1);
    a.signal('SIGTERM');
    assert.equal((await a.exited()).code, 0);
  });

  it('kill -9 after the command finished, before the results were sent: the restarted agent sends them without rerunning', async () => {
    const a = agent();
    await a.waitFor(/code = 0300/);
    const release = s.path('release-2');
    const started = s.path('started-2');
    const id = await submit(wf, calcInfo(SITE, gate, { parameters: `${release} ${started}`, results: ['result.txt'] }));
    await until('the command to start', () => existsSync(started));
    await relay.kill9();
    writeFileSync(release, '');
    const workdir = join(calcBase, id);
    await until('the journal to record the end of the command', () => ['exited', 'ended'].includes(readJournal(workdir)?.phase ?? ''));
    await a.waitFor(/network failure \((calc-end|send-results)/);
    await a.kill9();
    const resultBefore = readFileSync(join(calcBase, id, 'result.txt'), 'utf8');
    await relay.restart();
    const b = agent();
    await b.waitFor(new RegExp(`resume accept_id ${id} from step "(exited|ended)"`));
    const r = await awaitResult(wf, id);
    assert.equal(r.status, 'completed');
    assert.equal(text(r.files['result.txt']), resultBefore, 'the result of the first (only) run');
    assert.equal(runs().filter((l) => l.endsWith(id)).length, 1, 'the command ran once');
    await b.waitFor(new RegExp(`accept_id ${id}: completed; results returned`));
    assert.equal(readJournal(workdir)?.phase, 'done');
    b.signal('SIGINT');
    assert.equal((await b.exited()).code, 0);
  });

  it('kill -9 while the command runs: the restarted agent never reruns it and reports the calc abnormal', async () => {
    const a = agent();
    await a.waitFor(/code = 0300/);
    const release = s.path('release-3');
    const started = s.path('started-3');
    const id = await submit(wf, calcInfo(SITE, gate, { parameters: `${release} ${started}`, results: ['result.txt'] }));
    await until('the command to start', () => existsSync(started));
    await a.kill9();
    const b = agent();
    await b.waitFor(new RegExp(`resume accept_id ${id} from step "running"`));
    writeFileSync(release, ''); // the orphaned command ends; the new agent notices
    const r = await awaitResult(wf, id);
    assert.equal(r.status, 'abnormal');
    assert.match(text(r.files['計算標準エラー出力.txt']), /restarted while the command was running/);
    assert.equal(runs().filter((l) => l.endsWith(id)).length, 1, 'the command ran once');
    b.signal('SIGINT');
    assert.equal((await b.exited()).code, 0);
  });
});
