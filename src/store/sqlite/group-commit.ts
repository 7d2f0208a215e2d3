// How the store's writes reach the disk: one transaction per write (each commits before the
// store call returns), or, for the relay, group commit: the writes of one turn of the event loop
// share one transaction, committed right after that turn's I/O (setImmediate), and every answer
// waits for it (durable(), awaited by the relay's onSend hook) before it leaves. A client is
// therefore only ever told of a state that is committed, as with one commit per write, and a
// kill -9 loses only what no one was told of.
//
// Why: a commit costs ~0.15 ms on our 2-core VM (its WAL frames and, every ~1000 pages, a
// checkpoint) and a combined cycle made 5; with 8 busy clients several requests share a turn.
// Each write still runs in a SAVEPOINT of its own, so a refused or failed one rolls back alone.
import type Database from 'better-sqlite3';

export interface WriteBatching {
  /** Runs `fn` (synchronous store calls) as one all-or-nothing write. */
  write<T>(fn: () => T): T;
  /** Resolves once everything written so far is committed; rejects if that commit failed. */
  durable(): Promise<void>;
  /** Commits what is pending now (before close). */
  flush(): void;
}

/** Writes made inside a write (atomically() around store calls) join it, with no savepoint of their own. */
abstract class OutermostWrite {
  private depth = 0;

  write<T>(fn: () => T): T {
    if (this.depth > 0) return fn();
    this.depth++;
    try {
      return this.outermost(fn);
    } finally {
      this.depth--;
    }
  }

  protected abstract outermost<T>(fn: () => T): T;
}

/** One transaction per write (BEGIN IMMEDIATE .. COMMIT). */
export class CommitEachWrite extends OutermostWrite implements WriteBatching {
  private readonly immediate: <T>(fn: () => T) => T;

  constructor(db: Database.Database) {
    super();
    // one wrapper, made once: better-sqlite3's db.transaction() builds a new one per call
    this.immediate = db.transaction((fn: () => unknown) => fn()).immediate as <T>(fn: () => T) => T;
  }

  protected outermost<T>(fn: () => T): T {
    return this.immediate(fn);
  }

  durable(): Promise<void> {
    return Promise.resolve();
  }

  flush(): void {}
}

/** Group commit (see the top of the file). */
export class CommitPerTurn extends OutermostWrite implements WriteBatching {
  private pending: { done: Promise<void>; resolve: () => void; reject: (e: unknown) => void } | null = null;
  /** Inside an open transaction, better-sqlite3's wrapper runs `fn` in a SAVEPOINT. */
  private readonly savepoint: <T>(fn: () => T) => T;

  constructor(private readonly db: Database.Database) {
    super();
    this.savepoint = db.transaction((fn: () => unknown) => fn()) as <T>(fn: () => T) => T;
  }

  protected outermost<T>(fn: () => T): T {
    // SQLite itself rolled the open transaction back (e.g. a full disk): its writes are lost,
    // so the answers that wait for them fail, and a new transaction starts
    if (this.pending !== null && !this.db.inTransaction) this.fail(new Error('the database rolled back the open transaction'));
    if (this.pending === null) this.open();
    return this.savepoint(fn);
  }

  durable(): Promise<void> {
    return this.pending?.done ?? Promise.resolve();
  }

  flush(): void {
    const p = this.pending;
    if (p === null) return;
    if (!this.db.inTransaction) return this.fail(new Error('the database rolled back the open transaction'));
    this.pending = null;
    try {
      this.db.exec('COMMIT');
      p.resolve();
    } catch (err) {
      try {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
      } catch {
        // the connection already rolled back
      }
      p.reject(err);
    }
  }

  private fail(err: Error): void {
    const p = this.pending;
    this.pending = null;
    p?.reject(err);
  }

  private open(): void {
    this.db.exec('BEGIN IMMEDIATE');
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    done.catch(() => {}); // a failed commit is reported to every answer that waits for it
    this.pending = { done, resolve, reject };
    setImmediate(() => this.flush());
  }
}
