// Wakes long-polling requests. A notification is only a latency hint: a waiter always
// re-checks the database after waking, and waits at most `recheckMs` between checks, so a
// missed notification costs latency, never correctness.
//
// A notification may name the progress the calc reached; a waiter that says which progress it
// waits for then sleeps on through the others (a quiet submit's wait, until `got return`, is not
// woken to re-read the calc at each of the steps before: each such wake-up cost the relay a
// query and a new timer, in the middle of the agent's call that caused it).

import type { Progress } from '../protocol/states.ts';

interface Waiter {
  wake(): void;
  wants?: (progress: Progress) => boolean;
}

export class LongPollHub {
  private readonly waiters = new Map<string, Set<Waiter>>();

  /**
   * Resolves on notify(key) (with `wants`: one that names no progress, or a progress `wants`
   * takes), after `ms`, or when `signal` aborts, whichever is first.
   */
  wait(key: string, ms: number, signal?: AbortSignal, wants?: (progress: Progress) => boolean): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted || ms <= 0) return resolve();
      let set = this.waiters.get(key);
      if (!set) this.waiters.set(key, (set = new Set()));
      const waiter: Waiter = {
        wake: (): void => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', waiter.wake);
          set.delete(waiter);
          if (set.size === 0 && this.waiters.get(key) === set) this.waiters.delete(key);
          resolve();
        },
        ...(wants ? { wants } : {}),
      };
      const timer = setTimeout(waiter.wake, ms);
      signal?.addEventListener('abort', waiter.wake, { once: true });
      set.add(waiter);
    });
  }

  /** Wakes the waiters of `key`; with `progress`, only those that take it (or name none). */
  notify(key: string, progress?: Progress): void {
    const set = this.waiters.get(key);
    if (!set) return;
    for (const w of [...set]) {
      if (progress === undefined || w.wants === undefined || w.wants(progress)) w.wake();
    }
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
