import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Lifecycle } from '../../src/agent/lifecycle.ts';

describe('Lifecycle', () => {
  it('first interrupt drains, second stops, third asks to exit now', () => {
    const l = new Lifecycle();
    const seen: string[] = [];
    l.onChange((to, from) => seen.push(`${from}->${to}`));
    assert.equal(l.state, 'RUNNING');
    assert.equal(l.takesNewCalcs, true);
    assert.equal(l.interrupt('SIGINT'), 'drain');
    assert.equal(l.state, 'DRAINING');
    assert.equal(l.takesNewCalcs, false);
    assert.equal(l.drainSignal.aborted, true);
    assert.equal(l.stopSignal.aborted, false);
    assert.equal(l.interrupt('SIGINT'), 'stop');
    assert.equal(l.state, 'STOPPING');
    assert.equal(l.stopSignal.aborted, true);
    assert.equal(l.interrupt('SIGTERM'), 'exit-now');
    l.finish('done');
    assert.equal(l.state, 'STOPPED');
    assert.deepEqual(seen, ['RUNNING->DRAINING', 'DRAINING->STOPPING', 'STOPPING->STOPPED']);
  });

  it('transitions that do not apply are refused', () => {
    const l = new Lifecycle();
    assert.equal(l.stop('x'), true);
    assert.equal(l.drain('y'), false);
    assert.equal(l.stop('z'), false);
    assert.equal(l.state, 'STOPPING');
  });
});
