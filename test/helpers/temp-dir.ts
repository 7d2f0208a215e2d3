// A temporary directory per test, removed afterwards unless the test failed (kept for debugging).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

export function tempDir(t: TestContext | null, prefix = 'distcomp-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (t) {
    t.after(() => {
      // node:test has no per-test failure flag in after(); keep the dir when KEEP_TEST_DIRS is set
      if (!process.env['KEEP_TEST_DIRS']) rmSync(dir, { recursive: true, force: true });
      else console.error(`[test] kept ${dir}`);
    });
  }
  return dir;
}
