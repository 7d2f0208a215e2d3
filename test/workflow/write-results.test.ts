import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { writeResults } from '../../src/workflow/write-results.ts';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const entry = (s: string) => ({ content: b64(s), mimetype1: 'text/plain;', mimetype2: 'charset=us-ascii' });

describe('writeResults', () => {
  const root = mkdtempSync(join(tmpdir(), 'distcomp-write-'));
  let n = 0;
  const fresh = (): { out: string; outside: string } => {
    const base = join(root, String(n++));
    mkdirSync(join(base, 'outside'), { recursive: true });
    mkdirSync(join(base, 'out'));
    return { out: join(base, 'out'), outside: join(base, 'outside') };
  };

  it('writes files and sub-directories; reports missing files without writing them', async () => {
    const { out } = fresh();
    const w = await writeResults(out, {
      'a.txt': entry('A'),
      'd/e/f.txt': entry('F'),
      'gone.dat': { content: '', mimetype1: 'Error', mimetype2: '出力指定ファイル(gone.dat)がありませんでした。' },
    });
    assert.deepEqual(w.written, ['a.txt', 'd/e/f.txt']);
    assert.deepEqual(w.missing, [{ name: 'gone.dat', message: '出力指定ファイル(gone.dat)がありませんでした。' }]);
    assert.equal(readFileSync(join(out, 'd/e/f.txt'), 'utf8'), 'F');
    assert.equal(existsSync(join(out, 'gone.dat')), false);
    assert.deepEqual(readdirSync(out).filter((f) => f.endsWith('.tmp')), [], 'no temp file left');
  });

  it('refuses names that leave the directory, whatever the relay sent', async () => {
    const { out, outside } = fresh();
    const w = await writeResults(out, { '../outside/x': entry('x'), '/tmp/abs': entry('x'), 'a/../../b': entry('x'), '': entry('x') });
    assert.equal(w.written.length, 0);
    assert.equal(w.refused.length, 4);
    assert.deepEqual(readdirSync(outside), []);
  });

  it('replaces a symbolic link instead of writing through it, and never enters a linked directory', async () => {
    const { out, outside } = fresh();
    writeFileSync(join(outside, 'victim'), 'V');
    symlinkSync(join(outside, 'victim'), join(out, 'a.txt'));
    symlinkSync(outside, join(out, 'd'));
    const w = await writeResults(out, { 'a.txt': entry('new'), 'd/victim': entry('pwned'), 'd/new': entry('pwned') });
    assert.deepEqual(w.written, ['a.txt']);
    assert.equal(readFileSync(join(outside, 'victim'), 'utf8'), 'V');
    assert.equal(lstatSync(join(out, 'a.txt')).isFile(), true);
    assert.equal(readFileSync(join(out, 'a.txt'), 'utf8'), 'new');
    assert.deepEqual(readdirSync(outside), ['victim']);
    assert.equal(w.refused.length, 2);
  });

  it('a temporary name already taken (here a planted symbolic link) is never written through: another is picked', async (t) => {
    const { out, outside } = fresh();
    // the temporary names come from Math.random(): its first answers are made known here
    const fixed = [0.25, 0.25, 0.5];
    const real = Math.random;
    t.after(() => {
      Math.random = real;
    });
    Math.random = () => fixed.shift() ?? real();
    const planted = join(out, `.distcomp-result-${process.pid.toString(16)}-${Math.floor(0.25 * 2 ** 48).toString(16).padStart(12, '0')}.tmp`);
    symlinkSync(join(outside, 'victim'), planted);
    const w = await writeResults(out, { 'a.txt': entry('A') });
    assert.deepEqual(w.written, ['a.txt']);
    assert.equal(readFileSync(join(out, 'a.txt'), 'utf8'), 'A');
    assert.equal(existsSync(join(outside, 'victim')), false);
    assert.ok(lstatSync(planted).isSymbolicLink());
  });

  it('property: whatever the names, nothing is ever created outside the output directory', async () => {
    const seg = fc.constantFrom('..', '.', '', 'a', 'b', '/', '\\', 'x\0', 'c');
    const name = fc.array(seg, { minLength: 1, maxLength: 5 }).map((xs) => xs.join('/'));
    await fc.assert(fc.asyncProperty(fc.uniqueArray(name, { maxLength: 6 }), async (names) => {
      const { out, outside } = fresh();
      writeFileSync(join(outside, 'keep'), 'K');
      symlinkSync(outside, join(out, 'c'));
      await writeResults(out, Object.fromEntries(names.map((x) => [x, entry('z')])));
      assert.deepEqual(readdirSync(outside), ['keep']);
      assert.equal(readFileSync(join(outside, 'keep'), 'utf8'), 'K');
    }), { numRuns: 150 });
  });

  it('cleans up', () => rmSync(root, { recursive: true, force: true }));
});

describe('writeResults: long names', () => {
  it('writes a name whose last segment is 255 bytes (the temp file name does not grow with it)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'distcomp-write-long-'));
    try {
      const leaf = `${'結'.repeat(84)}abc`; // 84 x 3 + 3 = 255 bytes
      assert.equal(Buffer.byteLength(leaf), 255);
      const w = await writeResults(out, { [leaf]: entry('L') });
      assert.deepEqual(w.refused, []);
      assert.equal(readFileSync(join(out, leaf), 'utf8'), 'L');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
