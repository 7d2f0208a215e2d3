// HTTPS directly with a certificate and key; structured logs with every state change and
// never a token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { calcInfo, makeTokens, writeIni } from '../helpers/relay-in-process.ts';
import { spawnServer } from '../helpers/server-process.ts';
import { tempDir } from '../helpers/temp-dir.ts';

test('serves HTTPS with a given certificate; logs state changes as JSON without tokens', async (t) => {
  const dir = tempDir(t);
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { encoding: 'utf8' });
  assert.equal(gen.status, 0, gen.stderr);
  const ini = join(dir, 'mi.ini');
  writeIni(ini, { server: { loglevel: 3 } });
  const data = join(dir, 'data');
  const { alice: token } = await makeTokens(data, ['alice']);
  const srv = await spawnServer(ini, data, 0, ['--cert', cert, '--key', key]);
  t.after(() => srv.kill());
  assert.match(srv.url, /^https:\/\/127\.0\.0\.1:\d+$/);

  // verified against the certificate as CA: works
  const trusted = new Agent({ connect: { ca: readFileSync(cert) } });
  const call = async (method: 'GET' | 'POST', ep: string, body?: unknown): Promise<any> => {
    const r = await request(`${srv.url}/mi-distcomp-api/${ep}`, {
      method, dispatcher: trusted, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return r.body.json();
  };
  const reg = await call('POST', 'add-calcinfo', calcInfo());
  const id = reg.errors[0].accept_id as string;
  assert.equal((await call('POST', 'allow-wait-calc', { accept_id: id })).errors[0].code, 200);
  await call('GET', `calc-params?site_id=nims-dev&accept_id=${id}`);

  // not trusted: the TLS handshake fails (verification is on)
  await assert.rejects(request(`${srv.url}/mi-distcomp-api/x/features`, { dispatcher: new Agent() }), /self[- ]signed|certificate/i);
  // plain HTTP to the HTTPS port is not served
  await assert.rejects(async () => {
    const r = await request(srv.url.replace('https:', 'http:') + '/mi-distcomp-api/x/features');
    if (r.statusCode === 200) throw new Error('unexpected');
    throw new Error(`status ${r.statusCode}`);
  });

  await new Promise((ok) => setTimeout(ok, 200));
  const out = srv.output();
  assert.ok(!out.includes(token!), 'the token never appears in logs');
  const events = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const changes = events.filter((e) => e['msg'] === 'calc state change' && e['acceptId'] === id);
  assert.deepEqual(changes.map((e) => e['event']), ['registered', 'allowed', 'calc-params']);
  const last = changes.at(-1)!;
  assert.equal(last['siteId'], 'nims-dev');
  assert.equal(last['user'], 'alice');
  assert.equal(last['from'], 'not start');
  assert.equal(last['progress'], 'sending params');
});
