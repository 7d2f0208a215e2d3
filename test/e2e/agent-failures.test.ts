// End to end: what the agent does when it cannot work, and the other ways to start it:
// a bad token (403) and an unknown site id are reported at once with the manual's lines; an
// unreachable relay is retried as `retry:` says, then the agent exits non-zero; `login`;
// token files; two agents on one site; a relay that only knows the deployed protocol.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { RelayClient } from '../../src/client/relay-client.ts';
import { STDOUT_FILE } from '../../src/protocol/calc-info.ts';
import { AgentProcess, Scratch, awaitResult, calcInfo, submit, text, workflowClient } from '../helpers/agent-process.ts';
import { RelayProcess, freePort } from '../helpers/relay-process.ts';

const SITE = 'site-f';

describe('agent e2e: failures and other ways to start', { timeout: 90_000 }, () => {
  const s = new Scratch();
  const work = s.script('work.mjs', `
import { appendFileSync } from 'node:fs';
appendFileSync(${JSON.stringify(s.path('runs.log'))}, process.env.CALC_DIR + '\\n');
await new Promise((r) => setTimeout(r, 50));
console.log('worked ' + process.argv.slice(2).join(' '));
`);
  const calcBase = s.path('calcs');
  let relay: RelayProcess;
  let wf: RelayClient;
  let rules: string;
  const agents: AgentProcess[] = [];
  const agent = (args: string[], o: { env?: NodeJS.ProcessEnv; input?: string } = {}): AgentProcess => {
    const a = new AgentProcess(args, { env: o.env ?? { ...process.env, DISTCOMP_TOKEN: '' }, input: o.input });
    agents.push(a);
    return a;
  };

  before(async () => {
    mkdirSync(calcBase);
    relay = await RelayProcess.start({
      sites: { [SITE]: { commands: [work] } },
      users: [{ name: 'alice', password: 'correct horse battery' }, { name: 'bob' }],
    });
    rules = s.rules({ allowed_commands: [work], workdirs: { after_success: 'remove' } });
    wf = workflowClient(relay.url, relay.token('alice'));
  });

  after(async () => {
    for (const a of agents) await a.kill9();
    await wf?.close();
    await relay?.cleanup();
    s.cleanup();
  });

  it('a wrong token: the manual\'s 403 line, at once, and a non-zero exit', async () => {
    const a = agent([SITE, relay.url, 'f'.repeat(64), 'retry:5,60', '--rules', rules]);
    const r = await a.exited(10_000);
    assert.equal(r.code, 2);
    assert.match(a.stdout, /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d:status code = 403 \/ reason = \{"errors":\[\{"code":"0005","message":"\/mi-distcomp-api\/calc-request への実行権がありません。"\}\]\}$/m);
    assert.match(a.stdout, /ERROR: the relay refused the token/);
  });

  it('an unknown site id: the manual\'s line, at once, and a non-zero exit', async () => {
    const a = agent(['no-such-site', relay.url, relay.token(), 'retry:5,60', '--rules', rules]);
    assert.equal((await a.exited(10_000)).code, 2);
    assert.match(a.stdout, /^code = 400 \/ message = Your site-id\(no-such-site\) does not match in the list that acceptable to\.$/m);
    assert.match(a.stdout, /ERROR: the relay does not accept site id "no-such-site"/);
  });

  it('no relay: one line per retry, then a clear message and a non-zero exit', async () => {
    const port = await freePort();
    const a = agent([SITE, `http://127.0.0.1:${port}`, relay.token(), 'retry:3,0.05', '--rules', rules]);
    assert.equal((await a.exited(10_000)).code, 2);
    const retries = a.stdout.match(/network failure \(calc-request: .*ECONNREFUSED.*; retry \d\/3 in/g) ?? [];
    assert.equal(retries.length, 3);
    assert.match(a.stdout, /gave up after 3 retries/);
    assert.match(a.stdout, /ERROR: cannot reach the relay at http:\/\/127\.0\.0\.1:\d+ \(.*ECONNREFUSED.*\) after 3 retries/);
  });

  it('bad words and options are refused with a clear message', async () => {
    for (const [args, msg] of [
      [[SITE, relay.url, relay.token(), 'retry:five,60'], /retry:: expected COUNT,INTERVAL/],
      [[SITE, relay.url, relay.token(), 'prot:443'], /the third argument|unknown word "prot:443"/],
      [[SITE, 'ftp://x', relay.token()], /base url must look like https:\/\/host/],
      [[SITE, relay.url, relay.token(), `calc_base:${s.path('nope')}`], /calc_base .* does not exist/],
      [[SITE, relay.url, relay.token()], /no command may run on this computer/],
    ] as const) {
      const a = agent([...args], { env: { ...process.env, DISTCOMP_TOKEN: '', HOME: s.dir, XDG_CONFIG_HOME: s.path('xdg') } });
      assert.equal((await a.exited(10_000)).code, 2, String(args));
      assert.match(a.stderr, msg);
    }
  });

  it('a token file readable by others is refused; a private one works', async () => {
    const file = s.path('token');
    writeFileSync(file, `${relay.token()}\n`);
    chmodSync(file, 0o644);
    const bad = agent([SITE, relay.url, '--token-file', file, '--rules', rules]);
    assert.equal((await bad.exited(10_000)).code, 2);
    assert.match(bad.stderr, /may be read by other users \(mode 644\); run: chmod 600/);
    chmodSync(file, 0o600);
    const good = agent([SITE, relay.url, '--token-file', file, '--rules', rules]);
    await good.waitFor(/code = 0300/);
    assert.match(good.stdout, /^token = .*\(from token file\)$/m);
    good.signal('SIGINT');
    assert.equal((await good.exited()).code, 0);
  });

  it('login: asks for the login id and password, gets a token, keeps it in memory only', async () => {
    const a = agent([SITE, relay.url, 'login', '--rules', rules], { input: 'alice\ncorrect horse battery\n' });
    await a.waitFor(/code = 0300/);
    assert.match(a.stdout, /^token = [0-9a-f]{4}\*{8}…\(64 chars\) \(from login\)$/m);
    a.signal('SIGINT');
    assert.equal((await a.exited()).code, 0);
    const wrong = agent([SITE, relay.url, 'login', '--rules', rules], { input: 'alice\nwrong password\n' });
    assert.equal((await wrong.exited(15_000)).code, 2);
    assert.match(wrong.stdout, /login refused/);
  });

  it('two agents on one site: every calc runs exactly once', async () => {
    const env = { ...process.env, DISTCOMP_TOKEN: relay.token() };
    const a1 = agent([SITE, relay.url, `calc_base:${calcBase}`, '--rules', rules], { env });
    const a2 = agent([SITE, relay.url, `calc_base:${calcBase}`, '--rules', rules, '--concurrency', '2'], { env });
    await a1.waitFor(/code = 0300/);
    await a2.waitFor(/code = 0300/);
    const ids = await Promise.all(Array.from({ length: 8 }, (_, i) => submit(wf, calcInfo(SITE, work, { parameters: `n${i}` }))));
    const results = await Promise.all(ids.map((id) => awaitResult(wf, id)));
    results.forEach((r, i) => {
      assert.equal(r.status, 'completed');
      assert.equal(text(r.files[STDOUT_FILE]), `worked n${i}\n`);
    });
    const runs = readFileSync(s.path('runs.log'), 'utf8').trim().split('\n');
    for (const id of ids) assert.equal(runs.filter((l) => l.endsWith(id)).length, 1, `${id} ran once`);
    a1.signal('SIGINT');
    a2.signal('SIGINT');
    assert.equal((await a1.exited()).code, 0);
    assert.equal((await a2.exited()).code, 0);
  });

  it('a relay that only knows the deployed protocol (no long-poll header): plain polling still works', async () => {
    // a proxy in front of the real relay that removes the x-distcomp-features header and the `wait` parameter
    let sawWait = false;
    let polls = 0;
    const proxy: Server = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.searchParams.has('wait')) sawWait = true;
      if (u.pathname.endsWith('/calc-request')) polls++;
      const target = new URL(relay.url);
      const up = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        const h = { ...r.headers };
        delete h['x-distcomp-features'];
        res.writeHead(r.statusCode ?? 502, h);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const addr = proxy.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      const a = agent([SITE, `http://127.0.0.1:${port}`, '--rules', rules, '--poll-interval', '0.1'], { env: { ...process.env, DISTCOMP_TOKEN: relay.token() } });
      await a.waitFor(/code = 0300/);
      const deadline = Date.now() + 10_000;
      while (polls < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const id = await submit(wf, calcInfo(SITE, work, { parameters: 'old' }));
      const r = await awaitResult(wf, id);
      assert.equal(r.status, 'completed');
      assert.equal(text(r.files[STDOUT_FILE]), 'worked old\n');
      assert.equal(sawWait, false, 'never sent wait= to a relay that did not announce long polling');
      assert.ok(polls >= 6, 'it kept polling at its interval');
      assert.match(a.stdout, /the line above repeated \d+ more times/);
      a.signal('SIGINT');
      assert.equal((await a.exited()).code, 0);
      // many identical idle answers, few lines
      const idle = a.stdout.split('\n').filter((l) => l.startsWith('code = 0300'));
      assert.ok(idle.length <= 3, `idle lines collapsed (got ${idle.length})`);
    } finally {
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });
});
