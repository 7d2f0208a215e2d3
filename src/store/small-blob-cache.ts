// Keeps recently written or read small blobs in memory (LRU by insertion order of a Map),
// because a calc's inputs are read back by calc-params moments after registration, and its
// results by get-calc-result moments after send-results.

export class SmallBlobCache {
  private readonly map = new Map<string, Buffer>();
  private bytes = 0;
  constructor(
    /** Largest blob kept, bytes. @default 256 KiB */
    private readonly maxBlob = 256 * 1024,
    /** Total kept, bytes. @default 32 MiB */
    private readonly maxTotal = 32 * 1024 * 1024,
  ) {}

  get(key: string): Buffer | undefined {
    const v = this.map.get(key);
    if (v) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: string, v: Buffer): void {
    if (v.length > this.maxBlob) return;
    this.delete(key);
    this.map.set(key, v);
    this.bytes += v.length;
    for (const [k, old] of this.map) {
      if (this.bytes <= this.maxTotal) break;
      this.map.delete(k);
      this.bytes -= old.length;
    }
  }

  delete(key: string): void {
    const v = this.map.get(key);
    if (v) {
      this.map.delete(key);
      this.bytes -= v.length;
    }
  }
}
