// 20 concurrent pollers against 500 calcs of one site: each calc is claimed exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { calcInfo, code, startTestRelay } from '../helpers/relay-in-process.ts';

test('20 pollers, 500 calcs: every calc claimed exactly once', async (t) => {
  const r = await startTestRelay(t, { server: { rate_limit_per_minute: 0 } });
  const ids = new Set<string>();
  for (let i = 0; i < 500; i++) {
    const res = await r.call('POST', 'add-calcinfo', calcInfo({ files: {} }));
    const id = res.body.errors[0].accept_id as string;
    ids.add(id);
    await r.call('POST', 'allow-wait-calc', { accept_id: id });
  }
  const claims: string[] = [];
  const poller = async (): Promise<void> => {
    for (;;) {
      const res = await r.call('GET', 'calc-request?site_id=nims-dev');
      if (code(res) === '0300') return;
      assert.equal(code(res), 200);
      const id = res.body.errors[0].accept_id as string;
      claims.push(id);
      // the claimant moves it on, as a poller would
      const p = await r.call('GET', `calc-params?site_id=nims-dev&accept_id=${id}`);
      assert.ok(p.body['calc-info'], `calc-params for a freshly claimed calc: ${JSON.stringify(p.body)}`);
    }
  };
  await Promise.all(Array.from({ length: 20 }, poller));
  assert.equal(claims.length, 500);
  assert.equal(new Set(claims).size, 500, 'no calc handed out twice');
  assert.deepEqual(new Set(claims), ids);
});
