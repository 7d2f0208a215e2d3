// Wakes long-polling requests. A notification is only a latency hint: a waiter always
// re-checks the database after waking, and waits at most `recheckMs` between checks, so a
// missed notification costs latency, never correctness.

type Waiter = () => void;

export class LongPollHub {
  private readonly waiters = new Map<string, Set<Waiter>>();

  /** Resolves on notify(key), after `ms`, or when `signal` aborts, whichever is first. */
  wait(key: string, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted || ms <= 0) return resolve();
      let set = this.waiters.get(key);
      if (!set) this.waiters.set(key, (set = new Set()));
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        set.delete(done);
        if (set.size === 0 && this.waiters.get(key) === set) this.waiters.delete(key);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      set.add(done);
    });
  }

  notify(key: string): void {
    const set = this.waiters.get(key);
    if (!set) return;
    for (const w of [...set]) w();
  }

  /** Wakes everyone (shutdown). */
  notifyAll(): void {
    for (const key of [...this.waiters.keys()]) this.notify(key);
  }

  get size(): number {
    let n = 0;
    for (const s of this.waiters.values()) n += s.size;
    return n;
  }
}

export const siteKey = (site: string, userId: number): string => `site:${userId}:${site}`;
export const calcKey = (acceptId: string): string => `calc:${acceptId}`;
