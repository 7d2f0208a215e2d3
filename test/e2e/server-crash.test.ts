// kill -9 of the relay in the middle of calcs: every acknowledged registration, state change
// and result survives, and the calc completes with its files byte-identical.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { calcInfo, makeTokens, writeIni } from '../helpers/relay-in-process.ts';
import { spawnServer, type ServerProcess } from '../helpers/server-process.ts';
import { tempDir } from '../helpers/temp-dir.ts';

async function call(url: string, token: string, method: 'GET' | 'POST', ep: string, body?: unknown): Promise<any> {
  const res = await fetch(`${url}/mi-distcomp-api/${ep}`, {
    method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return res.json();
}
const c = (b: any): unknown => b?.errors?.[0]?.code;

test('SIGKILL at every stage of a calc: it still completes, files byte-identical', async (t) => {
  const dir = tempDir(t);
  const ini = join(dir, 'mi.ini');
  const data = join(dir, 'data');
  writeIni(ini, {});
  const { alice: token } = await makeTokens(data, ['alice']);
  let srv: ServerProcess = await spawnServer(ini, data);
  t.after(() => srv.kill());
  const restart = async (): Promise<void> => {
    await srv.kill('SIGKILL');
    srv = await spawnServer(ini, data);
  };

  const input = randomBytes(300_000);
  const output = randomBytes(500_000);
  const reg = await call(srv.url, token!, 'POST', 'add-calcinfo', calcInfo({ files: { 'mesh.bin': input, 'a.txt': 'param\n' }, results: ['out.bin'] }));
  const id = reg.errors[0].accept_id as string;
  await restart();
  assert.equal(c(await call(srv.url, token!, 'POST', 'allow-wait-calc', { accept_id: id })), 200);
  await restart();
  assert.equal((await call(srv.url, token!, 'GET', 'calc-request?site_id=nims-dev')).errors[0].accept_id, id);
  await restart();
  const params = await call(srv.url, token!, 'GET', `calc-params?site_id=nims-dev&accept_id=${id}`);
  assert.deepEqual(Buffer.from(params['calc-info'].parameter_files['mesh.bin'][0], 'base64'), input);
  const ids = { accept_id: id, site_id: 'nims-dev' };
  for (const ep of ['calc-params-complete', 'calc-start']) {
    await restart();
    assert.equal(c(await call(srv.url, token!, 'POST', ep, ids)), 200, ep);
  }
  await restart();
  assert.equal(c(await call(srv.url, token!, 'POST', 'calc-end', { ...ids, result: 'calc end' })), 200);
  await restart();
  assert.equal(c(await call(srv.url, token!, 'POST', 'send-results', {
    ...ids, result_files: { 'out.bin': { content: output.toString('base64'), mimetype1: 'application/octet-stream;', mimetype2: 'charset=binary' } },
  })), 200);
  await restart();
  assert.equal(c(await call(srv.url, token!, 'POST', 'end-send', { ...ids, result: 'end send' })), 200);
  await restart();
  const res = await call(srv.url, token!, 'GET', `get-calc-result?accept_id=${id}`);
  assert.equal(c(res), 200);
  assert.deepEqual(Buffer.from(res.errors[0]['result-info'].result_files['out.bin'].content, 'base64'), output);
});

test('SIGKILL under a stream of registrations: every acknowledged one survives', async (t) => {
  const dir = tempDir(t);
  const ini = join(dir, 'mi.ini');
  const data = join(dir, 'data');
  writeIni(ini, { server: { rate_limit_per_minute: 0 } });
  const { alice: token } = await makeTokens(data, ['alice']);
  let srv = await spawnServer(ini, data);
  t.after(() => srv.kill());
  const acked: string[] = [];
  const allowed: string[] = [];
  let stop = false;
  const worker = async (): Promise<void> => {
    while (!stop) {
      try {
        const r = await call(srv.url, token!, 'POST', 'add-calcinfo', calcInfo({ files: { 'x.bin': randomBytes(2000) } }));
        const id = r.errors[0].accept_id as string;
        acked.push(id);
        const a = await call(srv.url, token!, 'POST', 'allow-wait-calc', { accept_id: id });
        if (c(a) === 200) allowed.push(id);
      } catch {
        return; // the server died under us: what was acknowledged is what counts
      }
    }
  };
  const workers = Array.from({ length: 4 }, worker);
  // killed in the middle of the stream: once a good number were acknowledged (a loaded machine
  // takes longer to get there), plus a moment so that the kill lands mid-request
  const until = Date.now() + 20_000;
  while (acked.length < 20 && Date.now() < until) await new Promise((ok) => setTimeout(ok, 20));
  await new Promise((ok) => setTimeout(ok, 50 + Math.random() * 100));
  await srv.kill('SIGKILL');
  stop = true;
  await Promise.all(workers);
  assert.ok(acked.length > 10, `only ${acked.length} registrations before the kill`);
  srv = await spawnServer(ini, data);
  const dump = await call(srv.url, token!, 'GET', 'get-calcinfo');
  for (const id of acked) assert.ok(dump[id], `acknowledged registration ${id} lost`);
  for (const id of allowed) assert.notEqual(dump[id].wait_allow, 'none', `acknowledged allow of ${id} lost`);
  // and the store is consistent: every allowed calc can be claimed once
  const seen = new Set<string>();
  for (;;) {
    const r = await call(srv.url, token!, 'GET', 'calc-request?site_id=nims-dev');
    if (c(r) !== 200) break;
    seen.add(r.errors[0].accept_id);
  }
  for (const id of allowed) assert.ok(seen.has(id));
});
