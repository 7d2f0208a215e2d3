// Every row of the spec's endpoint tables over real HTTP: success and each failure,
// with the exact codes (number vs string), HTTP statuses and messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { calcInfo, code, message, startTestRelay, type TestRelay } from '../helpers/relay-in-process.ts';

const SITE = 'nims-dev';

async function register(r: TestRelay, o: Parameters<typeof calcInfo>[0] = {}, token?: string): Promise<string> {
  const res = await r.call('POST', 'add-calcinfo', calcInfo(o), token);
  assert.equal(res.status, 200);
  assert.equal(code(res), 200);
  assert.match(res.body.errors[0].accept_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  return res.body.errors[0].accept_id as string;
}

async function registerAllowed(r: TestRelay, o: Parameters<typeof calcInfo>[0] = {}): Promise<string> {
  const id = await register(r, o);
  const a = await r.call('POST', 'allow-wait-calc', { accept_id: id });
  assert.equal(code(a), 200);
  return id;
}

const ids = (id: string) => ({ accept_id: id, site_id: SITE });

test('a full cycle follows the spec, envelope by envelope', async (t) => {
  const r = await startTestRelay(t);
  const id = await register(r, { files: { 'in.txt': 'input\n', 'bin.dat': Buffer.from([0, 1, 2, 255]) } });

  let res = await r.call('GET', `calc-status?accept_id=${id}`);
  assert.deepEqual(res.body, { errors: [{ code: 200, message: 'status:none' }] });
  res = await r.call('GET', `calc-progress?accept_id=${id}`);
  assert.equal(message(res), 'status:not start');

  // not allowed yet: nothing to do for the site
  res = await r.call('GET', `calc-request?site_id=${SITE}`);
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, { errors: [{ code: '0300', message: `There is no information for accept_id(None), about the your site id(${SITE})` }] });

  res = await r.call('POST', 'allow-wait-calc', { accept_id: id });
  assert.equal(res.status, 200);
  assert.equal(code(res), 200);

  res = await r.call('GET', `calc-request?site_id=${SITE}`);
  assert.equal(code(res), 200);
  assert.equal(res.body.errors[0].accept_id, id);

  res = await r.call('GET', `calc-params?site_id=${SITE}&accept_id=${id}`);
  assert.equal(res.status, 200);
  assert.equal(res.body.errors, undefined, 'calc-params answers without the envelope');
  const ci = res.body['calc-info'];
  assert.equal(ci.command, '/bin/echo');
  assert.equal(ci['remote-site'], SITE);
  assert.equal(ci.parameters, 'hello');
  assert.deepEqual(ci.parameter_files['in.txt'], [Buffer.from('input\n').toString('base64'), 'text/plain;', 'charset=us-ascii']);
  assert.deepEqual(Buffer.from(ci.parameter_files['bin.dat'][0], 'base64'), Buffer.from([0, 1, 2, 255]));
  assert.deepEqual(Object.keys(ci.result_files), ['out.txt', '計算標準出力.txt', '計算標準エラー出力.txt']);
  assert.equal(message(await r.call('GET', `calc-progress?accept_id=${id}`)), 'status:sending params');

  for (const [ep, progress] of [['calc-params-complete', 'complete send'], ['calc-start', 'running']] as const) {
    res = await r.call('POST', ep, ids(id));
    assert.deepEqual(res.body, { errors: [{ code: 200, message: 'ok' }] });
    assert.equal(message(await r.call('GET', `calc-progress?accept_id=${id}`)), `status:${progress}`);
  }
  res = await r.call('POST', 'calc-end', { ...ids(id), result: 'calc end' });
  assert.equal(code(res), 200);
  assert.equal(message(await r.call('GET', `calc-status?accept_id=${id}`)), 'status:completed');
  assert.equal(message(await r.call('GET', `calc-progress?accept_id=${id}`)), 'status:calc end');

  // not returned yet
  res = await r.call('GET', `get-calc-result?accept_id=${id}`);
  assert.equal(res.status, 200);
  assert.equal(code(res), 400);

  res = await r.call('POST', 'send-results', {
    ...ids(id),
    result_files: {
      'out.txt': { content: Buffer.from('result\n').toString('base64'), mimetype1: 'text/plain;', mimetype2: 'charset=us-ascii' },
      '計算標準出力.txt': { content: Buffer.from('hello\n').toString('base64'), mimetype1: 'text/plain;', mimetype2: 'charset=us-ascii' },
      '計算標準エラー出力.txt': { content: '', mimetype1: 'Error', mimetype2: '出力指定ファイル(計算標準エラー出力.txt)がありませんでした。' },
    },
  });
  assert.equal(code(res), 200);
  assert.equal(message(await r.call('GET', `calc-progress?accept_id=${id}`)), 'status:getting return');
  res = await r.call('POST', 'end-send', { ...ids(id), result: 'end send' });
  assert.equal(code(res), 200);
  assert.equal(message(await r.call('GET', `calc-progress?accept_id=${id}`)), 'status:got return');

  res = await r.call('GET', `get-calc-result?accept_id=${id}`);
  assert.equal(res.status, 200);
  assert.equal(code(res), 200);
  assert.equal(message(res), '');
  const files = res.body.errors[0]['result-info'].result_files;
  assert.equal(Buffer.from(files['out.txt'].content, 'base64').toString(), 'result\n');
  assert.equal(files['out.txt'].mimetype1, 'text/plain;');
  assert.deepEqual(files['計算標準エラー出力.txt'], { content: '', mimetype1: 'Error', mimetype2: '出力指定ファイル(計算標準エラー出力.txt)がありませんでした。' });

  // the calc is then deleted
  res = await r.call('GET', `calc-status?accept_id=${id}`);
  assert.equal(res.status, 200);
  assert.equal(code(res), 400);
  assert.equal(message(res), `There is no information about the id(${id})`);
  // ...but a lost answer can be fetched again for a while
  res = await r.call('GET', `get-calc-result?accept_id=${id}`);
  assert.equal(code(res), 200);
});

test('add-calcinfo failures: HTTP 202 with the deployed codes', async (t) => {
  const r = await startTestRelay(t);
  const cases: [unknown, number | string, RegExp][] = [
    [{}, 400, /no calc-info/],
    [{ 'calc-info': { command: '/bin/echo' } }, 400, /no remote-site/],
    [{ 'calc-info': { 'remote-site': 'nowhere', command: '/bin/echo' } }, '400', /remote-site id\(nowhere\)/],
    [{ 'calc-info': { 'remote-site': SITE } }, 400, /no command entry/],
    [{ 'calc-info': { 'remote-site': SITE, command: '/bin/rm' } }, 401, /invalid command name\(\/bin\/rm\)/],
    [{ 'calc-info': 'x' }, 400, /must be a JSON object/],
    [{ 'calc-info': { 'remote-site': 5, command: '/bin/echo' } }, 400, /remote-site must be a non-empty string/],
    [{ 'calc-info': { 'remote-site': SITE, command: '/bin/echo', parameters: 7 } }, 400, /parameters must be a string/],
    [{ 'calc-info': { 'remote-site': SITE, command: '/bin/echo', parameter_files: { a: 'x' } } }, 400, /array of three strings/],
    [{ 'calc-info': { 'remote-site': SITE, command: '/bin/echo', parameter_files: { a: ['***', 'text/plain;', 'x'] } } }, 400, /not base64/],
    [{ 'calc-info': { 'remote-site': SITE, command: '/bin/echo', result_files: [] } }, 400, /result_files must be an object/],
  ];
  for (const [body, c, m] of cases) {
    const res = await r.call('POST', 'add-calcinfo', body);
    assert.equal(res.status, 202, JSON.stringify(body));
    assert.strictEqual(code(res), c, JSON.stringify(body));
    assert.match(String(message(res)), m);
  }
  assert.equal(r.server.store.listCalcs(1).length, 0, 'no failed registration is stored');
});

test('hostile file names are refused at registration, in both maps', async (t) => {
  const r = await startTestRelay(t);
  const bad = ['../x', 'a/../../b', '/etc/passwd', '', 'a\u0000b', '.', '..', 'a//b', 'a/./b', 'C:\\x', 'dir/'];
  for (const name of bad) {
    for (const map of ['parameter_files', 'result_files'] as const) {
      const ci: any = calcInfo();
      ci['calc-info'][map] = { [name]: map === 'parameter_files' ? ['eA==', 'text/plain;', 'charset=us-ascii'] : {} };
      const res = await r.call('POST', 'add-calcinfo', ci);
      assert.equal(res.status, 202, `${map} ${JSON.stringify(name)}`);
      assert.equal(code(res), 400);
      assert.match(String(message(res)), new RegExp(`invalid file name .* in ${map}`));
    }
  }
  // a subdirectory that stays inside is fine
  assert.ok(await register(r, { files: { 'sub/dir/in.txt': 'x' }, results: ['sub/out.txt'] }));
});

test('allow-wait-calc failures', async (t) => {
  const r = await startTestRelay(t);
  let res = await r.call('POST', 'allow-wait-calc', '{not json');
  assert.equal(res.status, 400);
  assert.equal(code(res), 400);
  assert.match(String(message(res)), /not valid JSON/);
  res = await r.call('POST', 'allow-wait-calc', {});
  assert.equal(res.status, 400);
  assert.equal(code(res), 400);
  assert.equal(message(res), 'There is no accept id in request body');
  res = await r.call('POST', 'allow-wait-calc', { accept_id: 'nope' });
  assert.equal(res.status, 400);
  assert.equal(code(res), 400);
  assert.match(String(message(res)), /There is no data related accept id\(nope\)/);
  const id = await registerAllowed(r);
  res = await r.call('POST', 'allow-wait-calc', { accept_id: id });
  assert.equal(res.status, 400);
  assert.equal(code(res), 401);
  assert.match(String(message(res)), /already wait/);
  await r.call('GET', `calc-params?site_id=${SITE}&accept_id=${id}`);
  res = await r.call('POST', 'allow-wait-calc', { accept_id: id });
  assert.equal(code(res), 401);
  assert.match(String(message(res)), /have been started/);
});

test('cancel-wait-calc: plain and forced', async (t) => {
  const r = await startTestRelay(t);
  // never allowed: refused without force
  const a = await register(r);
  let res = await r.call('POST', 'cancel-wait-calc', { accept_id: a });
  assert.equal(res.status, 400);
  assert.equal(code(res), 401);
  assert.match(String(message(res)), /have not been allow-wait/);
  // allowed, not started: cancelled
  await r.call('POST', 'allow-wait-calc', { accept_id: a });
  res = await r.call('POST', 'cancel-wait-calc', { accept_id: a });
  assert.equal(res.status, 200);
  assert.equal(code(res), 200);
  assert.equal(code(await r.call('GET', `calc-status?accept_id=${a}`)), 400);
  // in flight: refused without force, deleted with force
  const b = await registerAllowed(r);
  await r.call('GET', `calc-params?site_id=${SITE}&accept_id=${b}`);
  res = await r.call('POST', 'cancel-wait-calc', { accept_id: b });
  assert.equal(code(res), 401);
  assert.match(String(message(res)), /status = sending params/);
  res = await r.call('POST', 'cancel-wait-calc', { accept_id: b, delete: 'force' });
  assert.equal(code(res), 200);
  // the poller then finds nothing
  res = await r.call('POST', 'calc-params-complete', ids(b));
  assert.equal(code(res), 400);
  assert.match(String(message(res)), new RegExp(`There is no information for accept_id\\(${b}\\)`));
  // in flight but abnormal: plain cancel allowed
  const c = await registerAllowed(r);
  await r.call('GET', `calc-params?site_id=${SITE}&accept_id=${c}`);
  await r.call('POST', 'calc-params-complete', ids(c));
  await r.call('POST', 'calc-start', ids(c));
  await r.call('POST', 'calc-end', { ...ids(c), result: 'abnormal' });
  assert.equal(message(await r.call('GET', `calc-status?accept_id=${c}`)), 'status:abnormal');
  res = await r.call('POST', 'cancel-wait-calc', { accept_id: c });
  assert.equal(code(res), 200);
  // unknown and missing ids
  res = await r.call('POST', 'cancel-wait-calc', { accept_id: 'zzz' });
  assert.equal(res.status, 400);
  assert.equal(code(res), 400);
  res = await r.call('POST', 'cancel-wait-calc', {});
  assert.equal(res.status, 400);
});

test('status, progress and result of unknown or missing ids', async (t) => {
  const r = await startTestRelay(t);
  for (const ep of ['calc-status', 'calc-progress', 'get-calc-result']) {
    let res = await r.call('GET', `${ep}?accept_id=unknown`);
    assert.equal(res.status, 200, ep);
    assert.equal(code(res), 400, ep);
    assert.equal(message(res), 'There is no information about the id(unknown)');
    res = await r.call('GET', ep);
    assert.equal(res.status, 400, ep);
    assert.equal(message(res), 'There is no key(accept_id) in request args');
  }
});

test('calc-request: unknown site, nothing to do, and a later allowed calc behind an unallowed one', async (t) => {
  const r = await startTestRelay(t);
  let res = await r.call('GET', 'calc-request?site_id=elsewhere');
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, { errors: [{ code: '400', message: 'Your site-id(elsewhere) does not match in the list that acceptable to.' }] });
  await register(r); // first: never allowed
  const second = await registerAllowed(r);
  res = await r.call('GET', `calc-request?site_id=${SITE}`);
  assert.equal(code(res), 200, 'the deployed server answered "not allowed" here: a bug we do not copy');
  assert.equal(res.body.errors[0].accept_id, second);
  // claimed: a second poll does not get it again
  res = await r.call('GET', `calc-request?site_id=${SITE}`);
  assert.equal(code(res), '0300');
});

test('remote-side calls in the wrong state are refused with a non-200 code naming the state', async (t) => {
  const r = await startTestRelay(t);
  const id = await registerAllowed(r);
  const wrong: [string, unknown][] = [
    ['calc-params-complete', ids(id)],
    ['calc-start', ids(id)],
    ['calc-end', { ...ids(id), result: 'calc end' }],
    ['send-results', { ...ids(id), result_files: {} }],
    ['end-send', { ...ids(id), result: 'end send' }],
  ];
  for (const [ep, body] of wrong) {
    const res = await r.call('POST', ep, body);
    assert.notEqual(code(res), 200, ep);
    assert.match(String(message(res)), /"not start"/, ep);
  }
  assert.equal(message(await r.call('GET', `calc-progress?accept_id=${id}`)), 'status:not start', 'nothing changed');
  // body checks
  await r.call('GET', `calc-params?site_id=${SITE}&accept_id=${id}`);
  let res = await r.call('GET', `calc-params?site_id=${SITE}&accept_id=${id}`);
  assert.equal(code(res), 401, 'calc-params twice');
  res = await r.call('POST', 'calc-params-complete', { accept_id: id });
  assert.equal(message(res), 'There is no site id in request body');
  res = await r.call('POST', 'calc-params-complete', { site_id: SITE });
  assert.equal(message(res), 'There is no accept id in request body');
  await r.call('POST', 'calc-params-complete', ids(id));
  await r.call('POST', 'calc-start', ids(id));
  res = await r.call('POST', 'calc-end', ids(id));
  assert.equal(code(res), 401);
  assert.equal(message(res), "There is no 'result' key in request body");
  res = await r.call('POST', 'calc-end', { ...ids(id), result: 'done' });
  assert.equal(code(res), 402);
  res = await r.call('POST', 'calc-end', { ...ids(id), result: 'calc end' });
  assert.equal(code(res), 200);
  res = await r.call('POST', 'send-results', ids(id));
  assert.equal(code(res), 401);
  assert.equal(message(res), "There is no 'result_files' key in request body");
  res = await r.call('POST', 'send-results', { ...ids(id), result_files: { '../../secret.txt': { content: '', mimetype1: '', mimetype2: '' } } });
  assert.equal(code(res), 401);
  assert.match(String(message(res)), /has a "\.\." path segment/);
  res = await r.call('POST', 'end-send', { ...ids(id), result: 'nope' });
  assert.equal(code(res), 402);
  res = await r.call('POST', 'end-send', { ...ids(id), result: 'end send' });
  assert.equal(code(res), 200, 'end-send straight after calc end is allowed');
  // a site mismatch looks like an unknown calc
  const other = await registerAllowed(r);
  res = await r.call('GET', `calc-params?site_id=nims-dev&accept_id=${other}`);
  assert.ok(res.body['calc-info']);
});

test('an abnormal calc may send results and end from any in-flight state', async (t) => {
  const r = await startTestRelay(t);
  const id = await registerAllowed(r);
  await r.call('GET', `calc-params?site_id=${SITE}&accept_id=${id}`);
  await r.call('POST', 'calc-params-complete', ids(id));
  await r.call('POST', 'calc-start', ids(id));
  await r.call('POST', 'calc-end', { ...ids(id), result: 'abnormal' });
  let res = await r.call('POST', 'send-results', { ...ids(id), result_files: { '計算標準エラー出力.txt': { content: Buffer.from('boom').toString('base64'), mimetype1: 'text/plain;', mimetype2: 'charset=us-ascii' } } });
  assert.equal(code(res), 200);
  res = await r.call('POST', 'end-send', { ...ids(id), result: 'end send' });
  assert.equal(code(res), 200);
  res = await r.call('GET', `get-calc-result?accept_id=${id}`);
  const files = res.body.errors[0]['result-info'].result_files;
  assert.equal(Buffer.from(files['計算標準エラー出力.txt'].content, 'base64').toString(), 'boom');
  assert.equal(files['out.txt'].mimetype1, 'Error', 'a requested file never sent is reported missing');
  // got return is final: a late send-results changes nothing
});

test('tokens: missing, malformed, unknown and revoked get 403 code "0005"', async (t) => {
  const r = await startTestRelay(t);
  const bad = [null, 'abc', 'f'.repeat(64), `${'0'.repeat(63)}g`];
  for (const tok of bad) {
    for (const ep of ['calc-request?site_id=nims-dev', 'get-calcinfo', 'calc-status?accept_id=x']) {
      const res = await r.call('GET', ep, undefined, tok);
      assert.equal(res.status, 403);
      const name = ep.split('?')[0];
      assert.deepEqual(res.body, { errors: [{ code: '0005', message: `/mi-distcomp-api/${name} への実行権がありません。` }] });
    }
  }
  const res = await r.call('POST', 'add-calcinfo', calcInfo(), null);
  assert.equal(res.status, 403);
  assert.equal(r.server.store.revokeToken(r.tokens['alice']!.slice(0, 6)).length, 1);
  await new Promise((ok) => setTimeout(ok, 2100)); // the auth cache holds a lookup for 2 s
  assert.equal((await r.call('GET', 'get-calcinfo')).status, 403);
});

test('bad bodies: oversized (413), not JSON, and the server keeps serving', async (t) => {
  const r = await startTestRelay(t, { server: { body_limit_mb: 1, file_limit_mb: 1 } });
  // a file larger than file_limit_mb (base64) inside the JSON
  const big = JSON.stringify(calcInfo({ files: { 'big.bin': Buffer.alloc(2 * 1024 * 1024, 7) } }));
  let res = await r.call('POST', 'add-calcinfo', big);
  assert.equal(res.status, 413);
  assert.equal(code(res), 413);
  assert.match(String(message(res)), /a file in the request body is larger than the limit of 1048576 bytes/);
  // non-file parts larger than body_limit_mb
  res = await r.call('POST', 'add-calcinfo', JSON.stringify(calcInfo({ parameters: 'p'.repeat(2 * 1024 * 1024) })));
  assert.equal(res.status, 413);
  assert.match(String(message(res)), /larger than the limit of 1048576 bytes/);
  // the same limits on a plain JSON endpoint
  res = await r.call('POST', 'allow-wait-calc', JSON.stringify({ accept_id: 'x'.repeat(2 * 1024 * 1024) }));
  assert.equal(res.status, 413);
  res = await r.call('POST', 'add-calcinfo', '{"calc-info": ');
  assert.equal(res.status, 400);
  assert.match(String(message(res)), /not valid JSON/);
  res = await r.call('POST', 'add-calcinfo', '[1,2]');
  assert.equal(code(res), 400);
  res = await r.call('POST', 'add-calcinfo', 'null');
  assert.equal(code(res), 400);
  res = await r.call('POST', 'add-calcinfo', '');
  assert.equal(res.status, 400);
  res = await r.call('GET', 'no-such-endpoint');
  assert.equal(res.status, 404);
  assert.ok(await register(r));
  // nothing was left behind by the refused bodies
  const { readdirSync } = await import('node:fs');
  const { join } = await import('node:path');
  assert.deepEqual(readdirSync(join(r.dataDir, 'blobs', 'tmp')), []);
});

test('get-calcinfo lists only the caller\'s calcs', async (t) => {
  const r = await startTestRelay(t);
  const a = await register(r, {}, r.tokens['alice']);
  const b = await register(r, {}, r.tokens['bob']);
  const res = await r.call('GET', 'get-calcinfo', undefined, r.tokens['alice']);
  assert.deepEqual(Object.keys(res.body), [a]);
  assert.equal(res.body[a].wait_allow, 'none');
  assert.equal(res.body[a].calc_progress, 'not start');
  assert.ok(!JSON.stringify(res.body).includes(b));
});

test('long polling: calc-request waits and wakes the moment a calc is allowed', async (t) => {
  const r = await startTestRelay(t);
  const id = await register(r);
  const t0 = Date.now();
  const poll = r.call('GET', `calc-request?site_id=${SITE}&wait=20`);
  await new Promise((ok) => setTimeout(ok, 200));
  await r.call('POST', 'allow-wait-calc', { accept_id: id });
  const res = await poll;
  assert.equal(code(res), 200);
  assert.equal(res.body.errors[0].accept_id, id);
  assert.ok(Date.now() - t0 < 10_000, 'answered on allow, not at the end of the wait');
  assert.match(String(res.headers.get('x-distcomp-features')), /long-poll/);
  // a short wait with nothing to do ends with 0300
  const idle = await r.call('GET', `calc-request?site_id=${SITE}&wait=0.2`);
  assert.equal(code(idle), '0300');
  // calc-progress waits for a change
  const change = r.call('GET', `calc-progress?accept_id=${id}&since=${encodeURIComponent('not start')}&wait=20`);
  await new Promise((ok) => setTimeout(ok, 100));
  await r.call('GET', `calc-params?site_id=${SITE}&accept_id=${id}`);
  assert.equal(message(await change), 'status:sending params');
  const badWait = await r.call('GET', `calc-request?site_id=${SITE}&wait=soon`);
  assert.equal(badWait.status, 400);
});

test('the 30-minute rule runs on a timer and ends the calc abnormal with an explanation', async (t) => {
  const r = await startTestRelay(t, { server: { expire_minutes: 0.005, expire_check_seconds: 0.1 } });
  const never = await register(r);
  const untaken = await registerAllowed(r);
  await new Promise((ok) => setTimeout(ok, 1200));
  for (const [id, why] of [[never, /did not allow/], [untaken, /no polling program of site "nims-dev" took it/]] as const) {
    assert.equal(message(await r.call('GET', `calc-progress?accept_id=${id}`)), 'status:got return');
    assert.equal(message(await r.call('GET', `calc-status?accept_id=${id}`)), 'status:abnormal');
    const res = await r.call('GET', `get-calc-result?accept_id=${id}`);
    const err = res.body.errors[0]['result-info'].result_files['計算標準エラー出力.txt'];
    const text = Buffer.from(err.content, 'base64').toString();
    assert.match(text, /期限切れ/);
    assert.match(text, why);
  }
});

test('the configuration is re-read at registration; a broken edit keeps the last good one', async (t) => {
  const { writeFileSync, readFileSync } = await import('node:fs');
  const r = await startTestRelay(t);
  let res = await r.call('POST', 'add-calcinfo', calcInfo({ site: 'new-site', command: '/bin/true' }));
  assert.equal(code(res), '400');
  const good = readFileSync(r.iniPath, 'utf8');
  writeFileSync(r.iniPath, good.replace('remote_site_ids = nims-dev', 'remote_site_ids = nims-dev\n\tnew-site') + '\n[new-site]\ncommands = /bin/true\n');
  res = await r.call('POST', 'add-calcinfo', calcInfo({ site: 'new-site', command: '/bin/true' }));
  assert.equal(code(res), 200);
  writeFileSync(r.iniPath, '[Server\nbroken = = =');
  res = await r.call('POST', 'add-calcinfo', calcInfo({ site: 'new-site', command: '/bin/true' }));
  assert.equal(code(res), 200, 'the last good configuration stays in force');
});

test('request floods get 429 with the envelope; the server keeps serving others', async (t) => {
  const r = await startTestRelay(t, { server: { rate_limit_per_minute: 20 } });
  let limited = 0;
  for (let i = 0; i < 30; i++) {
    const res = await r.call('GET', 'get-calcinfo', undefined, r.tokens['alice']);
    if (res.status === 429) {
      limited++;
      assert.equal(code(res), 429);
      assert.match(String(message(res)), /too many requests/);
    }
  }
  assert.ok(limited >= 10);
  const other = await r.call('GET', 'get-calcinfo', undefined, r.tokens['bob']);
  assert.equal(other.status, 200, 'another user is not limited by alice\'s flood');
});
