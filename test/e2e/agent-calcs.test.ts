// End to end: the real relay and `distcomp agent` as separate processes on 127.0.0.1, one
// agent serving every calc of this file in turn (as in production).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readJournal } from '../../src/agent/journal.ts';
import { ProtocolFailure } from '../../src/client/client-errors.ts';
import type { RelayClient } from '../../src/client/relay-client.ts';
import { STDERR_FILE, STDOUT_FILE } from '../../src/protocol/calc-info.ts';
import { AgentProcess, Scratch, awaitResult, calcInfo, submit, text, workflowClient } from '../helpers/agent-process.ts';
import { RelayProcess } from '../helpers/relay-process.ts';

const SITE = 'site-e2e';

describe('agent e2e: calcs', { timeout: 90_000 }, () => {
  const s = new Scratch();
  // the command under test: prints its argv and CALC_DIR, copies input.txt upper-cased to out/result.txt
  const echoArgs = s.script('echo-args.mjs', `
import { writeFileSync, readFileSync, mkdirSync, appendFileSync } from 'node:fs';
const args = process.argv.slice(2);
appendFileSync(${JSON.stringify(s.path('runs.log'))}, process.env.CALC_DIR + '\\n');
console.log(JSON.stringify({ args, calcDir: process.env.CALC_DIR, cwd: process.cwd(), token: process.env.DISTCOMP_TOKEN ?? null }));
console.error('a line on stderr');
let input = '';
try { input = readFileSync('input.txt', 'utf8'); } catch {}
mkdirSync('out', { recursive: true });
writeFileSync('out/result.txt', input.toUpperCase());
if (args[0] === 'fail') process.exit(3);
`);
  const noOutput = s.script('no-output.mjs', 'console.log("produced nothing");');
  const notAllowedHere = s.script('not-allowed-here.mjs', `import { writeFileSync } from 'node:fs'; writeFileSync(${JSON.stringify(s.path('SHOULD-NOT-EXIST'))}, 'ran');`);
  const symlinker = s.script('symlinker.mjs', `
import { symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
symlinkSync(${JSON.stringify(s.path('secret.txt'))}, 'leak.txt');
mkdirSync('real');
symlinkSync(${JSON.stringify(s.dir)}, 'dirlink');
writeFileSync('real/ok.txt', 'fine');
`);
  writeFileSync(s.path('secret.txt'), 'SECRET');
  const calcBase = s.path('calcs');
  let relay: RelayProcess;
  let agent: AgentProcess;
  let wf: RelayClient;

  before(async () => {
    const { mkdirSync } = await import('node:fs');
    mkdirSync(calcBase);
    relay = await RelayProcess.start({ sites: { [SITE]: { commands: [echoArgs, noOutput, notAllowedHere, symlinker] } } });
    const rules = s.rules({ allowed_commands: [echoArgs, noOutput, symlinker], workdirs: { after_success: 'keep' } });
    agent = new AgentProcess([SITE, relay.url, relay.token(), `calc_base:${calcBase}`, 'retry:2,0.2', '--rules', rules]);
    await agent.waitFor(/code = 0300 \/ message = There is no information for accept_id\(None\), about the your site id\(site-e2e\)/);
    wf = workflowClient(relay.url, relay.token());
  });

  after(async () => {
    await agent?.kill9();
    await wf?.close();
    await relay?.cleanup();
    s.cleanup();
  });

  it('prints the manual\'s start lines with the token masked', () => {
    assert.match(agent.stdout, /^site id = site-e2e$/m);
    assert.match(agent.stdout, new RegExp(`^base url = ${relay.url.replace(/[.]/g, '\\.')}$`, 'm'));
    assert.match(agent.stdout, /^token = [0-9a-f]{4}\*{8}…\(64 chars\)/m);
    assert.match(agent.stdout, new RegExp(`^calc_base = ${calcBase}$`, 'm'));
    assert.ok(!agent.stdout.includes(relay.token()), 'the whole token is never printed');
  });

  it('runs a calc: inputs in, arguments literal, CALC_DIR set, results back, completed', async () => {
    const id = await submit(wf, calcInfo(SITE, echoArgs, {
      parameters: `a 'b c' "d e" f\\ g`, inputs: { 'input.txt': 'hello' }, results: ['out/result.txt'],
    }));
    const r = await awaitResult(wf, id);
    assert.equal(r.status, 'completed');
    const out = JSON.parse(text(r.files[STDOUT_FILE])) as { args: string[]; calcDir: string; cwd: string; token: string | null };
    assert.deepEqual(out.args, ['a', 'b c', 'd e', 'f g']);
    assert.equal(out.calcDir, join(calcBase, id));
    assert.equal(out.cwd, join(calcBase, id));
    assert.equal(out.token, null);
    assert.equal(text(r.files[STDERR_FILE]), 'a line on stderr\n');
    assert.equal(text(r.files['out/result.txt']), 'HELLO');
    assert.equal(r.files['out/result.txt']?.mimetype1, 'text/plain;');
    // the working directory stays (after_success: keep) with its journal at "done"
    await agent.waitFor(new RegExp(`accept_id ${id}: completed; results returned`));
    assert.equal(readJournal(join(calcBase, id))?.phase, 'done');
  });

  it('passes shell syntax as literal arguments and runs no shell', async () => {
    const pwned = s.path('pwned');
    const id = await submit(wf, calcInfo(SITE, echoArgs, { parameters: `; touch ${pwned} $(id) \`id\` && rm -rf ~ | cat > x` }));
    const r = await awaitResult(wf, id);
    assert.equal(r.status, 'completed');
    const out = JSON.parse(text(r.files[STDOUT_FILE])) as { args: string[] };
    assert.deepEqual(out.args, [';', 'touch', pwned, '$(id)', '`id`', '&&', 'rm', '-rf', '~', '|', 'cat', '>', 'x']);
    assert.equal(existsSync(pwned), false, 'nothing was touched');
    assert.equal(existsSync(join(calcBase, id, 'x')), false, 'nothing was redirected');
  });

  it('reports a non-zero exit as abnormal and still returns the files', async () => {
    const id = await submit(wf, calcInfo(SITE, echoArgs, { parameters: 'fail', inputs: { 'input.txt': 'x' }, results: ['out/result.txt'] }));
    const r = await awaitResult(wf, id);
    assert.equal(r.status, 'abnormal');
    assert.equal(text(r.files['out/result.txt']), 'X');
    assert.equal(text(r.files[STDERR_FILE]), 'a line on stderr\n');
  });

  it('reports a missing result file the spec\'s way, and the calc abnormal', async () => {
    const id = await submit(wf, calcInfo(SITE, noOutput, { results: ['wanted.dat'] }));
    const r = await awaitResult(wf, id);
    assert.equal(r.status, 'abnormal');
    assert.deepEqual(r.files['wanted.dat'], { content: '', mimetype1: 'Error', mimetype2: '出力指定ファイル(wanted.dat)がありませんでした。' });
    assert.equal(text(r.files[STDOUT_FILE]), 'produced nothing\n');
    assert.match(text(r.files[STDERR_FILE]), /none of the requested result files was produced/);
  });

  it('never runs a command the relay does not allow (refused at registration)', async () => {
    await assert.rejects(wf.addCalcInfo(calcInfo(SITE, '/bin/sh', { parameters: '-c "touch /tmp/x"' })), (e: unknown) => e instanceof ProtocolFailure && e.code === 401);
  });

  it('never runs a command the relay allows but this computer\'s rules do not', async () => {
    const id = await submit(wf, calcInfo(SITE, notAllowedHere, { results: ['any.txt'] }));
    const r = await awaitResult(wf, id);
    assert.equal(r.status, 'abnormal');
    assert.match(text(r.files[STDERR_FILE]), /not run on the external computer: the command ".*not-allowed-here\.mjs" is not in this computer's list of allowed commands/);
    assert.equal(existsSync(s.path('SHOULD-NOT-EXIST')), false);
    await agent.waitFor(new RegExp(`accept_id ${id}: NOT RUN: `));
  });

  it('never follows a symlink out of the working directory, and refuses hostile names', async () => {
    await assert.rejects(wf.addCalcInfo(calcInfo(SITE, symlinker, { results: ['../secret.txt'] })), (e: unknown) => e instanceof ProtocolFailure && e.code === 400);
    await assert.rejects(wf.addCalcInfo(calcInfo(SITE, symlinker, { inputs: { '/etc/passwd': 'x' } })), (e: unknown) => e instanceof ProtocolFailure);
    const id = await submit(wf, calcInfo(SITE, symlinker, { results: ['leak.txt', 'dirlink/secret.txt', 'real/ok.txt'] }));
    const r = await awaitResult(wf, id);
    assert.equal(text(r.files['real/ok.txt']), 'fine');
    for (const name of ['leak.txt', 'dirlink/secret.txt']) {
      const f = r.files[name];
      assert.equal(f?.content, '', `${name} is not sent`);
      assert.equal(f?.mimetype1, 'Error');
      assert.match(f?.mimetype2 ?? '', /symbolic link/);
    }
    assert.ok(!JSON.stringify(r.files).includes(Buffer.from('SECRET').toString('base64')));
  });

  it('ran each command exactly once', () => {
    const runs = readFileSync(s.path('runs.log'), 'utf8').trim().split('\n');
    assert.equal(new Set(runs).size, runs.length);
    assert.equal(readdirSync(calcBase).length >= runs.length, true);
  });
});
