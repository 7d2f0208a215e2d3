// Streams request bodies to a relay and reads answers, with node:http: for tests that send
// or fetch files too large to hold as strings.
import http from 'node:http';
import { Readable } from 'node:stream';

export interface StreamAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export function send(url: string, o: { method: string; token: string; body?: Readable | Iterable<Buffer | string> | AsyncIterable<Buffer | string>; headers?: Record<string, string>; collect?: boolean }): Promise<StreamAnswer & { stream?: http.IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: o.method, headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/json', ...o.headers } }, (res) => {
      if (o.collect === false) return resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.alloc(0), stream: res });
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (o.body) Readable.from(o.body).pipe(req);
    else req.end();
  });
}

/** base64 of a byte stream, piece by piece (the project's own encoder). */
export { base64Text as base64Pieces } from '../../src/protocol/base64-text.ts';

/** Deterministic pseudo-random bytes: `total` bytes in 1 MiB pieces from a seed. */
export async function* pseudoRandom(total: number, seed = 1): AsyncGenerator<Buffer> {
  let x = seed >>> 0 || 1;
  const piece = 1024 * 1024;
  for (let done = 0; done < total; done += piece) {
    const n = Math.min(piece, total - done);
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i + 4 <= n; i += 4) {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      b.writeUInt32LE(x, i);
    }
    for (let i = n - (n % 4); i < n; i++) b[i] = i & 0xff;
    yield b;
  }
}
