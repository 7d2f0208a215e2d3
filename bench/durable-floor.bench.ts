// `npm run bench -- durable-floor`: what issue 2's latency target leaves for everything but
// storage. One protocol cycle's durable writes, without HTTP, JSON or any checks: 5 SQLite
// commits (WAL, synchronous=NORMAL, as the relay opens its database: one per state-changing
// call of the combined cycle) of a calc row and its history rows, and 2 atomic 1 KiB files
// (open, write, close, rename: the parameter file and the result file), in one warm process,
// back to back. Next to it, in the same run, a warm empty HTTP round trip to a bare node:http
// server on loopback. A cycle of the combined protocol is 5 round trips plus this floor, plus
// everything the relay does per call; the target is 10 round trips in all.
//
// Measured 2026-12-02 (fourth session, 2-core VM): floor 0.49 ms p50, empty round trip to bare
// node:http 0.071 ms (to the relay, fastify, 0.10-0.13 ms): 5 round trips + the floor = 11.9
// round trips (9.8 against the relay's own empty round trip), so nothing is left of the target
// for parsing, checking, routing and answering 5 calls. The floor repeats run to run (0.46-0.49).
// Issue 2's 10-round-trip cycle cannot be met here by a relay that makes each call's state
// change durable before answering (issue 2's kill -9 requirement).
import Database from 'better-sqlite3';
import { closeSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { Agent, request } from 'undici';
import { emit, percentile } from './bench-stats.ts';

const dir = mkdtempSync(join(tmpdir(), 'distcomp-bench-floor-'));
mkdirSync(join(dir, 'blobs'));
const db = new Database(join(dir, 'floor.sqlite'));
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec(`CREATE TABLE calcs (accept_id TEXT PRIMARY KEY, progress TEXT NOT NULL, info TEXT NOT NULL);
  CREATE TABLE events (id INTEGER PRIMARY KEY, accept_id TEXT NOT NULL, kind TEXT NOT NULL, at INTEGER NOT NULL);
  CREATE INDEX events_calc ON events(accept_id, id);`);
const insert = db.prepare('INSERT INTO calcs (accept_id, progress, info) VALUES (?, ?, ?)');
const move = db.prepare('UPDATE calcs SET progress = ? WHERE accept_id = ?');
const event = db.prepare('INSERT INTO events (accept_id, kind, at) VALUES (?, ?, ?)');
const info = 'x'.repeat(300);

function atomicFile(name: string): void {
  const tmp = join(dir, 'blobs', `.${name}.tmp`);
  const fd = openSync(tmp, 'w', 0o600);
  writeSync(fd, randomBytes(1024));
  closeSync(fd);
  renameSync(tmp, join(dir, 'blobs', name));
}

/** One calc's durable writes, as the 5 calls of the combined cycle make them. */
function cycle(): void {
  const id = randomUUID();
  const step = (progress: string, kinds: string[]): void => {
    db.transaction(() => {
      move.run(progress, id);
      for (const k of kinds) event.run(id, k, Date.now());
    })();
  };
  atomicFile(`${id}.in`);
  db.transaction(() => {
    insert.run(id, 'not start', info);
    event.run(id, 'registered', Date.now());
    event.run(id, 'allowed', Date.now());
  })();
  step('sending params', ['claimed', 'calc-params']);
  step('running', ['calc-params-complete', 'calc-start']);
  atomicFile(`${id}.out`);
  step('got return', ['calc-end', 'send-results', 'end-send']);
  step('collected', ['get-calc-result']);
}

const server = createServer((_req, res) => {
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.end('{"errors":[{"code":200,"message":"features"}]}');
});
await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
const agent = new Agent({ connections: 1 });
async function emptyRoundTrip(): Promise<void> {
  const r = await request(url, { dispatcher: agent });
  await r.body.dump();
}

try {
  for (let i = 0; i < 2000; i++) cycle();
  for (let i = 0; i < 2000; i++) await emptyRoundTrip();
  // alternating blocks, so that both are measured in the same moments
  const floor: number[] = [];
  const rtt: number[] = [];
  for (let block = 0; block < 10; block++) {
    for (let i = 0; i < 300; i++) {
      const t0 = performance.now();
      cycle();
      floor.push(performance.now() - t0);
    }
    for (let i = 0; i < 300; i++) {
      const t0 = performance.now();
      await emptyRoundTrip();
      rtt.push(performance.now() - t0);
    }
  }
  const [f, r] = [percentile(floor, 50), percentile(rtt, 50)];
  emit({ bench: 'durable-floor', metric: 'durable_writes_of_one_cycle_ms', p50: f, p99: percentile(floor, 99), n: floor.length, commits: 5, files: 2 });
  emit({ bench: 'durable-floor', metric: 'empty_round_trip_ms', p50: r, p99: percentile(rtt, 99), n: rtt.length, server: 'bare node:http' });
  emit({ bench: 'durable-floor', metric: 'combined_cycle_floor_in_round_trips', value: 5 + f / r, target_cycle_p50_in_round_trips: 10,
    left_per_call_for_everything_else_ms: Math.max(0, (10 - 5 - f / r) * r) / 5 });
} finally {
  await agent.close();
  server.close();
  db.close();
  rmSync(dir, { recursive: true, force: true });
}
