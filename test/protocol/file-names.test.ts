// The one rule for file names: nothing accepted can leave its directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve, sep } from 'node:path';
import fc from 'fast-check';
import { isSafeFileName, unsafeFileNameReason } from '../../src/protocol/file-names.ts';

test('refuses names that could leave the directory, with a reason', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/], ['../x', /"\.\." path segment/], ['a/../../b', /"\.\."/], ['/etc/passwd', /absolute/],
    ['a\u0000b', /NUL/], ['.', /"\."/], ['..', /"\.\."/], ['a//b', /empty path segment/], ['a\\..\\b', /backslash/],
    ['C:x', /absolute/], ['x\n', /control/], ['a/', /empty path segment/], ['x'.repeat(300), /segment longer/],
  ];
  for (const [name, why] of cases) assert.match(String(unsafeFileNameReason(name)), why, JSON.stringify(name));
  for (const ok of ['a.txt', '計算標準出力.txt', 'sub/dir/file', 'name with spaces', "quo'te", '$(id);`x`', '-rf', '..a', 'a..']) {
    assert.equal(unsafeFileNameReason(ok), null, ok);
  }
});

test('property: every accepted name resolves strictly inside the base directory', () => {
  const base = '/srv/work/0000';
  const seg = fc.oneof(fc.constantFrom('.', '..', '', 'a', '~', '\\', '/', 'C:'), fc.string({ maxLength: 6 }));
  fc.assert(fc.property(fc.array(seg, { maxLength: 6 }), (parts) => {
    const name = parts.join(fc.sample(fc.constantFrom('/', '', '/./'), 1)[0]!);
    if (!isSafeFileName(name)) return true;
    const full = resolve(base, name);
    return full.startsWith(base + sep) && full !== base;
  }), { numRuns: 5000 });
});
