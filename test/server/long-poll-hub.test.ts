// The long-poll hub: a waiter that names the progress it waits for sleeps through notifications
// of other progresses, and wakes for its own, for one that names none (a removed calc), at its
// deadline, and on abort; a waiter that names none wakes on every notification.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LongPollHub } from '../../src/server/long-poll-hub.ts';
import { progressAtLeast } from '../../src/protocol/states.ts';

/** Whether `p` settled within a few turns of the event loop. */
async function settled(p: Promise<void>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  return done;
}

describe('LongPollHub', () => {
  it('wakes a waiter for the progress it waits for, not for the steps before', async () => {
    const hub = new LongPollHub();
    const w = hub.wait('calc:a', 10_000, undefined, (p) => progressAtLeast(p, 'got return'));
    hub.notify('calc:a', 'running');
    hub.notify('calc:a', 'calc end');
    assert.equal(await settled(w), false, 'still waiting');
    assert.equal(hub.size, 1);
    hub.notify('calc:a', 'got return');
    assert.equal(await settled(w), true);
    assert.equal(hub.size, 0);
  });

  it('a notification without a progress (a removed calc) wakes every waiter', async () => {
    const hub = new LongPollHub();
    const picky = hub.wait('calc:b', 10_000, undefined, () => false);
    const any = hub.wait('calc:b', 10_000);
    hub.notify('calc:b');
    assert.equal(await settled(picky), true);
    assert.equal(await settled(any), true);
  });

  it('a waiter that names no progress wakes on any; other keys are left alone', async () => {
    const hub = new LongPollHub();
    const w = hub.wait('calc:c', 10_000);
    const other = hub.wait('calc:d', 10_000, undefined, () => true);
    hub.notify('calc:c', 'sending params');
    assert.equal(await settled(w), true);
    assert.equal(await settled(other), false);
    hub.notifyAll();
    assert.equal(await settled(other), true);
  });

  it('a picky waiter still ends at its deadline and on abort', async () => {
    const hub = new LongPollHub();
    const t0 = Date.now();
    await hub.wait('calc:e', 50, undefined, () => false);
    assert.ok(Date.now() - t0 >= 40);
    const ac = new AbortController();
    const w = hub.wait('calc:e', 10_000, ac.signal, () => false);
    hub.notify('calc:e', 'running');
    ac.abort();
    assert.equal(await settled(w), true);
    assert.equal(hub.size, 0);
  });
});
