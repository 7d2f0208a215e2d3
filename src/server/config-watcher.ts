// Holds the last good configuration. Re-reads the file when it changes (fs.watch on its
// directory, because editors replace files) and whenever `current()` is asked with
// `reread` (the protocol re-reads at every registration; a stat makes that cheap).
// A broken edit keeps the last good configuration and is logged with the reason.
import { watch, statSync, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import { readRelayConfig, type RelayConfig } from './relay-config.ts';

export class ConfigWatcher {
  private config: RelayConfig;
  private stamp: string;
  private watcher: FSWatcher | null = null;
  private lastError: string | null = null;

  constructor(readonly path: string, private readonly log: Logger, private readonly onChange?: (c: RelayConfig) => void) {
    this.config = readRelayConfig(path); // the first read must succeed
    this.stamp = this.statStamp();
  }

  start(): void {
    try {
      this.watcher = watch(dirname(this.path), (_event, file) => {
        if (file === null || file === basename(this.path)) this.reload();
      });
      this.watcher.unref();
    } catch (err) {
      this.log.warn({ err, path: this.path }, 'cannot watch the configuration file; it is re-read at each registration');
    }
  }

  stop(): void {
    this.watcher?.close();
  }

  current(reread = false): RelayConfig {
    if (reread) this.reload();
    return this.config;
  }

  private statStamp(): string {
    try {
      const s = statSync(this.path);
      return `${s.mtimeMs}:${s.size}:${s.ino}`;
    } catch {
      return 'missing';
    }
  }

  private reload(): void {
    const stamp = this.statStamp();
    if (stamp === this.stamp) return;
    try {
      const next = readRelayConfig(this.path);
      this.stamp = stamp;
      this.config = next;
      this.lastError = null;
      this.log.info({ path: this.path, sites: [...next.sites.keys()] }, 'configuration reloaded');
      this.onChange?.(next);
    } catch (err) {
      const msg = (err as Error).message;
      if (msg !== this.lastError) {
        this.log.error({ path: this.path, reason: msg }, 'configuration not reloaded: keeping the last good one');
        this.lastError = msg;
      }
      this.stamp = stamp;
    }
  }
}
