// A second user's token sees, claims, reads and cancels nothing of the first user's calcs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { calcInfo, code, startTestRelay } from '../helpers/relay-in-process.ts';

test('user isolation across every workflow-side and remote-side call', async (t) => {
  const r = await startTestRelay(t);
  const alice = r.tokens['alice']!;
  const bob = r.tokens['bob']!;
  const reg = await r.call('POST', 'add-calcinfo', calcInfo(), alice);
  const id = reg.body.errors[0].accept_id as string;
  const ids = { accept_id: id, site_id: 'nims-dev' };

  // bob cannot allow, see, or cancel it
  assert.equal(code(await r.call('POST', 'allow-wait-calc', { accept_id: id }, bob)), 400);
  assert.equal(code(await r.call('GET', `calc-status?accept_id=${id}`, undefined, bob)), 400);
  assert.equal(code(await r.call('GET', `calc-progress?accept_id=${id}`, undefined, bob)), 400);
  assert.equal(code(await r.call('POST', 'cancel-wait-calc', { accept_id: id, delete: 'force' }, bob)), 400);
  assert.deepEqual((await r.call('GET', 'get-calcinfo', undefined, bob)).body, {});

  assert.equal(code(await r.call('POST', 'allow-wait-calc', { accept_id: id }, alice)), 200);
  // bob's poller on the same site gets nothing and cannot fetch params by id
  assert.equal(code(await r.call('GET', 'calc-request?site_id=nims-dev', undefined, bob)), '0300');
  const p = await r.call('GET', `calc-params?site_id=nims-dev&accept_id=${id}`, undefined, bob);
  assert.equal(p.body['calc-info'], undefined);
  assert.equal(code(p), 400);

  // alice's poller runs it; bob cannot touch any step
  assert.equal(code(await r.call('GET', 'calc-request?site_id=nims-dev', undefined, alice)), 200);
  assert.ok((await r.call('GET', `calc-params?site_id=nims-dev&accept_id=${id}`, undefined, alice)).body['calc-info']);
  for (const [ep, body] of [
    ['calc-params-complete', ids], ['calc-start', ids], ['calc-end', { ...ids, result: 'abnormal' }],
    ['send-results', { ...ids, result_files: {} }], ['end-send', { ...ids, result: 'end send' }],
  ] as const) {
    assert.equal(code(await r.call('POST', ep, body, bob)), 400, `bob ${ep}`);
    if (ep !== 'calc-end' && ep !== 'send-results' && ep !== 'end-send') assert.equal(code(await r.call('POST', ep, body, alice)), 200, `alice ${ep}`);
  }
  assert.equal(code(await r.call('POST', 'calc-end', { ...ids, result: 'calc end' }, alice)), 200);
  assert.equal(code(await r.call('POST', 'send-results', { ...ids, result_files: { 'out.txt': { content: 'eA==', mimetype1: 'text/plain;', mimetype2: 'charset=us-ascii' } } }, alice)), 200);
  assert.equal(code(await r.call('POST', 'end-send', { ...ids, result: 'end send' }, alice)), 200);
  assert.equal(code(await r.call('GET', `get-calc-result?accept_id=${id}`, undefined, bob)), 400);
  assert.equal(code(await r.call('GET', `get-calc-result?accept_id=${id}`, undefined, alice)), 200);
});

test('a site restricted to some users refuses the others at registration and polling', async (t) => {
  const r = await startTestRelay(t, { sites: { 'nims-dev': { commands: ['/bin/echo'], users: ['alice'] } } });
  let res = await r.call('POST', 'add-calcinfo', calcInfo(), r.tokens['bob']);
  assert.equal(res.status, 202);
  assert.equal(code(res), '400');
  assert.match(res.body.errors[0].message, /not open to user\(bob\)/);
  res = await r.call('GET', 'calc-request?site_id=nims-dev', undefined, r.tokens['bob']);
  assert.equal(code(res), '400');
  assert.equal(code(await r.call('POST', 'add-calcinfo', calcInfo(), r.tokens['alice'])), 200);
});
