// File contents, stored as files named by their sha256 and written atomically
// (temporary file in the same file system, then rename): a reader never sees a partial blob.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync, existsSync, unlinkSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');

export class BlobStore {
  private readonly tmpDir: string;
  constructor(readonly dir: string) {
    this.tmpDir = join(dir, 'tmp');
    mkdirSync(this.tmpDir, { recursive: true });
  }

  pathOf(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    return join(this.dir, sha256.slice(0, 2), sha256);
  }

  /** Stores bytes; returns their sha256. Identical contents are stored once. */
  put(bytes: Buffer): { sha256: string; size: number } {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const dest = this.pathOf(sha256);
    if (!existsSync(dest)) {
      mkdirSync(join(this.dir, sha256.slice(0, 2)), { recursive: true });
      const tmp = join(this.tmpDir, `${sha256}.${randomBytes(6).toString('hex')}`);
      writeFileSync(tmp, bytes);
      renameSync(tmp, dest);
    }
    return { sha256, size: bytes.length };
  }

  read(sha256: string): Buffer {
    return readFileSync(this.pathOf(sha256));
  }

  size(sha256: string): number {
    return statSync(this.pathOf(sha256)).size;
  }

  remove(sha256: string): void {
    try {
      unlinkSync(this.pathOf(sha256));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}
