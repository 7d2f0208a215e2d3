import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCalcInfo, detectMime } from '../../src/workflow/build-calc-info.ts';

describe('buildCalcInfo', () => {
  it('detects the MIME strings as `file -i -b` prints them', () => {
    assert.deepEqual(detectMime(Buffer.alloc(0), true), ['inode/x-empty;', 'charset=binary']);
    assert.deepEqual(detectMime(Buffer.from('355\n'), true), ['text/plain;', 'charset=us-ascii']);
    assert.deepEqual(detectMime(Buffer.from('降伏強度\n'), true), ['text/plain;', 'charset=utf-8']);
    assert.deepEqual(detectMime(Buffer.from([0x41, 0, 0x42]), true), ['application/octet-stream;', 'charset=binary']);
    assert.deepEqual(detectMime(Buffer.from([0xff, 0xfe, 0x41]), true), ['application/octet-stream;', 'charset=binary']);
    // a UTF-8 character cut at the end of a sample is still text
    assert.deepEqual(detectMime(Buffer.from('ab降').subarray(0, 4), false), ['text/plain;', 'charset=utf-8']);
  });

  it('builds the wire calc-info: base64 contents under the names sent, empty result entries', () => {
    const d = mkdtempSync(join(tmpdir(), 'distcomp-ci-'));
    try {
      writeFileSync(join(d, 'a.dat'), '1.5\n');
      const ci = buildCalcInfo({
        command: '/opt/x', siteId: 'site', parameters: '-n 4',
        inputs: [{ name: 'sub/a.dat', path: join(d, 'a.dat') }],
        results: ['out.csv'],
      });
      assert.deepEqual(ci, {
        command: '/opt/x', 'remote-site': 'site', parameters: '-n 4',
        parameter_files: { 'sub/a.dat': [Buffer.from('1.5\n').toString('base64'), 'text/plain;', 'charset=us-ascii'] },
        result_files: { 'out.csv': { content: '', mimetype1: '', mimetype2: '' } },
      });
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
