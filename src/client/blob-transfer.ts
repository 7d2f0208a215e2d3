// Streaming file transfers with a relay that has the `blobs` feature: one file's raw bytes,
// sha256-verified at both ends, resumed from the bytes already across after any break, at
// constant memory whatever the size (the deployed base64-in-JSON form holds files whole).
import type { Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { pipeline } from 'node:stream/promises';
import { Readable, Transform } from 'node:stream';
import { firstEntry } from '../protocol/envelope.ts';
import { BadAnswer, ProtocolFailure, RelayUnreachable } from './client-errors.ts';
import type { TransportResponse } from './http-transport.ts';
import type { RelayClient } from './relay-client.ts';
import { withRetry } from './retry-policy.ts';

// node:crypto is required at the first hash, not imported: `distcomp submit` carries this file
// in its one-file bundle (scripts/build.mjs) and only a blob transfer needs a hash, while
// loading node:crypto cost 5-10 ms of CPU here
const requireBuiltin = createRequire(import.meta.url);
const sha256 = (): Hash => (requireBuiltin('node:crypto') as typeof import('node:crypto')).createHash('sha256');

/** sha256 of no bytes at all: an empty blob needs no transfer. */
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export interface BlobId {
  sha256: string;
  size: number;
}

/** Opens the bytes to send from byte `start` (called afresh for each try). */
export type OpenFrom = (start: number) => Promise<AsyncIterable<Uint8Array> & NodeJS.ReadableStream> | (AsyncIterable<Uint8Array> & NodeJS.ReadableStream);

/** sha256 and size of a file, read as a stream. */
export async function hashFile(path: string): Promise<BlobId> {
  return hashStream(createReadStream(path, { highWaterMark: 1024 * 1024 }));
}

export async function hashStream(source: AsyncIterable<Uint8Array>): Promise<BlobId> {
  const h = sha256();
  let size = 0;
  for await (const c of source) {
    h.update(c as Buffer);
    size += (c as Buffer).length;
  }
  return { sha256: h.digest('hex'), size };
}

async function envelopeOf(res: TransportResponse, endpoint: string): Promise<Record<string, unknown>> {
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new BadAnswer(endpoint, res.status, `not JSON: ${text.slice(0, 200)}`);
  }
  const e = firstEntry(json);
  if (e === null) throw new BadAnswer(endpoint, res.status, `no envelope: ${text.slice(0, 200)}`);
  if (e.code !== 200) throw new ProtocolFailure(endpoint, res.status, e.code, e.message, e);
  return e;
}

/**
 * Uploads a file (PUT x/blobs/<sha256>), continuing where the relay's copy stopped.
 * Retried by the client's retry policy; each try asks the relay how much it has.
 */
export async function uploadBlob(client: RelayClient, from: string | OpenFrom, o: { signal?: AbortSignal; id?: BlobId } = {}): Promise<BlobId> {
  const open: OpenFrom = typeof from === 'string' ? (start) => createReadStream(from, { start, highWaterMark: 1024 * 1024 }) : from;
  const id = o.id ?? (await hashStream(await open(0)));
  const endpoint = `x/blobs/${id.sha256}`;
  await withRetry(async () => {
    const st = await envelopeOf(await client.raw('GET', `${endpoint}/status`, { signal: o.signal }), `${endpoint}/status`);
    if (st['complete'] === true) return;
    const offset = typeof st['received'] === 'number' ? st['received'] : 0;
    const body = Readable.from(await open(offset));
    const res = await client.raw('PUT', endpoint, { query: { size: String(id.size), offset: String(offset) }, body, signal: o.signal });
    try {
      await envelopeOf(res, endpoint);
    } catch (err) {
      // the relay kept what arrived before a break ("resume with ?offset="): try again from there
      if (err instanceof ProtocolFailure && (err.code === 409 || /resume with/.test(err.protocolMessage))) {
        throw new RelayUnreachable(endpoint, client.url(endpoint), err.protocolMessage, { cause: err });
      }
      throw err;
    }
  }, client.retryPolicy, { signal: o.signal });
  return id;
}

/**
 * Downloads a blob into `dest`: bytes go to `partPath` (kept across breaks and restarts and
 * continued with a Range request), are checked against the sha256, then renamed to `dest`.
 */
export async function downloadBlob(client: RelayClient, id: BlobId, dest: string, partPath: string, o: { signal?: AbortSignal } = {}): Promise<void> {
  const endpoint = `x/blobs/${id.sha256}`;
  if (id.size === 0 && id.sha256 === EMPTY_SHA256) {
    // nothing to fetch, verify or sync (empty result files are common: a quiet command's stderr)
    await writeFile(partPath, '', { mode: 0o600 });
    await rename(partPath, dest);
    return;
  }
  await withRetry(async () => {
    let have = 0;
    try {
      have = (await stat(partPath)).size;
    } catch {
      have = 0;
    }
    if (have > id.size) {
      await unlink(partPath);
      have = 0;
    }
    if (id.size === 0) await writeFile(partPath, '', { mode: 0o600 });
    else if (have < id.size) {
      const res = await client.raw('GET', endpoint, { headers: have > 0 ? { range: `bytes=${have}-` } : {}, signal: o.signal });
      if (res.status !== 200 && res.status !== 206) {
        await envelopeOf(res, endpoint);
        throw new BadAnswer(endpoint, res.status, 'unexpected status');
      }
      if (res.status === 200 && have > 0) have = 0; // the relay ignored the Range: start over
      let written = have;
      const count = new Transform({
        transform(chunk: Buffer, _enc, done) {
          written += chunk.length;
          if (written > id.size) return done(new BadAnswer(endpoint, res.status, `more than the ${id.size} bytes announced`));
          done(null, chunk);
        },
      });
      try {
        await pipeline(res.body, count, createWriteStream(partPath, { flags: have > 0 ? 'a' : 'w', mode: 0o600 }));
      } catch (err) {
        if (err instanceof BadAnswer) throw err;
        // a broken connection: what arrived stays in the part file, the next try continues
        throw new RelayUnreachable(endpoint, client.url(endpoint), `download broken at ${written} of ${id.size} bytes: ${(err as Error).message}`, { cause: err });
      }
      if (written < id.size) throw new RelayUnreachable(endpoint, client.url(endpoint), `the download ended at ${written} of ${id.size} bytes`);
    }
    const got = await hashFile(partPath);
    if (got.sha256 !== id.sha256 || got.size !== id.size) {
      await unlink(partPath).catch(() => undefined);
      throw new BadAnswer(endpoint, 200, `sha256 mismatch: expected ${id.sha256}, got ${got.sha256}`);
    }
    const fh = await open(partPath, 'r');
    await fh.sync().catch(() => undefined);
    await fh.close();
    await rename(partPath, dest);
  }, client.retryPolicy, { signal: o.signal });
}
