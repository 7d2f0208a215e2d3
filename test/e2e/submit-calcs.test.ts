// End to end: `distcomp submit` against the real relay and a real `distcomp agent`, all
// separate processes on 127.0.0.1: completed, abnormal, hostile output directory, Ctrl+C
// while running, SIGTERM, a relay without long polling, a relay that is down, bad input.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { join } from 'node:path';
import { ProtocolFailure } from '../../src/client/client-errors.ts';
import type { RelayClient } from '../../src/client/relay-client.ts';
import { STDERR_FILE, STDOUT_FILE } from '../../src/protocol/calc-info.ts';
import { AgentProcess, Scratch, workflowClient } from '../helpers/agent-process.ts';
import { freePort, RelayProcess } from '../helpers/relay-process.ts';
import { runSubmit, SubmitProcess } from '../helpers/submit-process.ts';

const SITE = 'site-submit';

describe('submit e2e', { timeout: 120_000 }, () => {
  const s = new Scratch();
  const calc = s.script('calc.mjs', `
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
const args = process.argv.slice(2);
console.log('args=' + JSON.stringify(args));
const input = readFileSync('input.txt', 'utf8');
mkdirSync('sub', { recursive: true });
writeFileSync('out.txt', input.toUpperCase());
writeFileSync('sub/deep.txt', 'deep ' + input);
if (args[0] === 'fail') { console.error('boom: failed on purpose'); process.exit(3); }
console.error('a note on stderr');
`);
  const sleeper = s.script('sleeper.mjs', `
import { writeFileSync } from 'node:fs';
writeFileSync(${JSON.stringify(s.path('sleeper-started'))}, process.env.CALC_DIR ?? '');
setTimeout(() => writeFileSync('out.txt', 'late'), 8000);
`);
  let relay: RelayProcess;
  let agent: AgentProcess;
  let wf: RelayClient;
  let token: string;
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, DISTCOMP_TOKEN: token });

  /** A fresh directory for program A's side, holding input.txt. */
  const workDir = (content = 'hello'): string => {
    const d = mkdtempSync(join(s.dir, 'wf-'));
    writeFileSync(join(d, 'input.txt'), content);
    return d;
  };

  before(async () => {
    const calcBase = s.path('calcs');
    mkdirSync(calcBase);
    relay = await RelayProcess.start({ sites: { [SITE]: { commands: [calc, sleeper] } } });
    token = relay.token();
    const rules = s.rules({ allowed_commands: [calc, sleeper] });
    agent = new AgentProcess([SITE, relay.url, `calc_base:${calcBase}`, 'retry:2,0.2', '--rules', rules, '--concurrency', '6'], {
      env: { ...process.env, DISTCOMP_TOKEN: token },
    });
    await agent.waitFor(/code = 0300/);
    wf = workflowClient(relay.url, token);
  });

  after(async () => {
    await agent?.kill9();
    await wf?.close();
    await relay?.cleanup();
    s.cleanup();
  });

  it('completed: the deployed grammar, progress lines, results written here, exit 0, token never printed', async () => {
    const d = workDir('hello');
    const r = await runSubmit([relay.url, SITE, token, calc, 'input.txt', 'out.txt:sub/deep.txt', "a 'b c'"], { cwd: d, env: { ...process.env, DISTCOMP_TOKEN: '' } });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^accept_id = [0-9a-f-]{36}$/m);
    assert.match(r.stdout, /^progress status change from not start to /m);
    assert.match(r.stdout, /^progress status change from .* to got return$/m);
    assert.match(r.stdout, /^calc status = completed$/m);
    assert.equal(readFileSync(join(d, 'out.txt'), 'utf8'), 'HELLO');
    assert.equal(readFileSync(join(d, 'sub', 'deep.txt'), 'utf8'), 'deep hello');
    assert.equal(readFileSync(join(d, STDOUT_FILE), 'utf8'), 'args=["a","b c"]\n');
    assert.equal(readFileSync(join(d, STDERR_FILE), 'utf8'), 'a note on stderr\n');
    assert.ok(!(r.stdout + r.stderr).includes(token), 'the token is never printed');
  });

  it('completed with flags, the token from DISTCOMP_TOKEN, results into --out', async () => {
    const d = workDir('flags');
    const r = await runSubmit(['--url', relay.url, '--site', SITE, '--command', calc, '--in', 'input.txt', '--result', 'out.txt', '--out', 'results', '-q'], { cwd: d, env: env() });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '', '--quiet prints nothing on success');
    assert.equal(readFileSync(join(d, 'results', 'out.txt'), 'utf8'), 'FLAGS');
    assert.equal(existsSync(join(d, 'out.txt')), false);
  });

  it('the token from a token file (mode 600); a group-readable one is refused before anything is sent', async () => {
    const d = workDir('file');
    const tf = join(d, 'token');
    writeFileSync(tf, `${token}\n`, { mode: 0o600 });
    chmodSync(tf, 0o600);
    const args = [relay.url, SITE, calc, 'input.txt', 'out.txt', '--token-file', tf];
    const ok = await runSubmit(args, { cwd: d });
    assert.equal(ok.code, 0, ok.stderr);
    chmodSync(tf, 0o640);
    const before = Object.keys((await wf.getCalcInfo()) as object).length;
    const bad = await runSubmit(args, { cwd: d });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /may be read by other users \(mode 640\); run: chmod 600/);
    assert.equal(Object.keys((await wf.getCalcInfo()) as object).length, before, 'nothing registered');
  });

  it('abnormal: exit 1, the calc\'s stderr shown, the files that exist still written', async () => {
    const d = workDir('x');
    const r = await runSubmit([relay.url, SITE, calc, 'input.txt', 'out.txt', 'fail'], { cwd: d, env: env() });
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^calc status = abnormal$/m);
    assert.match(r.stderr, /ended abnormal/);
    assert.match(r.stderr, /boom: failed on purpose/);
    assert.equal(readFileSync(join(d, 'out.txt'), 'utf8'), 'X');
  });

  it('a requested file that did not come back: its message shown, nothing written under its name', async () => {
    const d = workDir('y');
    const r = await runSubmit([relay.url, SITE, calc, 'input.txt', 'out.txt:never-made.dat'], { cwd: d, env: env() });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /"never-made\.dat" was not sent back: 出力指定ファイル\(never-made\.dat\)がありませんでした。/);
    assert.equal(existsSync(join(d, 'never-made.dat')), false);
  });

  it('never writes through a symbolic link already in the output directory', async () => {
    const d = workDir('safe');
    const outside = join(s.dir, 'outside.txt');
    writeFileSync(outside, 'UNTOUCHED');
    symlinkSync(outside, join(d, 'out.txt'));
    symlinkSync(s.dir, join(d, 'sub'));
    const r = await runSubmit([relay.url, SITE, calc, 'input.txt', 'out.txt:sub/deep.txt'], { cwd: d, env: env() });
    assert.equal(readFileSync(outside, 'utf8'), 'UNTOUCHED');
    assert.equal(lstatSync(join(d, 'out.txt')).isSymbolicLink(), false, 'the link was replaced, not followed');
    assert.equal(readFileSync(join(d, 'out.txt'), 'utf8'), 'SAFE');
    assert.equal(existsSync(join(s.dir, 'deep.txt')), false, 'nothing written through the directory link');
    assert.match(r.stderr, /"sub\/deep\.txt" NOT written: .*not a directory/);
    assert.equal(r.code, 1, 'a result that could not be written makes the run fail');
  });

  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    it(`${sig} while the command runs: the calc is cancelled and gone from the relay`, async () => {
      const d = workDir('z');
      rmMarker();
      const p = new SubmitProcess([relay.url, SITE, sleeper, 'input.txt', 'out.txt'], { cwd: d, env: env() });
      const m = await p.waitFor(/accept_id = ([0-9a-f-]{36})/);
      const id = m[1] as string;
      await p.waitFor(/to running$/m);
      p.child.kill(sig);
      const r = await p.done();
      assert.equal(r.code, sig === 'SIGINT' ? 130 : 143, p.show());
      assert.match(r.stderr, new RegExp(`calc ${id} cancelled on the relay`));
      await assert.rejects(wf.calcStatus(id), (e: unknown) => e instanceof ProtocolFailure && String(e.code) === '400');
      const dump = (await wf.getCalcInfo()) as Record<string, unknown>;
      assert.equal(id in dump, false, 'get-calcinfo no longer lists it');
    });
  }
  it('a calc cancelled by someone else while it runs: exit 1, said so', async () => {
    const d = workDir('gone');
    const p = new SubmitProcess([relay.url, SITE, sleeper, 'input.txt', 'out.txt'], { cwd: d, env: env() });
    const id = (await p.waitFor(/accept_id = ([0-9a-f-]{36})/))[1] as string;
    await p.waitFor(/to running$/m);
    await wf.cancelWaitCalc(id, { force: true });
    const r = await p.done();
    assert.equal(r.code, 1, p.show());
    assert.match(r.stderr, new RegExp(`calc ${id}: the relay no longer knows it \\(cancelled elsewhere, or removed\\)`));
  });

  function rmMarker(): void {
    try {
      writeFileSync(s.path('sleeper-started'), '');
    } catch { /* first time */ }
  }

  it('a relay that lacks long polling (no x-distcomp-features): polls every --poll-interval and completes', async () => {
    let sawWait = false;
    let progressCalls = 0;
    let statusCalls = 0;
    const proxy: Server = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.searchParams.has('wait') || u.searchParams.has('since')) sawWait = true;
      if (u.pathname.endsWith('/calc-progress')) progressCalls++;
      const target = new URL(relay.url);
      if (u.pathname.endsWith('/calc-status')) statusCalls++;
      const up = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
        const h = { ...r.headers };
        delete h['x-distcomp-features'];
        // the deployed relay's calc-progress answer carries only the progress
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => {
          let body = Buffer.concat(chunks).toString();
          if (u.pathname.endsWith('/calc-progress')) {
            const j = JSON.parse(body) as { errors: Record<string, unknown>[] };
            for (const e of j.errors) {
              delete e['calc_status'];
              delete e['reason'];
            }
            body = JSON.stringify(j);
          }
          delete h['content-length'];
          res.writeHead(r.statusCode ?? 502, h);
          res.end(body);
        });
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const addr = proxy.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      const d = workDir('old');
      const r = await runSubmit([`http://127.0.0.1:${port}`, SITE, calc, 'input.txt', 'out.txt', '--poll-interval', '0.2'], { cwd: d, env: env() });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(join(d, 'out.txt'), 'utf8'), 'OLD');
      assert.equal(sawWait, false, 'never sent wait=/since= to a relay that did not announce long polling');
      assert.ok(progressCalls >= 1);
      assert.equal(statusCalls, 1, 'the status is asked with calc-status, as the deployed relay needs');
      assert.match(r.stdout, /^calc status = completed$/m);
    } finally {
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });

  it('a relay that is down: exit 2 with a clear message, after the retries', async () => {
    const port = await freePort();
    const d = workDir();
    const r = await runSubmit([`http://127.0.0.1:${port}`, SITE, calc, 'input.txt', 'out.txt', '--retry', '2,0.1'], { cwd: d, env: env() });
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`distcomp submit: cannot reach the relay at http://127\\.0\\.0\\.1:${port} \\(.*ECONNREFUSED.*\\) after 2 retries; is the base url right and the relay running\\?`));
    assert.equal((r.stderr.match(/retry \d\/2/g) ?? []).length, 2, 'one line per retry');
  });

  it('a wrong token: exit 2, the relay\'s refusal, the token masked', async () => {
    const d = workDir();
    const wrong = 'ab'.repeat(32);
    const r = await runSubmit([relay.url, SITE, wrong, calc, 'input.txt', 'out.txt'], { cwd: d });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /refused the API token \(abab\*{8}…\(64 chars\), from argument\) on add-calcinfo: status code = 403/);
    assert.ok(!r.stderr.includes(wrong));
  });

  it('bad input: clear messages, exit 2, nothing registered', async () => {
    const d = workDir();
    const before = Object.keys((await wf.getCalcInfo()) as object).length;
    const cases: [string[], RegExp][] = [
      [[relay.url, SITE, calc, 'missing.txt', 'out.txt'], /input file .*missing\.txt cannot be read: ENOENT \(nothing was sent\)/],
      [[relay.url, SITE, calc, 'input.txt', '../escape.txt'], /result file name "\.\.\/escape\.txt" has a "\.\." path segment/],
      [[relay.url, SITE, calc, 'input.txt'], /expected <base url> <site id> \[api token\] <command> <infiles> <result files> \[parameter\]/],
      [['ftp://x', SITE, calc, 'input.txt', 'out.txt'], /base url must look like https:\/\/host/],
      [['--bogus', relay.url, SITE, calc, 'input.txt', 'out.txt'], /unknown option "--bogus"/],
      [[relay.url, SITE, '/not/allowed', 'input.txt', 'out.txt'], /code = 401 \/ message = invalid command name\(\/not\/allowed\)/],
    ];
    for (const [args, re] of cases) {
      const r = await runSubmit(args, { cwd: d, env: env() });
      assert.equal(r.code, 2, `${args.join(' ')}\n${r.stderr}`);
      assert.match(r.stderr, re);
    }
    const r = await runSubmit([relay.url, SITE, calc, 'input.txt', 'out.txt'], { cwd: d, env: { ...process.env, DISTCOMP_TOKEN: '' } });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no API token: give it as the third argument, with --token-file FILE \(mode 600\), or in DISTCOMP_TOKEN/);
    assert.equal(Object.keys((await wf.getCalcInfo()) as object).length, before, 'nothing registered');
  });
});
