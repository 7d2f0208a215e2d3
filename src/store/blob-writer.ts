// Receives one blob as a stream of chunks into a temporary file beside the blob store,
// hashing and counting as it goes (constant memory, whatever the size). The caller then
// commits it with BlobStore.withIncoming(), or aborts it; a partial blob is never visible
// under its sha256 name.
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

export interface IncomingBlob {
  sha256: string;
  size: number;
  tmpPath: string;
}

export class BlobWriter {
  readonly tmpPath: string;
  private file: Promise<FileHandle>;
  private readonly hash: Hash = createHash('sha256');
  private size = 0;
  private closed = false;

  constructor(tmpDir: string) {
    this.tmpPath = join(tmpDir, `in.${randomBytes(8).toString('hex')}`);
    this.file = open(this.tmpPath, 'wx', 0o600);
    this.file.catch(() => undefined); // reported by the first write
  }

  get bytes(): number {
    return this.size;
  }

  async write(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    const fh = await this.file;
    this.hash.update(chunk);
    this.size += chunk.length;
    let off = 0;
    while (off < chunk.length) {
      const { bytesWritten } = await fh.write(chunk, off, chunk.length - off);
      off += bytesWritten;
    }
  }

  async finish(): Promise<IncomingBlob> {
    const fh = await this.file;
    await fh.close();
    this.closed = true;
    return { sha256: this.hash.digest('hex'), size: this.size, tmpPath: this.tmpPath };
  }

  /** Drops what was received. Never throws. */
  async abort(): Promise<void> {
    try {
      const fh = await this.file;
      if (!this.closed) await fh.close();
    } catch {
      // nothing was opened
    }
    this.closed = true;
    await unlink(this.tmpPath).catch(() => undefined);
  }
}
