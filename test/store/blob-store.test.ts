// The blob store's small-file path: written under a temporary name and renamed into place,
// over an identical copy that may be stored already, past a leftover temporary file of a
// crashed process that had the same pid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BlobStore, EMPTY_SHA256 } from '../../src/store/blob-store.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('small blobs: stored once by content, written again over an identical copy, past a leftover temporary name', async (t) => {
  const dir = tempDir(t);
  new BlobStore(dir); // stores the empty blob: the store below finds it and writes nothing at its start
  const store = new BlobStore(dir);
  const bytes = randomBytes(1000);
  const h = sha(bytes);
  // a crashed process with this pid left the first temporary name this store will take
  writeFileSync(join(dir, 'tmp', `${h}.${process.pid}-1`), 'leftover of a crash');

  const [first] = await store.withBlobs([bytes], (stored) => stored);
  assert.deepEqual(first, { sha256: h, size: 1000 });
  assert.deepEqual(readFileSync(store.pathOf(h)), bytes);
  // the same contents again (another calc's identical input): one file, the same bytes
  const [second] = await store.withBlobs([Buffer.from(bytes)], (stored) => stored);
  assert.deepEqual(second, first);
  assert.deepEqual(readFileSync(store.pathOf(h)), bytes);
  assert.deepEqual(readdirSync(join(dir, h.slice(0, 2))), [h]);
  // nothing of ours is left in tmp/: only the crash's leftover, untouched
  assert.deepEqual(readdirSync(join(dir, 'tmp')), [`${h}.${process.pid}-1`]);
  assert.equal(readFileSync(join(dir, 'tmp', `${h}.${process.pid}-1`), 'utf8'), 'leftover of a crash');
});

test('the empty blob: stored once at the start, never written again, never removed', async (t) => {
  const dir = tempDir(t);
  const store = new BlobStore(dir);
  const path = store.pathOf(EMPTY_SHA256);
  const before = statSync(path);
  assert.equal(before.size, 0);
  const stored = await store.withBlobs([Buffer.alloc(0), Buffer.alloc(0)], (s) => s);
  assert.deepEqual(stored, [{ sha256: EMPTY_SHA256, size: 0 }, { sha256: EMPTY_SHA256, size: 0 }]);
  assert.equal(statSync(path).ino, before.ino, 'not written again (a write renames a new file into place)');
  assert.deepEqual(readdirSync(join(dir, 'tmp')), []);
  assert.equal(store.removeIfUnused(EMPTY_SHA256, () => false), false);
  assert.deepEqual(await store.read(EMPTY_SHA256), Buffer.alloc(0));
  // a store opened again on the same directory keeps it as it is
  new BlobStore(dir);
  assert.equal(statSync(path).ino, before.ino);
});
