// File contents, stored as files named by their sha256 and written atomically
// (temporary file in the same file system, then rename): a reader never sees a partial blob.
// Large writes and reads go through libuv's thread pool (fs/promises), so that concurrent
// requests overlap their file-system waits. Small blobs (up to SYNC_WRITE_MAX) are written
// synchronously: for a 1 KiB file, open/write/close/rename through the thread pool cost
// 0.12-0.17 ms of CPU (futex wake-ups, the completion's eventfd, a FileHandle) against
// 0.03-0.05 ms done in place, measured on the 2-core VM (and the wait is as short either way).
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, existsSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { createReadStream, type ReadStream } from 'node:fs';
import { BlobWriter, type IncomingBlob } from './blob-writer.ts';
import { join } from 'node:path';
import { SmallBlobCache } from './small-blob-cache.ts';

export const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');

/** Blobs up to this size are written synchronously (see above), bytes. @default 256 KiB */
export const SYNC_WRITE_MAX = 256 * 1024;

export class BlobStore {
  private readonly tmpDir: string;
  private readonly cache = new SmallBlobCache();

  constructor(readonly dir: string) {
    this.tmpDir = join(dir, 'tmp');
    mkdirSync(this.tmpDir, { recursive: true });
    // the 256 fan-out directories, once, instead of a mkdir per write
    for (let i = 0; i < 256; i++) mkdirSync(join(dir, i.toString(16).padStart(2, '0')), { recursive: true });
    // The empty blob exists once and for good: it is never written again nor removed. Most
    // calcs send back an empty stderr file (a run of `true`, two empty files), and each write
    // created a file (0.07 ms here on a quiet file system, 0.2-0.4 ms after mass deletions).
    const empty = this.pathOf(EMPTY_SHA256);
    if (!existsSync(empty)) this.writeSmall(EMPTY_SHA256, Buffer.alloc(0), empty);
  }

  pathOf(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    return join(this.dir, sha256.slice(0, 2), sha256);
  }

  /** Blobs being stored whose database rows are not written yet: never removed. */
  private readonly pinned = new Map<string, number>();

  /**
   * Stores each buffer, then runs `use` (which records them in the database) while they are
   * pinned, so that a purge running meanwhile cannot remove a blob that is about to be
   * referenced (identical contents are stored once, so a blob may be shared).
   */
  async withBlobs<T>(buffers: Buffer[], use: (stored: { sha256: string; size: number }[]) => T | Promise<T>): Promise<T> {
    const shas = buffers.map((b) => createHash('sha256').update(b).digest('hex'));
    this.pin(shas);
    try {
      const stored = await Promise.all(buffers.map((b, i) => this.put(b, shas[i] as string)));
      return await use(stored);
    } finally {
      this.unpin(shas);
    }
  }

  /** A writer for one streamed blob (temporary file in this store's file system). */
  writer(): BlobWriter {
    return new BlobWriter(this.tmpDir);
  }

  /**
   * Moves received blobs into place (or drops a copy whose contents are already stored), then
   * runs `use` while they are pinned, as withBlobs() does for buffers.
   */
  async withIncoming<T>(incoming: IncomingBlob[], use: (stored: { sha256: string; size: number }[]) => T | Promise<T>): Promise<T> {
    const shas = incoming.map((b) => b.sha256);
    this.pin(shas);
    try {
      for (const b of incoming) {
        const dest = this.pathOf(b.sha256);
        if (existsSync(dest)) await unlink(b.tmpPath).catch(() => undefined);
        else await rename(b.tmpPath, dest);
      }
      return await use(incoming.map((b) => ({ sha256: b.sha256, size: b.size })));
    } finally {
      this.unpin(shas);
    }
  }

  /** Runs `use` with these stored blobs pinned (so a purge cannot remove them meanwhile). */
  async withPinned<T>(shas: string[], use: () => T | Promise<T>): Promise<T> {
    this.pin(shas);
    try {
      return await use();
    } finally {
      this.unpin(shas);
    }
  }

  /** Drops received blobs that will not be committed. Never throws. */
  async discard(incoming: IncomingBlob[]): Promise<void> {
    await Promise.all(incoming.map((b) => unlink(b.tmpPath).catch(() => undefined)));
  }

  /** A stream of a stored blob from byte `start` (for downloads and streamed answers). */
  openRead(sha256: string, start = 0): ReadStream {
    return createReadStream(this.pathOf(sha256), { start, highWaterMark: 1024 * 1024 });
  }

  exists(sha256: string): boolean {
    return existsSync(this.pathOf(sha256));
  }

  private pin(shas: string[]): void {
    for (const s of shas) this.pinned.set(s, (this.pinned.get(s) ?? 0) + 1);
  }

  private unpin(shas: string[]): void {
    for (const s of shas) {
      const n = (this.pinned.get(s) ?? 1) - 1;
      if (n <= 0) this.pinned.delete(s);
      else this.pinned.set(s, n);
    }
  }

  private tmpSeq = 0;

  /**
   * A temporary file name no other write of this process uses (a counter: randomBytes() per
   * name showed at ~1.3 % of the relay's profile); the pid keeps processes apart.
   */
  private tmpName(sha256: string): string {
    return join(this.tmpDir, `${sha256}.${process.pid}-${(++this.tmpSeq).toString(36)}`);
  }

  /** Stores bytes; returns their sha256. Identical contents are stored once. */
  private async put(bytes: Buffer, sha256: string): Promise<{ sha256: string; size: number }> {
    const dest = this.pathOf(sha256);
    if (sha256 === EMPTY_SHA256) {
      // stored at the start (constructor)
    } else if (bytes.length <= SYNC_WRITE_MAX) {
      // a small blob is written even if a copy is stored (the rename replaces it with the same
      // bytes, atomically): cheaper than asking first, an access() call per blob that is almost
      // never there (~1.8 % of the relay's CPU under load)
      this.writeSmall(sha256, bytes, dest);
    } else if (!existsSync(dest)) {
      const tmp = this.tmpName(sha256);
      await writeFile(tmp, bytes);
      await rename(tmp, dest);
    }
    this.cache.set(sha256, bytes);
    return { sha256, size: bytes.length };
  }

  /**
   * Writes a small file to a temporary name and renames it to `dest`, synchronously; removes
   * the temporary file on failure. A leftover of an earlier process with the same pid (a crash)
   * holds its name ('wx'): the next name is taken.
   */
  private writeSmall(sha256: string, bytes: Buffer, dest: string): void {
    let tmp = this.tmpName(sha256);
    let fd: number;
    for (let tries = 1; ; tries++) {
      try {
        fd = openSync(tmp, 'wx', 0o600);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || tries >= 3) throw err;
        tmp = this.tmpName(sha256);
      }
    }
    try {
      for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off, bytes.length - off);
    } catch (err) {
      closeSync(fd);
      try { unlinkSync(tmp); } catch { /* a leftover in tmp/ is never read as a blob */ }
      throw err;
    }
    closeSync(fd);
    renameSync(tmp, dest);
  }

  async read(sha256: string): Promise<Buffer> {
    const hit = this.cache.get(sha256);
    if (hit) return hit;
    const bytes = await readFile(this.pathOf(sha256));
    this.cache.set(sha256, bytes);
    return bytes;
  }

  async size(sha256: string): Promise<number> {
    return (await stat(this.pathOf(sha256))).size;
  }

  /**
   * Removes a blob unless it is pinned or `stillUsed()` says a row refers to it. Synchronous
   * on purpose: the check and the unlink happen with no other request in between.
   */
  removeIfUnused(sha256: string, stillUsed: () => boolean): boolean {
    if (sha256 === EMPTY_SHA256 || this.pinned.has(sha256) || stillUsed()) return false;
    this.cache.delete(sha256);
    try {
      unlinkSync(this.pathOf(sha256));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return true;
  }
}
