// Our streaming file endpoints: PUT raw bytes (resumable, verified), GET raw bytes (Range).
import type { FastifyInstance } from 'fastify';
import type { Readable } from 'node:stream';
import { Errors } from '../../protocol/errors.ts';
import { ok } from '../../protocol/envelope.ts';
import type { BlobStore } from '../../store/blob-store.ts';
import type { Store } from '../../store/store.ts';
import { SHA256_PATTERN, type BlobUploads } from '../blob-uploads.ts';
import { caller } from './route-helpers.ts';

function shaParam(params: unknown): string {
  const sha = (params as { sha?: string }).sha ?? '';
  if (!SHA256_PATTERN.test(sha)) throw Errors.badBlobId(sha.slice(0, 80));
  return sha;
}

function wholeNumber(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^\d{1,16}$/.test(v)) throw Errors.badQuery(`${name} must be a whole number of bytes`);
  return Number(v);
}

/** Registered in a scope whose content parser hands over the raw request stream. */
export function blobUploadRoutes(app: FastifyInstance, uploads: BlobUploads): void {
  app.put('/mi-distcomp-api/x/blobs/:sha', async (req) => {
    const user = caller(req);
    const sha = shaParam(req.params);
    const q = req.query as Record<string, unknown>;
    const size = wholeNumber(q['size'], 'size');
    if (size === undefined) throw Errors.blobSizeRequired();
    const offset = wholeNumber(q['offset'], 'offset') ?? 0;
    const body = (req.body ?? req.raw) as Readable;
    const st = await uploads.put(user, sha, size, offset, body);
    if (!st.complete) {
      const err = Errors.blobTruncated(st.received, size);
      Object.assign(err.extra, { received: st.received });
      throw err;
    }
    return ok('stored', { sha256: sha, size, complete: true });
  });
}

export function blobReadRoutes(app: FastifyInstance, uploads: BlobUploads, blobs: BlobStore, store: Store): void {
  app.get('/mi-distcomp-api/x/blobs/:sha/status', async (req) => {
    const user = caller(req);
    const sha = shaParam(req.params);
    const st = await uploads.status(user, sha);
    return ok(st.complete ? 'complete' : 'partial', { sha256: sha, received: st.received, complete: st.complete });
  });

  app.get('/mi-distcomp-api/x/blobs/:sha', async (req, reply) => {
    const user = caller(req);
    const sha = shaParam(req.params);
    if (!store.blobVisibleTo(user.id, sha) || !blobs.exists(sha)) throw Errors.blobNotFound(sha);
    const size = await blobs.size(sha);
    let start = 0;
    const range = req.headers.range;
    if (range !== undefined) {
      const m = /^bytes=(\d+)-$/.exec(range.trim());
      if (!m) throw Errors.badRange('only "bytes=<start>-" is supported');
      start = Number(m[1]);
      if (start > size) throw Errors.badRange(`start ${start} is past the end (${size} bytes)`);
      reply.code(206).header('content-range', `bytes ${start}-${Math.max(size - 1, start)}/${size}`);
    }
    reply.header('x-distcomp-sha256', sha).header('accept-ranges', 'bytes').header('content-length', String(size - start));
    return reply.type('application/octet-stream').send(blobs.openRead(sha, start));
  });
}
