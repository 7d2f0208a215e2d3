// Writes a JSON answer whose file contents are base64 of stored blobs, as a stream: the JSON
// text and the base64 never exist whole (a 2 GiB file would not fit in a V8 string). The
// shape is built as a normal value with Base64Of placeholders, which are replaced by the
// blob's base64, read from disk in 3 MiB pieces (a multiple of 3 keeps the pieces joinable).
import { Readable } from 'node:stream';
import type { BlobStore } from '../../store/blob-store.ts';
import { base64Text } from '../../protocol/base64-text.ts';

/** Placeholder for "the base64 of this blob" inside an answer value. */
export class Base64Of {
  constructor(readonly sha256: string, readonly size: number) {}
}

const PIECE = 3 * 1024 * 1024;
/** Answers whose blobs add up to less than this are built as one string (faster for small files). */
export const INLINE_LIMIT = 4 * 1024 * 1024;

export function totalBlobBytes(value: unknown): number {
  if (value instanceof Base64Of) return value.size;
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + totalBlobBytes(v), 0);
  if (typeof value === 'object' && value !== null) return Object.values(value).reduce((n: number, v) => n + totalBlobBytes(v), 0);
  return 0;
}

async function* serialize(blobs: BlobStore, value: unknown): AsyncGenerator<string> {
  if (value instanceof Base64Of) {
    yield '"';
    yield* base64Text(blobs.openRead(value.sha256));
    yield '"';
  } else if (Array.isArray(value)) {
    yield '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) yield ',';
      yield* serialize(blobs, value[i]);
    }
    yield ']';
  } else if (typeof value === 'object' && value !== null) {
    yield '{';
    let first = true;
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      if (!first) yield ',';
      first = false;
      yield JSON.stringify(k);
      yield ':';
      yield* serialize(blobs, v);
    }
    yield '}';
  } else {
    yield JSON.stringify(value) ?? 'null';
  }
}

/** Small answers: one string. Large ones: a stream of pieces of at most a few MiB. */
export async function jsonAnswer(blobs: BlobStore, value: unknown): Promise<string | Readable> {
  if (totalBlobBytes(value) < INLINE_LIMIT) return inlineAnswer(blobs, value);
  return Readable.from(rechunk(serialize(blobs, value)), { objectMode: false });
}

function placeholders(value: unknown, out: Base64Of[]): Base64Of[] {
  if (value instanceof Base64Of) out.push(value);
  else if (Array.isArray(value)) for (const v of value) placeholders(v, out);
  else if (typeof value === 'object' && value !== null) for (const v of Object.values(value)) placeholders(v, out);
  return out;
}

/**
 * A small answer as one JSON.stringify: the blobs are read whole (from the store's cache of
 * small blobs, usually: a calc's files are read back moments after they were written), instead
 * of opening a read stream per file and assembling the text piece by piece.
 */
async function inlineAnswer(blobs: BlobStore, value: unknown): Promise<string> {
  const refs = placeholders(value, []);
  const texts = new Map<Base64Of, string>();
  await Promise.all(refs.map(async (r) => texts.set(r, (await blobs.read(r.sha256)).toString('base64'))));
  return JSON.stringify(value, (_k, v: unknown) => (v instanceof Base64Of ? texts.get(v) : v));
}

/** Joins tiny pieces (keys, commas) so that the socket sees few, reasonably sized writes. */
async function* rechunk(parts: AsyncGenerator<string>): AsyncGenerator<Buffer> {
  let buf = '';
  for await (const p of parts) {
    buf += p;
    if (buf.length >= PIECE) {
      yield Buffer.from(buf);
      buf = '';
    }
  }
  if (buf.length) yield Buffer.from(buf);
}
