// Group commit (the relay's store): the writes of one turn share a transaction; durable()
// resolves once they are committed (another connection sees them only then); a write that
// throws rolls back alone; close() commits what is pending.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { tempDir } from '../helpers/temp-dir.ts';

function newCalc(userId: number, acceptId: string) {
  return { acceptId, userId, site: 's', command: '/bin/true', parameters: '', resultNames: ['out'], inputs: [] };
}

test('writes of one turn become visible to another connection only once durable() resolves', async (t) => {
  const dir = tempDir(t);
  const store = new SqliteStore(dir, { groupCommit: true });
  t.after(() => store.close());
  const u = store.addUser('alice', null);
  await store.durable();
  const other = new Database(join(dir, 'distcomp.sqlite'), { readonly: true });
  t.after(() => other.close());
  const count = (): number => (other.prepare('SELECT count(*) AS n FROM calcs').get() as { n: number }).n;

  store.insertCalc(newCalc(u.id, '00000000-0000-4000-8000-000000000001'));
  store.insertCalc(newCalc(u.id, '00000000-0000-4000-8000-000000000002'));
  assert.equal(store.listCalcs(u.id).length, 2, 'the writer sees its own writes at once');
  assert.equal(count(), 0, 'nothing committed before the turn ends');
  await store.durable();
  assert.equal(count(), 2, 'both committed together');
  assert.equal(store.events('00000000-0000-4000-8000-000000000001')[0]?.kind, 'registered');
});

test('a write that throws rolls back alone; the rest of the turn commits', async (t) => {
  const dir = tempDir(t);
  const store = new SqliteStore(dir, { groupCommit: true });
  t.after(() => store.close());
  const u = store.addUser('alice', null);
  store.insertCalc(newCalc(u.id, '00000000-0000-4000-8000-00000000000a'));
  assert.throws(() => store.atomically(() => {
    store.insertCalc(newCalc(u.id, '00000000-0000-4000-8000-00000000000b'));
    throw new Error('refused half-way');
  }), /refused half-way/);
  // the same id again: the primary key refuses it, and only this write is undone
  assert.throws(() => store.insertCalc(newCalc(u.id, '00000000-0000-4000-8000-00000000000a')));
  store.insertCalc(newCalc(u.id, '00000000-0000-4000-8000-00000000000c'));
  await store.durable();
  const ids = store.listCalcs(u.id).map((c) => c.acceptId.slice(-1));
  assert.deepEqual(ids.sort(), ['a', 'c']);
});

test('close() commits what is pending; a store without group commit commits each write at once', (t) => {
  const dir = tempDir(t);
  const store = new SqliteStore(dir, { groupCommit: true });
  const u = store.addUser('alice', null);
  store.insertCalc(newCalc(u.id, '00000000-0000-4000-8000-0000000000d1'));
  store.close();
  const again = new SqliteStore(dir);
  t.after(() => again.close());
  assert.equal(again.listCalcs(u.id).length, 1);
  again.insertCalc(newCalc(u.id, '00000000-0000-4000-8000-0000000000d2'));
  const other = new Database(join(dir, 'distcomp.sqlite'), { readonly: true });
  t.after(() => other.close());
  assert.equal((other.prepare('SELECT count(*) AS n FROM calcs').get() as { n: number }).n, 2);
});
