// Large files through the relay: the deployed base64-in-JSON form streamed both ways, and our
// resumable verified uploads and Range downloads. The relay runs as its own process so its
// memory can be read from /proc.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import { Readable } from 'node:stream';
import { makeTokens, writeIni } from '../helpers/relay-in-process.ts';
import { spawnServer, type ServerProcess } from '../helpers/server-process.ts';
import { tempDir } from '../helpers/temp-dir.ts';
import { base64Pieces, pseudoRandom, send } from '../helpers/http-stream.ts';

const MB = 1024 * 1024;
const peakRssMb = (pid: number): number => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

async function sha256Of(gen: AsyncIterable<Buffer>): Promise<string> {
  const h = createHash('sha256');
  for await (const b of gen) h.update(b);
  return h.digest('hex');
}

async function relay(t: import('node:test').TestContext): Promise<{ srv: ServerProcess; token: string; data: string }> {
  const dir = tempDir(t);
  const ini = join(dir, 'mi.ini');
  const data = join(dir, 'data');
  writeIni(ini, { server: { rate_limit_per_minute: 0 } });
  const { alice } = await makeTokens(data, ['alice']);
  const srv = await spawnServer(ini, data);
  t.after(() => srv.kill());
  return { srv, token: alice!, data };
}

const json = (b: Buffer): any => JSON.parse(b.toString('utf8'));

test('300 MB through the deployed JSON form, both directions, streamed (server RSS stays small)', async (t) => {
  const { srv, token } = await relay(t);
  const size = 300 * MB;
  const expected = await sha256Of(pseudoRandom(size, 7));
  async function* body(): AsyncGenerator<string> {
    yield '{"calc-info":{"command":"/bin/echo","remote-site":"nims-dev","parameters":"x","parameter_files":{"big.bin":["';
    yield* base64Pieces(pseudoRandom(size, 7));
    yield '","application/octet-stream;","charset=binary"]},"result_files":{"out.bin":{}}}}';
  }
  let r = await send(`${srv.url}/mi-distcomp-api/add-calcinfo`, { method: 'POST', token, body: body() });
  assert.equal(r.status, 200, r.body.toString());
  const id = json(r.body).errors[0].accept_id as string;
  const call = async (method: string, ep: string, b?: unknown) => json((await send(`${srv.url}/mi-distcomp-api/${ep}`, { method, token, body: b === undefined ? undefined : [JSON.stringify(b)] })).body);
  await call('POST', 'allow-wait-calc', { accept_id: id });

  // calc-params answers with the 300 MB as base64, streamed: read it as a stream and check it
  const p = await send(`${srv.url}/mi-distcomp-api/calc-params?site_id=nims-dev&accept_id=${id}`, { method: 'GET', token, collect: false });
  assert.equal(p.status, 200);
  const h = createHash('sha256');
  let text = '';
  let inContent = false;
  let carry = '';
  for await (const chunk of p.stream!) {
    let s = (chunk as Buffer).toString('latin1');
    if (!inContent) {
      text += s;
      const at = text.indexOf('"big.bin":["');
      if (at < 0) continue;
      inContent = true;
      s = text.slice(at + '"big.bin":["'.length);
    }
    const end = s.indexOf('"');
    const part = carry + (end >= 0 ? s.slice(0, end) : s);
    const whole = end >= 0 ? part.length : part.length - (part.length % 4);
    h.update(Buffer.from(part.slice(0, whole), 'base64'));
    carry = part.slice(whole);
    if (end >= 0) {
      inContent = false;
      text = 'done';
    }
  }
  assert.equal(h.digest('hex'), expected, 'the input came back byte-identical');

  const ids = { accept_id: id, site_id: 'nims-dev' };
  await call('POST', 'calc-params-complete', ids);
  await call('POST', 'calc-start', ids);
  await call('POST', 'calc-end', { ...ids, result: 'calc end' });
  async function* results(): AsyncGenerator<string> {
    yield `{"accept_id":"${id}","site_id":"nims-dev","result_files":{"out.bin":{"content":"`;
    yield* base64Pieces(pseudoRandom(size, 9));
    yield '","mimetype1":"application/octet-stream;","mimetype2":"charset=binary"}}}';
  }
  r = await send(`${srv.url}/mi-distcomp-api/send-results`, { method: 'POST', token, body: results() });
  assert.equal(json(r.body).errors[0].code, 200, r.body.toString());
  await call('POST', 'end-send', { ...ids, result: 'end send' });

  // get-calc-result with blob references (our extension), then a Range download from the middle
  const res = await call('GET', `get-calc-result?accept_id=${id}&blobs=1`);
  const ref = res.errors[0]['result-info'].result_files['out.bin'];
  assert.equal(ref.size, size);
  assert.equal(ref.blob, await sha256Of(pseudoRandom(size, 9)));
  const part = await send(`${srv.url}/mi-distcomp-api/x/blobs/${ref.blob}`, { method: 'GET', token, headers: { range: `bytes=${size - 10}-` } });
  assert.equal(part.status, 206);
  assert.equal(part.body.length, 10);
  assert.ok(peakRssMb(srv.child.pid!) < 256, `server peak RSS ${peakRssMb(srv.child.pid!)} MiB`);
});

test('resumable upload: cut midway, status, resume, verify; hash mismatch and truncation leave nothing', async (t) => {
  const { srv, token, data } = await relay(t);
  const size = 20 * MB;
  const chunks: Buffer[] = [];
  for await (const b of pseudoRandom(size, 3)) chunks.push(b);
  const all = Buffer.concat(chunks);
  const sha = createHash('sha256').update(all).digest('hex');
  const url = `${srv.url}/mi-distcomp-api/x/blobs/${sha}`;

  // send 8 MiB, then the connection dies
  await new Promise<void>((resolve) => {
    const req = http.request(`${url}?size=${size}`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' } });
    req.on('error', () => resolve());
    req.write(all.subarray(0, 8 * MB), () => setTimeout(() => req.destroy(), 300));
  });
  await new Promise((ok) => setTimeout(ok, 200));
  let st = json((await send(`${url}/status`, { method: 'GET', token })).body).errors[0];
  assert.equal(st.complete, false);
  assert.ok(st.received > 0 && st.received <= 8 * MB, `received ${st.received}`);
  // the blob is not visible yet
  assert.equal((await send(url, { method: 'GET', token })).status, 404);
  // resuming at the wrong offset is refused with the right one
  let r = await send(`${url}?size=${size}&offset=0`, { method: 'PUT', token, body: [all.subarray(0, 10)] });
  assert.equal(r.status, 409);
  assert.equal(json(r.body).errors[0].received, st.received);
  r = await send(`${url}?size=${size}&offset=${st.received}`, { method: 'PUT', token, headers: { 'content-type': 'application/octet-stream' }, body: [all.subarray(st.received)] });
  assert.equal(r.status, 200, r.body.toString());
  assert.equal(json(r.body).errors[0].complete, true);
  st = json((await send(`${url}/status`, { method: 'GET', token })).body).errors[0];
  assert.equal(st.complete, true);
  const back = await send(url, { method: 'GET', token });
  assert.equal(createHash('sha256').update(back.body).digest('hex'), sha);

  // register a calc that refers to it
  r = await send(`${srv.url}/mi-distcomp-api/add-calcinfo`, { method: 'POST', token, body: [JSON.stringify({ 'calc-info': {
    command: '/bin/echo', 'remote-site': 'nims-dev', parameter_files: { 'mesh.bin': { blob: sha, size, mimetype1: 'application/octet-stream;', mimetype2: 'charset=binary' } }, result_files: {} } })] });
  assert.equal(json(r.body).errors[0].code, 200, r.body.toString());
  // a wrong size or an unknown blob is refused
  r = await send(`${srv.url}/mi-distcomp-api/add-calcinfo`, { method: 'POST', token, body: [JSON.stringify({ 'calc-info': {
    command: '/bin/echo', 'remote-site': 'nims-dev', parameter_files: { 'mesh.bin': { blob: 'f'.repeat(64), size: 1 } } } })] });
  assert.equal(json(r.body).errors[0].code, 400);
  assert.match(json(r.body).errors[0].message, /no uploaded file with sha256/);

  // hash mismatch: nothing stored, nothing partial left
  const other = all.subarray(0, MB);
  const wrongSha = createHash('sha256').update('something else').digest('hex');
  r = await send(`${srv.url}/mi-distcomp-api/x/blobs/${wrongSha}?size=${MB}`, { method: 'PUT', token, body: [other] });
  assert.equal(r.status, 400);
  assert.match(json(r.body).errors[0].message, /sha256 mismatch/);
  // truncation (the body ended cleanly before the declared size): kept for a resume, not visible
  const shaMb = createHash('sha256').update(other).digest('hex');
  r = await send(`${srv.url}/mi-distcomp-api/x/blobs/${shaMb}?size=${MB}`, { method: 'PUT', token, body: [other.subarray(0, 1000)] });
  assert.equal(r.status, 400);
  assert.match(json(r.body).errors[0].message, /ended at 1000 of 1048576 bytes; resume with \?offset=1000/);
  assert.equal((await send(`${srv.url}/mi-distcomp-api/x/blobs/${shaMb}`, { method: 'GET', token })).status, 404);
  // too long
  r = await send(`${srv.url}/mi-distcomp-api/x/blobs/${shaMb}?size=${MB}&offset=1000`, { method: 'PUT', token, body: [other, Buffer.alloc(10)] });
  assert.equal(r.status, 400);
  assert.match(json(r.body).errors[0].message, /more bytes than the declared size/);
  const blobFiles = readdirSync(join(data, 'blobs', 'partial'));
  assert.deepEqual(blobFiles, [], 'no partial file left after a mismatch or an overlong upload');
});

test('another user can neither read nor claim a blob by its hash', async (t) => {
  const { srv, token, data } = await relay(t);
  const { bob } = await makeTokens(data, ['bob']);
  const bytes = Buffer.from('secret mesh');
  const sha = createHash('sha256').update(bytes).digest('hex');
  const r = await send(`${srv.url}/mi-distcomp-api/x/blobs/${sha}?size=${bytes.length}`, { method: 'PUT', token, body: [bytes] });
  assert.equal(r.status, 200);
  assert.equal((await send(`${srv.url}/mi-distcomp-api/x/blobs/${sha}`, { method: 'GET', token: bob! })).status, 404);
  const reg = await send(`${srv.url}/mi-distcomp-api/add-calcinfo`, { method: 'POST', token: bob!, body: [JSON.stringify({ 'calc-info': {
    command: '/bin/echo', 'remote-site': 'nims-dev', parameter_files: { x: { blob: sha, size: bytes.length } } } })] });
  assert.match(json(reg.body).errors[0].message, /no uploaded file/);
  // claiming by status does not reveal it either
  const st = json((await send(`${srv.url}/mi-distcomp-api/x/blobs/${sha}/status`, { method: 'GET', token: bob! })).body).errors[0];
  assert.equal(st.complete, false);
  void Readable;
});
