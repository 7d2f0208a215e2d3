// send-results' body on the wire: small results go whole, with a Content-Length (the relay
// then reads them with JSON.parse), larger ones as a chunked stream; the relay stores the same
// bytes either way.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { RelayClient } from '../../src/client/relay-client.ts';
import { WHOLE_BODY_MAX } from '../../src/protocol/features.ts';
import type { ResultUpload } from '../../src/client/result-upload.ts';
import { calcInfo, startTestRelay, type TestRelay } from '../helpers/relay-in-process.ts';

/** A calc walked to `running` on the relay, ready for send-results. */
async function runningCalc(r: TestRelay, results: string[]): Promise<string> {
  const reg = await r.call('POST', 'add-calcinfo', calcInfo({ results }));
  const id = reg.body.errors[0].accept_id as string;
  await r.call('POST', 'allow-wait-calc', { accept_id: id });
  const claim = await r.call('GET', 'calc-request?site_id=nims-dev');
  assert.equal(claim.body.errors[0].accept_id, id);
  const ids = { accept_id: id, site_id: 'nims-dev' };
  assert.ok((await r.call('GET', `calc-params?site_id=nims-dev&accept_id=${id}`)).body['calc-info']);
  for (const ep of ['calc-params-complete', 'calc-start']) assert.equal((await r.call('POST', ep, ids)).body.errors[0].code, 200);
  assert.equal((await r.call('POST', 'calc-end', { ...ids, result: 'calc end' })).body.errors[0].code, 200);
  return id;
}

/** The bytes of one result file, as get-calc-result gives them after end-send. */
async function resultBytes(r: TestRelay, id: string, name: string): Promise<Buffer> {
  assert.equal((await r.call('POST', 'end-send', { accept_id: id, site_id: 'nims-dev', result: 'end send' })).body.errors[0].code, 200);
  const got = await r.call('GET', `get-calc-result?accept_id=${id}`);
  return Buffer.from(got.body.errors[0]['result-info'].result_files[name].content as string, 'base64');
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('send-results: small results go whole with a Content-Length, large ones chunked; the same bytes arrive', async (t) => {
  const r = await startTestRelay(t);
  const seen: { length: string | undefined; chunked: boolean }[] = [];
  r.server.app.server.on('request', (req: IncomingMessage) => {
    if (req.url?.includes('/send-results')) seen.push({ length: req.headers['content-length'], chunked: /chunked/.test(req.headers['transfer-encoding'] ?? '') });
  });
  const client = new RelayClient({ baseUrl: r.url, token: r.tokens['alice'] ?? null, retry: { retries: 0, intervalMs: 0, jitter: 0 } });
  t.after(() => client.close());
  const file = (name: string, bytes: Buffer, piece: number): ResultUpload => ({
    name, mimetype1: 'application/octet-stream;', mimetype2: 'charset=binary', size: bytes.length,
    open: async () => (async function* () {
      for (let i = 0; i < bytes.length; i += piece) yield bytes.subarray(i, i + piece);
    })(),
  });

  // two small files, read in many small pieces: still one body of known length
  const small = randomBytes(1000);
  const id1 = await runningCalc(r, ['a.bin', 'b.txt']);
  await client.sendResults('nims-dev', id1, [file('a.bin', small, 97), file('b.txt', Buffer.from('done\n'), 2)]);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]?.chunked, false);
  assert.ok(Number(seen[0]?.length) > 1000 * 4 / 3, `content-length ${seen[0]?.length}`);
  assert.equal(sha(await resultBytes(r, id1, 'a.bin')), sha(small));

  // past the whole-body limit: the first pieces read are sent, then the rest, as one stream
  const large = randomBytes(WHOLE_BODY_MAX);
  const id2 = await runningCalc(r, ['big.bin']);
  await client.sendResults('nims-dev', id2, [file('big.bin', large, 60_000)]);
  assert.equal(seen.length, 2);
  assert.equal(seen[1]?.chunked, true);
  assert.equal(seen[1]?.length, undefined);
  assert.equal(sha(await resultBytes(r, id2, 'big.bin')), sha(large));
});

test('send-results: a result file that cannot be read fails the call as before, and its other files are closed', async (t) => {
  const r = await startTestRelay(t);
  const client = new RelayClient({ baseUrl: r.url, token: r.tokens['alice'] ?? null, retry: { retries: 0, intervalMs: 0, jitter: 0 } });
  t.after(() => client.close());
  const id = await runningCalc(r, ['a.bin', 'b.bin']);
  let closed = false;
  const first: ResultUpload = {
    name: 'a.bin', mimetype1: 'application/octet-stream;', mimetype2: 'charset=binary', size: 3,
    open: async () => (async function* () {
      try {
        yield Buffer.from('abc');
      } finally {
        closed = true;
      }
    })(),
  };
  const broken: ResultUpload = {
    name: 'b.bin', mimetype1: 'application/octet-stream;', mimetype2: 'charset=binary', size: 3,
    open: async () => (async function* () {
      yield* [];
      throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
    })(),
  };
  await assert.rejects(client.sendResults('nims-dev', id, [first, broken]), /EIO/);
  assert.equal(closed, true);
  // nothing reached the relay: the calc still waits for its results
  const p = await r.call('GET', `calc-progress?accept_id=${id}`);
  assert.equal(p.body.errors[0].message, 'status:calc end');
});
