// Leases over real HTTP: lease-aware claims, heartbeats, liveness, expiry with a reason the
// workflow side reads, stale attempts refused and recorded, cancellation visible as such,
// and deployed pollers (no lease) unaffected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { calcInfo, code, message, startTestRelay, type TestRelay } from '../helpers/relay-in-process.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const SITE = 'nims-dev';
const STDERR = '計算標準エラー出力.txt';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function allowed(r: TestRelay): Promise<string> {
  const res = await r.call('POST', 'add-calcinfo', calcInfo());
  const id = res.body.errors[0].accept_id as string;
  assert.equal(code(await r.call('POST', 'allow-wait-calc', { accept_id: id })), 200);
  return id;
}

/** Claims with a lease and walks the calc to `running`; returns its attempt. */
async function leasedRunning(r: TestRelay, id: string): Promise<number> {
  const claim = await r.call('GET', `calc-request?site_id=${SITE}&lease=1`);
  assert.equal(claim.body.errors[0].accept_id, id);
  const attempt = claim.body.errors[0].attempt as number;
  assert.equal(typeof claim.body.errors[0].lease_ms, 'number');
  assert.equal(typeof claim.body.errors[0].heartbeat_ms, 'number');
  assert.ok(claim.body.errors[0]['calc-info'] === undefined);
  const p = await r.call('GET', `calc-params?site_id=${SITE}&accept_id=${id}&attempt=${attempt}`);
  assert.ok(p.body['calc-info']);
  for (const ep of ['calc-params-complete', 'calc-start']) {
    assert.equal(code(await r.call('POST', ep, { accept_id: id, site_id: SITE, attempt })), 200, ep);
  }
  return attempt;
}

function events(dataDir: string, id: string): { kind: string; detail: string | null; to_progress: string | null }[] {
  const db = new Database(join(dataDir, 'distcomp.sqlite'), { readonly: true });
  try {
    return db.prepare('SELECT kind, detail, to_progress FROM events WHERE accept_id = ? ORDER BY id').all(id) as never;
  } finally {
    db.close();
  }
}

test('a heartbeated calc stays alive past many lease periods; a silent one shows disconnected, then ends abnormal with the reason', async (t) => {
  const r = await startTestRelay(t, { server: { lease_seconds: 0.4, lease_grace_seconds: 0.8, rate_limit_per_minute: 0 } });
  const id = await allowed(r);
  const attempt = await leasedRunning(r, id);
  // heartbeats for 5 lease periods: never declared dead
  for (let i = 0; i < 20; i++) {
    const hb = await r.call('POST', 'x/heartbeat', { accept_id: id, site_id: SITE, attempt });
    assert.equal(code(hb), 200);
    assert.equal(hb.body.errors[0].calc_progress, 'running');
    assert.equal(hb.body.errors[0].liveness, 'alive');
    assert.equal(typeof hb.body.errors[0].server_time, 'number');
    await sleep(100);
  }
  let p = await r.call('GET', `calc-progress?accept_id=${id}`);
  assert.equal(message(p), 'status:running');
  assert.equal(p.body.errors[0].liveness, 'alive');
  // silence: past the lease, disconnected but still running
  await sleep(550);
  p = await r.call('GET', `calc-progress?accept_id=${id}`);
  assert.equal(message(p), 'status:running');
  assert.equal(p.body.errors[0].liveness, 'disconnected, still computing');
  assert.equal((await r.call('GET', 'get-calcinfo')).body[id].liveness, 'disconnected, still computing');
  // past lease + grace: got return / abnormal, the reason in calc-status and in the stderr file
  const deadline = Date.now() + 5000;
  while (message(await r.call('GET', `calc-progress?accept_id=${id}`)) !== 'status:got return') {
    assert.ok(Date.now() < deadline, 'lease never expired');
    await sleep(50);
  }
  const st = await r.call('GET', `calc-status?accept_id=${id}`);
  assert.equal(message(st), 'status:abnormal');
  assert.match(st.body.errors[0].reason, /^lease expired: the polling agent of site "nims-dev" \(attempt 1\) was not heard from/);
  // the late agent: its heartbeat and its results are refused (409), nothing changes
  const hb = await r.call('POST', 'x/heartbeat', { accept_id: id, site_id: SITE, attempt });
  assert.equal(code(hb), 409);
  assert.equal(hb.body.errors[0].lease, 'lost');
  const end = await r.call('POST', 'calc-end', { accept_id: id, site_id: SITE, attempt, result: 'calc end' });
  assert.equal(code(end), 409);
  assert.doesNotMatch(message(end) as string, /in progress "/, 'must not read as "already done" to our agent');
  const sr = await r.call('POST', 'send-results', { accept_id: id, site_id: SITE, attempt, result_files: { [STDERR]: { content: Buffer.from('late').toString('base64'), mimetype1: 'text/plain;', mimetype2: 'charset=us-ascii' } } });
  assert.equal(code(sr), 409);
  const res = await r.call('GET', `get-calc-result?accept_id=${id}`);
  assert.equal(code(res), 200);
  const err = Buffer.from(res.body.errors[0]['result-info'].result_files[STDERR].content, 'base64').toString('utf8');
  assert.match(err, /通信が途絶えた/);
  assert.match(err, /ended abnormal: the polling agent/);
  const ev = events(r.dataDir, id);
  assert.equal(ev.filter((e) => e.kind === 'lease-expired').length, 1);
  assert.deepEqual(ev.filter((e) => e.kind === 'refused').map((e) => JSON.parse(e.detail ?? '{}').endpoint), ['x/heartbeat', 'calc-end', 'send-results']);
  for (const e of ev.filter((x) => x.kind === 'calc-start' || x.kind === 'calc-params')) assert.equal(JSON.parse(e.detail ?? '{}').attempt, 1);
});

test('a stale attempt is refused on every call once the calc was handed out again', async (t) => {
  const r = await startTestRelay(t, { relay: { claimMs: 200 }, server: { rate_limit_per_minute: 0 } });
  const id = await allowed(r);
  const first = await r.call('GET', `calc-request?site_id=${SITE}&lease=1`);
  assert.equal(first.body.errors[0].attempt, 1);
  await sleep(300); // the unstarted claim lapses, another agent takes it
  const second = await r.call('GET', `calc-request?site_id=${SITE}&lease=1`);
  assert.equal(second.body.errors[0].accept_id, id);
  assert.equal(second.body.errors[0].attempt, 2);
  const stale = await r.call('GET', `calc-params?site_id=${SITE}&accept_id=${id}&attempt=1`);
  assert.equal(code(stale), 409);
  assert.equal(stale.body.errors[0].current_attempt, 2);
  assert.equal(message(await r.call('GET', `calc-progress?accept_id=${id}`)), 'status:not start', 'a refusal changes nothing');
  // the holder may fetch its inputs twice (its first answer was lost); others may not
  assert.ok((await r.call('GET', `calc-params?site_id=${SITE}&accept_id=${id}&attempt=2`)).body['calc-info']);
  assert.ok((await r.call('GET', `calc-params?site_id=${SITE}&accept_id=${id}&attempt=2`)).body['calc-info']);
  assert.equal(code(await r.call('GET', `calc-params?site_id=${SITE}&accept_id=${id}`)), 401, 'a deployed poller still gets the deployed wrong-state answer');
  assert.equal(code(await r.call('POST', 'calc-params-complete', { accept_id: id, site_id: SITE, attempt: 1 })), 409);
  assert.equal(code(await r.call('POST', 'calc-params-complete', { accept_id: id, site_id: SITE, attempt: 2 })), 200);
  assert.equal(code(await r.call('POST', 'calc-params-complete', { accept_id: id, site_id: SITE, attempt: 'x' })), 400);
});

test('cancel: visible as cancelled to ours, the deployed answer code to old clients, and the agent told through its heartbeat', async (t) => {
  const r = await startTestRelay(t, { server: { rate_limit_per_minute: 0 } });
  const id = await allowed(r);
  const attempt = await leasedRunning(r, id);
  assert.equal(code(await r.call('POST', 'cancel-wait-calc', { accept_id: id })), 401, 'a plain cancel of a running calc is refused, as deployed');
  assert.equal(code(await r.call('POST', 'cancel-wait-calc', { accept_id: id, delete: 'force' })), 200);
  for (const ep of ['calc-status', 'calc-progress', 'get-calc-result']) {
    const a = await r.call('GET', `${ep}?accept_id=${id}`);
    assert.equal(a.status, 200);
    assert.equal(code(a), 400, ep);
    assert.equal(a.body.errors[0].cancelled, true, ep);
    assert.match(message(a) as string, /^There is no information about the id\(.*\): it was cancelled/);
  }
  const hb = await r.call('POST', 'x/heartbeat', { accept_id: id, site_id: SITE, attempt });
  assert.equal(code(hb), 400);
  assert.equal(hb.body.errors[0].cancelled, true);
  const old = await r.call('POST', 'calc-end', { accept_id: id, site_id: SITE, result: 'calc end' });
  assert.equal(code(old), 400);
  assert.match(message(old) as string, /^There is no information for accept_id\(/);
  const ev = events(r.dataDir, id);
  assert.equal(ev.filter((e) => e.kind === 'cancelled').length, 1);
  assert.equal(ev.filter((e) => e.kind === 'refused').length, 2);
  // a second forced cancel finds nothing: the calc ended once
  assert.equal(code(await r.call('POST', 'cancel-wait-calc', { accept_id: id, delete: 'force' })), 400);
});

test('deployed pollers: no lease, never expired, no liveness field', async (t) => {
  const r = await startTestRelay(t, { server: { lease_seconds: 0.2, lease_grace_seconds: 0, rate_limit_per_minute: 0 } });
  const id = await allowed(r);
  const claim = await r.call('GET', `calc-request?site_id=${SITE}`);
  assert.deepEqual(Object.keys(claim.body.errors[0]).sort(), ['accept_id', 'attempt', 'code', 'message']);
  await r.call('GET', `calc-params?site_id=${SITE}&accept_id=${id}`);
  await r.call('POST', 'calc-params-complete', { accept_id: id, site_id: SITE });
  await r.call('POST', 'calc-start', { accept_id: id, site_id: SITE });
  await sleep(700);
  const p = await r.call('GET', `calc-progress?accept_id=${id}`);
  assert.deepEqual(p.body, { errors: [{ code: 200, message: 'status:running', calc_status: 'none' }] });
  const hb = await r.call('POST', 'x/heartbeat', { accept_id: id, site_id: SITE, attempt: 1 });
  assert.equal(code(hb), 409, 'a claim without a lease cannot be heartbeated');
});

test('schema 1 databases are migrated to leases', async (t) => {
  const dir = tempDir(t);
  new SqliteStore(dir).close();
  const db = new Database(join(dir, 'distcomp.sqlite'));
  db.exec('DROP INDEX calcs_leased; ALTER TABLE calcs DROP COLUMN lease_until; ALTER TABLE calcs DROP COLUMN heartbeat_at; PRAGMA user_version = 1;');
  db.close();
  const s = new SqliteStore(dir);
  try {
    const cols = (s.db.prepare('PRAGMA table_info(calcs)').all() as { name: string }[]).map((c) => c.name);
    assert.ok(cols.includes('lease_until') && cols.includes('heartbeat_at'));
    assert.equal(s.db.pragma('user_version', { simple: true }), 2);
  } finally {
    s.close();
  }
});
