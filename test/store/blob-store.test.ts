// The blob store's small-file path: written under a temporary name and renamed into place,
// over an identical copy that may be stored already, past a leftover temporary file of a
// crashed process that had the same pid.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BlobStore } from '../../src/store/blob-store.ts';
import { tempDir } from '../helpers/temp-dir.ts';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

test('small blobs: stored once by content, written again over an identical copy, past a leftover temporary name', async (t) => {
  const dir = tempDir(t);
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
