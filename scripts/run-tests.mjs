#!/usr/bin/env node
// Runs every *.test.ts under test/ with node's own test runner (through tsx).
// Node 20's `--test` takes no globs, so the files are listed here. Files under test/heavy/
// (hundreds of MiB through real processes) run after the rest, one at a time, so that they
// do not starve the timing-sensitive end-to-end tests of the 2 cores.
// Usage: npm test [-- <path filter substring>...]
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = walk('test')
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const heavy = files.filter((f) => f.startsWith(join('test', 'heavy')));
const light = files.filter((f) => !heavy.includes(f));
// the submits the tests run keep their code cache (src/cli/code-cache.ts) here, not in ~/.cache
const cacheHome = mkdtempSync(join(tmpdir(), 'distcomp-test-cache-'));
let status = 0;
for (const [group, concurrency] of [[light, 2], [heavy, 1]]) {
  if (group.length === 0) continue;
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...group],
    { stdio: 'inherit', env: { ...process.env, XDG_CACHE_HOME: cacheHome } },
  );
  if (r.status !== 0) status = r.status ?? 1;
}
rmSync(cacheHome, { recursive: true, force: true });
process.exit(status);
