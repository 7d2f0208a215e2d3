// `npm run bench -- files`: a 1 GiB file through the relay (BENCH_FILE_MB to change the size).
// - streaming endpoints: upload (PUT x/blobs) and download (GET x/blobs) throughput, next to a
//   plain Node stream copy of the same file over loopback HTTP measured in the same run;
// - the deployed JSON form: the same file base64-encoded inside add-calcinfo, and back out
//   through calc-params, streamed;
// - peak RSS of the relay (VmHWM) and of the client process doing each transfer.
// Targets (issue 6): streaming >= 0.7 x the plain stream, every process <= 128 MiB; the JSON
// form <= 256 MiB.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { makeTokens, writeIni } from '../test/helpers/relay-in-process.ts';
import { spawnServer } from '../test/helpers/server-process.ts';
import { emit } from './bench-stats.ts';

const MB = 1024 * 1024;
const SIZE = Number(process.env['BENCH_FILE_MB'] ?? 1024) * MB;
const peakRssMb = (pid: number): number => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

const dir = mkdtempSync(join(tmpdir(), 'distcomp-bench-files-'));
const file = join(dir, 'big.bin');
{
  const fd = openSync(file, 'w');
  const piece = Buffer.alloc(4 * MB);
  for (let done = 0, n = 0; done < SIZE; done += piece.length, n++) {
    for (let i = 0; i < piece.length; i += 512) piece.writeUInt32LE((n * 2654435761 + i * 40503) >>> 0, i);
    writeSync(fd, piece.subarray(0, Math.min(piece.length, SIZE - done)));
  }
  closeSync(fd);
}
const sha = createHash('sha256');
for await (const c of createReadStream(file, { highWaterMark: 4 * MB })) sha.update(c as Buffer);
const sha256 = sha.digest('hex');

/** Runs a client script in its own process (so its RSS is its own); returns seconds and its peak RSS. */
function child(script: string, env: Record<string, string>): Promise<{ s: number; rssMb: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('exit', (code) => {
      const s = (performance.now() - t0) / 1000;
      if (code !== 0) return reject(new Error(`client failed (${code}): ${out}`));
      resolve({ s, rssMb: Number(/rss=(\d+)/.exec(out)?.[1] ?? 0) });
    });
  });
}
const rssLine = "const rss = Number(/VmHWM:\\s+(\\d+) kB/.exec((await import('node:fs')).readFileSync('/proc/self/status','utf8'))[1]) / 1024; console.log('rss=' + Math.round(rss));";

// 1. the baseline: a plain Node stream copy over loopback HTTP (server writes to a file)
const plainOut = join(dir, 'plain.out');
const plain = http.createServer((req, res) => {
  if (req.method === 'PUT') void pipeline(req, createWriteStream(plainOut)).then(() => res.end('ok'));
  else pipeline(createReadStream(file), res).catch(() => undefined);
});
await new Promise<void>((ok) => plain.listen(0, '127.0.0.1', ok));
const plainUrl = `http://127.0.0.1:${(plain.address() as { port: number }).port}/`;
const plainUp = await child(`
import http from 'node:http'; import { createReadStream } from 'node:fs'; import { pipeline } from 'node:stream/promises';
const req = http.request(process.env.URL, { method: 'PUT' }); const done = new Promise((ok) => req.on('response', (r) => { r.resume(); r.on('end', ok); }));
await pipeline(createReadStream(process.env.FILE, { highWaterMark: 1 << 20 }), req); await done; ${rssLine}`, { URL: plainUrl, FILE: file });
const plainDown = await child(`
import http from 'node:http'; import { createWriteStream } from 'node:fs'; import { pipeline } from 'node:stream/promises';
await new Promise((ok, ko) => http.get(process.env.URL, (r) => pipeline(r, createWriteStream(process.env.OUT)).then(ok, ko)));  ${rssLine}`, { URL: plainUrl, OUT: join(dir, 'plain.down') });
plain.close();
rmSync(plainOut, { force: true });
rmSync(join(dir, 'plain.down'), { force: true });

// 2. the relay
const ini = join(dir, 'mi.ini');
const data = join(dir, 'data');
writeIni(ini, { server: { rate_limit_per_minute: 0 } });
const { bench: token } = await makeTokens(data, ['bench']);
const srv = await spawnServer(ini, data);
const clientLib = new URL('../dist/client/', import.meta.url).pathname;
try {
  const up = await child(`
import { RelayClient } from '${clientLib}relay-client.js'; import { uploadBlob } from '${clientLib}blob-transfer.js';
const c = new RelayClient({ baseUrl: process.env.URL, token: process.env.TOKEN });
await uploadBlob(c, process.env.FILE, { id: { sha256: process.env.SHA, size: Number(process.env.SIZE) } }); await c.close(); ${rssLine}`,
  { URL: srv.url, TOKEN: token!, FILE: file, SHA: sha256, SIZE: String(SIZE) });
  const down = await child(`
import { RelayClient } from '${clientLib}relay-client.js'; import { downloadBlob } from '${clientLib}blob-transfer.js';
const c = new RelayClient({ baseUrl: process.env.URL, token: process.env.TOKEN });
await downloadBlob(c, { sha256: process.env.SHA, size: Number(process.env.SIZE) }, process.env.OUT, process.env.OUT + '.part'); await c.close(); ${rssLine}`,
  { URL: srv.url, TOKEN: token!, SHA: sha256, SIZE: String(SIZE), OUT: join(dir, 'down.bin') });
  rmSync(join(dir, 'down.bin'), { force: true });
  const relayStreamRss = peakRssMb(srv.child.pid!);
  const mb = SIZE / MB;
  emit({ bench: 'files', metric: 'plain_stream_MiB_per_s', up: mb / plainUp.s, down: mb / plainDown.s, size_MiB: mb });
  emit({ bench: 'files', metric: 'streaming_upload', MiB_per_s: mb / up.s, ratio_to_plain: plainUp.s / up.s, target_min_ratio: 0.7, client_peak_rss_MiB: up.rssMb, note: 'includes the relay re-reading nothing: sha256 known up front' });
  emit({ bench: 'files', metric: 'streaming_download', MiB_per_s: mb / down.s, ratio_to_plain: plainDown.s / down.s, target_min_ratio: 0.7, client_peak_rss_MiB: down.rssMb, note: 'includes the sha256 check of the whole file after the download' });
  emit({ bench: 'files', metric: 'relay_peak_rss_after_streaming_MiB', value: relayStreamRss, target_max: 128 });

  // 3. the deployed JSON form: add-calcinfo with the file as base64, then calc-params back
  const json = await child(`
import http from 'node:http'; import { createReadStream } from 'node:fs';
async function* body() { yield '{"calc-info":{"command":"/bin/echo","remote-site":"nims-dev","parameters":"","parameter_files":{"big.bin":["';
  let carry = Buffer.alloc(0);
  for await (const c of createReadStream(process.env.FILE, { highWaterMark: 3 << 20 })) { const a = carry.length ? Buffer.concat([carry, c]) : c; const w = a.length - a.length % 3; yield a.subarray(0, w).toString('base64'); carry = a.subarray(w); }
  if (carry.length) yield carry.toString('base64');
  yield '","application/octet-stream;","charset=binary"]},"result_files":{}}}'; }
const send = (method, path, gen) => new Promise((ok, ko) => { const req = http.request(process.env.URL + '/mi-distcomp-api/' + path, { method, headers: { authorization: 'Bearer ' + process.env.TOKEN } }, (r) => { let n = 0; let head = ''; r.on('data', (d) => { n += d.length; if (head.length < 400) head += d.toString(); }); r.on('end', () => ok({ n, head })); }); req.on('error', ko); if (gen) { (async () => { for await (const p of gen) if (!req.write(p)) await new Promise((w) => req.once('drain', w)); req.end(); })(); } else req.end(); });
const t0 = performance.now();
const reg = await send('POST', 'add-calcinfo', body());
const id = JSON.parse(reg.head).errors[0].accept_id;
const t1 = performance.now();
await send('POST', 'allow-wait-calc', ['{"accept_id":"' + id + '"}']);
const back = await send('GET', 'calc-params?site_id=nims-dev&accept_id=' + id);
const t2 = performance.now();
console.log('up=' + (t1 - t0) + ' down=' + (t2 - t1) + ' bytes=' + back.n); ${rssLine}`, { URL: srv.url, TOKEN: token!, FILE: file });
  const jsonRelayRss = peakRssMb(srv.child.pid!);
  emit({ bench: 'files', metric: 'deployed_json_form', total_s: json.s, MiB_per_s_both_ways: (2 * mb) / json.s, client_peak_rss_MiB: json.rssMb, relay_peak_rss_MiB: jsonRelayRss, target_max_rss_MiB: 256 });
} finally {
  await srv.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
