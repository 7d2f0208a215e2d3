// Turns the file contents of a parsed calc-info or result set (base64 text, blobs received
// while streaming the body, or references to uploaded blobs) into stored blobs, then runs
// `use` (which writes the database rows) while every one of them is pinned.
import { statSync } from 'node:fs';
import type { FileContent } from '../protocol/calc-info.ts';
import { Errors } from '../protocol/errors.ts';
import type { BlobStore } from '../store/blob-store.ts';
import type { IncomingBlob } from '../store/blob-writer.ts';

export type Stored = { sha256: string; size: number } | null;

export async function withContents<T>(
  blobs: BlobStore,
  contents: readonly (FileContent | null)[],
  /** Whether the caller may refer to this uploaded blob. */
  mayUse: (sha256: string) => boolean,
  use: (stored: Stored[]) => T | Promise<T>,
): Promise<T> {
  const buffers: Buffer[] = [];
  const incoming: IncomingBlob[] = [];
  const refs: string[] = [];
  for (const c of contents) {
    if (c?.kind === 'base64') buffers.push(Buffer.from(c.text, 'base64'));
    else if (c?.kind === 'bytes') buffers.push(c.bytes);
    else if (c?.kind === 'received') incoming.push(c.blob);
    else if (c?.kind === 'blob') {
      if (!mayUse(c.sha256) || !blobs.exists(c.sha256)) throw Errors.unknownBlob(c.sha256);
      const size = statSync(blobs.pathOf(c.sha256)).size;
      if (size !== c.size) throw Errors.blobSizeMismatch(c.sha256, c.size, size);
      refs.push(c.sha256);
    }
  }
  return blobs.withBlobs(buffers, (fromText) =>
    blobs.withIncoming(incoming, (fromStream) =>
      blobs.withPinned(refs, () => {
        let t = 0;
        let s = 0;
        const stored: Stored[] = contents.map((c) => {
          if (c === null) return null;
          if (c.kind === 'base64' || c.kind === 'bytes') return fromText[t++] ?? null;
          if (c.kind === 'received') return fromStream[s++] ?? null;
          return { sha256: c.sha256, size: c.size };
        });
        return use(stored);
      }),
    ),
  );
}
