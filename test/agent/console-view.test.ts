import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConsoleView, stamp } from '../../src/agent/console-view.ts';

const make = (debug = false): { view: ConsoleView; out: () => string } => {
  let text = '';
  const view = new ConsoleView({ write: (t) => (text += t), debug, now: () => new Date(2022, 0, 19, 17, 33, 56) });
  return { view, out: () => text };
};

describe('ConsoleView', () => {
  it('prints the manual\'s lines', () => {
    const { view, out } = make();
    view.show({ type: 'start', siteId: 'nims-dev', origin: 'https://nims.mintsys.jp:50443', token: 'ab12********…(64 chars)', tokenFrom: '', calcBase: '/tmp', concurrency: 1, rules: 'r.json', allowedCommands: ['/x'] });
    view.show({ type: 'http-refused', endpoint: 'calc-request', httpStatus: 403, body: '{"errors":[]}' });
    assert.match(out(), /^site id = nims-dev\nbase url = https:\/\/nims\.mintsys\.jp:50443\ntoken = ab12\*{8}…\(64 chars\)\ncalc_base = \/tmp\n/);
    assert.match(out(), /^2022\/01\/19 17:33:56:status code = 403 \/ reason = \{"errors":\[\]\}$/m);
  });

  it('collapses repeated identical idle lines and says how many there were', () => {
    const { view, out } = make();
    for (let i = 0; i < 50; i++) view.show({ type: 'idle', code: '0300', message: 'nothing' });
    view.show({ type: 'claimed', acceptId: 'id-1', attempt: 1 });
    view.show({ type: 'idle', code: '0300', message: 'nothing' });
    const lines = out().trim().split('\n');
    assert.deepEqual(lines, [
      'code = 0300 / message = nothing',
      '(同じ応答 49 回 / the line above repeated 49 more times, last at 2022/01/19 17:33:56)',
      '2022/01/19 17:33:56:accept_id id-1: calc received',
      'code = 0300 / message = nothing',
    ]);
  });

  it('debug shows every line', () => {
    const { view, out } = make(true);
    for (let i = 0; i < 3; i++) view.show({ type: 'idle', code: '0300', message: 'nothing' });
    assert.equal(out().split('\n').filter((l) => l.startsWith('code = 0300')).length, 3);
  });

  it('stamp() is the deployed format', () => {
    assert.equal(stamp(new Date(2022, 0, 9, 7, 3, 5)), '2022/01/09 07:03:05');
  });
});
