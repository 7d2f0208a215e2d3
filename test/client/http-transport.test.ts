// The client's transport against real servers on loopback: every deadline, an abort, TLS with
// and without trust, connection reuse and close(), and how each failure reaches the caller of
// RelayClient (the same error classes, so retries and messages stay what they were with undici).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { CallAborted, RelayTlsFailure, RelayUnreachable } from '../../src/client/client-errors.ts';
import { HttpOptionsError } from '../../src/client/http-options.ts';
import { HttpTransport, RequestAbortedError, TransportError, type TransportOptions } from '../../src/client/http-transport.ts';
import { RelayClient } from '../../src/client/relay-client.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const OPTS: TransportOptions = {
  verifyTls: true, ca: undefined, connectTimeoutMs: 2000, headersTimeoutMs: 2000, bodyTimeoutMs: 2000, keepAliveMs: 5000,
};
const ENVELOPE = JSON.stringify({ errors: [{ code: 200, message: 'ok', features: [], max_wait_s: 30 }] });

/** A server on 127.0.0.1:0 with `handler`; closed (all connections too) after the test. */
async function serve(t: { after(fn: () => unknown): void }, handler: http.RequestListener): Promise<{ url: string; port: number; server: http.Server }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as net.AddressInfo;
  return { url: `http://127.0.0.1:${port}`, port, server };
}

const client = (baseUrl: string, h: Partial<typeof OPTS> & { caFile?: string | null } = {}): RelayClient =>
  new RelayClient({ baseUrl, token: null, retry: { retries: 0, intervalMs: 1, jitter: 0 }, http: h });

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('http transport', () => {
  it('a refused connection is RelayUnreachable naming ECONNREFUSED', async (t) => {
    const { port, server } = await serve(t, () => {});
    await new Promise<void>((r) => server.close(() => r()));
    const c = client(`http://127.0.0.1:${port}`);
    await assert.rejects(c.serverFeatures(), (err: Error) => err instanceof RelayUnreachable && /ECONNREFUSED/.test(err.message));
    await c.close();
  });

  it('answers, reuses one keep-alive connection, and close() ends it', async (t) => {
    const sockets = new Set<net.Socket>();
    const { url, server } = await serve(t, (_req, res) => res.end(ENVELOPE));
    server.on('connection', (s: net.Socket) => sockets.add(s));
    const c = client(url);
    for (let i = 0; i < 3; i++) assert.deepEqual(await c.serverFeatures(), { features: [], maxWaitS: 30 });
    assert.equal(sockets.size, 1, 'one connection for three calls');
    const [s] = [...sockets] as [net.Socket];
    const closed = new Promise((r) => s.once('close', r));
    await c.close();
    assert.equal(await Promise.race([closed.then(() => 'closed'), sleep(1000).then(() => 'still open')]), 'closed');
    await assert.rejects(c.serverFeatures(), RelayUnreachable, 'a closed client refuses to send');
  });

  it('no headers in time: HEADERS_TIMEOUT (RelayUnreachable); a long poll\'s hold extends the wait', async (t) => {
    const { url } = await serve(t, (_req, res) => void setTimeout(() => res.end(ENVELOPE), 400));
    const tr = new HttpTransport({ ...OPTS, headersTimeoutMs: 150 });
    t.after(() => tr.close());
    await assert.rejects(tr.request({ method: 'GET', url: `${url}/x`, headers: {} }), (e: Error) => e instanceof TransportError && e.code === 'HEADERS_TIMEOUT');
    const r = await tr.request({ method: 'GET', url: `${url}/x`, headers: {}, headersTimeoutMs: 150 + 1000 });
    assert.equal(await r.text(), ENVELOPE);

    const c = client(url, { headersTimeoutMs: 150 });
    await assert.rejects(c.serverFeatures(), (e: Error) => e instanceof RelayUnreachable && /HEADERS_TIMEOUT/.test(e.message));
    await c.close();
  });

  it('a body that stalls: BODY_TIMEOUT; a reader that is slow is not the relay\'s fault', async (t) => {
    const big = Buffer.alloc(4 * 1024 * 1024, 0x61);
    const { url } = await serve(t, (req, res) => {
      if (req.url === '/stall') {
        res.writeHead(200, { 'content-length': '10' });
        res.write('12345'); // and nothing more
      } else res.end(big);
    });
    const tr = new HttpTransport({ ...OPTS, bodyTimeoutMs: 150 });
    t.after(() => tr.close());
    const r = await tr.request({ method: 'GET', url: `${url}/stall`, headers: {} });
    await assert.rejects(r.text(), (e: Error) => e instanceof TransportError && e.code === 'BODY_TIMEOUT');

    const slow = await tr.request({ method: 'GET', url: `${url}/big`, headers: {} });
    await sleep(500); // the buffers fill up and the relay waits for us: no timeout
    let n = 0;
    for await (const c of slow.body) {
      n += (c as Buffer).length;
      if (n < 1024 * 1024) await sleep(5);
    }
    assert.equal(n, big.length);
  });

  it('a streamed upload is not cut by the headers wait while it moves; a stalled one is', async (t) => {
    const { url } = await serve(t, (req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(String(n)));
    });
    const tr = new HttpTransport({ ...OPTS, headersTimeoutMs: 150 });
    t.after(() => tr.close());
    async function* slowly(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 8; i++) {
        await sleep(60);
        yield Buffer.alloc(1000, 0x62);
      }
    }
    const r = await tr.request({ method: 'PUT', url: `${url}/up`, headers: {}, body: Readable.from(slowly()) });
    assert.equal(await r.text(), '8000');

    const stalls = new Readable({ read() {} });
    stalls.push('x'); // and nothing more
    await assert.rejects(tr.request({ method: 'PUT', url: `${url}/up`, headers: {}, body: stalls }),
      (e: Error) => e instanceof TransportError && e.code === 'HEADERS_TIMEOUT');
  });

  it('an abort ends the wait at once, as CallAborted; also while the body comes', async (t) => {
    const { url } = await serve(t, (req, res) => {
      if (req.url?.startsWith('/mi-distcomp-api/x/features')) return; // never answers
      res.writeHead(200);
      res.write('part');
    });
    const ac = new AbortController();
    const c = client(url);
    const t0 = Date.now();
    setTimeout(() => ac.abort('SIGINT'), 100);
    await assert.rejects(c.serverFeatures({ signal: ac.signal }), CallAborted);
    assert.ok(Date.now() - t0 < 1500);
    await c.close();

    const tr = new HttpTransport(OPTS);
    t.after(() => tr.close());
    const ac2 = new AbortController();
    const r = await tr.request({ method: 'GET', url: `${url}/body`, headers: {}, signal: ac2.signal });
    setTimeout(() => ac2.abort(), 50);
    await assert.rejects(r.text(), RequestAbortedError);
    await assert.rejects(tr.request({ method: 'GET', url: `${url}/body`, headers: {}, signal: ac2.signal }), RequestAbortedError);
  });

  it('a header value Node refuses: rejected at once, with no timer left behind', async () => {
    const tr = new HttpTransport(OPTS);
    const timers = (): number => process.getActiveResourcesInfo().filter((x) => x === 'Timeout').length;
    const before = timers();
    await assert.rejects(tr.request({ method: 'GET', url: 'http://127.0.0.1:9/x', headers: { authorization: 'Bearer a\nb' } }), { code: 'ERR_INVALID_CHAR' });
    assert.equal(timers(), before);
    tr.close();
  });

  it('a TLS server that never completes the handshake: CONNECT_TIMEOUT', async (t) => {
    const silent = net.createServer(() => {}); // accepts, never speaks TLS
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const held: net.Socket[] = [];
    silent.on('connection', (s) => held.push(s));
    t.after(() => {
      for (const s of held) s.destroy();
      silent.close();
    });
    const { port } = silent.address() as net.AddressInfo;
    const c = client(`https://127.0.0.1:${port}`, { connectTimeoutMs: 150 });
    await assert.rejects(c.serverFeatures(), (e: Error) => e instanceof RelayUnreachable && /CONNECT_TIMEOUT/.test(e.message));
    await c.close();
  });

  it('TLS: verified by default, trusted with a CA file (beside the bundled roots), or not verified on request', async (t) => {
    const dir = tempDir(t);
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { encoding: 'utf8' });
    assert.equal(gen.status, 0, gen.stderr);
    const server = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => res.end(ENVELOPE));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;

    const strict = client(url);
    await assert.rejects(strict.serverFeatures(), (e: Error) => e instanceof RelayTlsFailure && /SELF_SIGNED|self[- ]signed/i.test(e.message));
    await strict.close();

    const trusting = client(url, { caFile: cert });
    assert.deepEqual(await trusting.serverFeatures(), { features: [], maxWaitS: 30 });
    await trusting.close();

    const insecure = client(url, { verifyTls: false });
    assert.deepEqual(await insecure.serverFeatures(), { features: [], maxWaitS: 30 });
    await insecure.close();

    // unusable CA files: the messages of before
    const other = join(dir, 'other.pem');
    writeFileSync(other, 'not a certificate\n');
    assert.throws(() => client(url, { caFile: other }), (e: Error) => e instanceof HttpOptionsError && e.message === `${other} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
    assert.throws(() => client(url, { caFile: join(dir, 'missing.pem') }), (e: Error) => e instanceof HttpOptionsError && /^cannot read the CA file /.test(e.message));
  });
});
