// Resumable uploads of one file's raw bytes (our extension): the sender declares the size and
// sha256 up front; bytes go to a per-user partial file; an interrupted upload continues from
// the bytes already received; only a complete file whose sha256 matches is moved into the
// blob store (atomically, by rename). A partial file is never visible as a blob.
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync } from 'node:fs';
import { open, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Errors } from '../protocol/errors.ts';
import type { BlobStore } from '../store/blob-store.ts';
import type { Store, User } from '../store/store.ts';

export const SHA256_PATTERN = /^[0-9a-f]{64}$/;

export interface UploadState {
  sha256: string;
  size: number;
  received: number;
  complete: boolean;
}

export class BlobUploads {
  private readonly dir: string;
  /** One upload per user and file at a time; a second one waits for the first (identical files are common: empty stderr files). */
  private readonly queue = new Map<string, Promise<unknown>>();

  constructor(private readonly blobs: BlobStore, private readonly store: Store) {
    this.dir = join(blobs.dir, 'partial');
    mkdirSync(this.dir, { recursive: true });
  }

  private partialPath(user: User, sha256: string): string {
    return join(this.dir, `${user.id}-${sha256}`);
  }

  private async partialSize(path: string): Promise<number> {
    try {
      return (await stat(path)).size;
    } catch {
      return 0;
    }
  }

  async status(user: User, sha256: string): Promise<{ received: number; complete: boolean }> {
    if (this.store.blobVisibleTo(user.id, sha256) && this.blobs.exists(sha256)) {
      return { received: await this.blobs.size(sha256), complete: true };
    }
    return { received: await this.partialSize(this.partialPath(user, sha256)), complete: false };
  }

  /**
   * Appends `body` at `offset` (which must equal the bytes already received). Resolves with
   * the state after it; a body that ends early leaves the partial file for a later resume.
   */
  async put(user: User, sha256: string, size: number, offset: number, body: Readable): Promise<UploadState> {
    const key = `${user.id}-${sha256}`;
    const before = this.queue.get(key) ?? Promise.resolve();
    const mine = before.catch(() => undefined).then(() => this.putNow(user, sha256, size, offset, body));
    this.queue.set(key, mine);
    try {
      return await mine;
    } finally {
      if (this.queue.get(key) === mine) this.queue.delete(key);
    }
  }

  private async putNow(user: User, sha256: string, size: number, offset: number, body: Readable): Promise<UploadState> {
    if (this.store.blobVisibleTo(user.id, sha256) && this.blobs.exists(sha256)) {
      body.resume(); // the user has it already: nothing to store
      return { sha256, size, received: size, complete: true };
    }
    const path = this.partialPath(user, sha256);
    const have = await this.partialSize(path);
    if (offset !== have) {
      body.resume();
      const err = Errors.blobOffsetMismatch(have, offset);
      Object.assign(err.extra, { received: have });
      throw err;
    }
    const hash = createHash('sha256');
    if (have > 0) for await (const c of createReadStream(path)) hash.update(c as Buffer);
    const fh = await open(path, have > 0 ? 'a' : 'w', 0o600);
    let received = have;
    try {
      for await (const chunk of body) {
        const c = chunk as Buffer;
        if (received + c.length > size) {
          await fh.close().catch(() => undefined);
          await unlink(path).catch(() => undefined);
          throw Errors.blobTooLong(size);
        }
        hash.update(c);
        let off = 0;
        while (off < c.length) off += (await fh.write(c, off, c.length - off)).bytesWritten;
        received += c.length;
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOSPC') {
        await fh.close().catch(() => undefined);
        throw Errors.diskFull();
      }
      throw err; // a broken connection: the partial file stays for a resume
    } finally {
      await fh.close().catch(() => undefined);
    }
    if (received < size) return { sha256, size, received, complete: false };
    const got = hash.digest('hex');
    if (got !== sha256) {
      await unlink(path).catch(() => undefined);
      throw Errors.blobHashMismatch(sha256, got);
    }
    await this.blobs.withPinned([sha256], async () => {
      if (this.blobs.exists(sha256)) await unlink(path);
      else await rename(path, this.blobs.pathOf(sha256));
      this.store.grantBlob(user.id, sha256);
    });
    return { sha256, size, received, complete: true };
  }
}
