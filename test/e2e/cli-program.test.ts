// The installed program (dist/cli/main.js, built from src/cli/bin.ts as CommonJS): its bundles run
// in strict mode, as the ES modules they come from; a broken installation, and a command that
// ends without finishing (its work left nothing to wait for), end with 2 and a message, never
// with 0 or 1 (program A reads 0 as a completed calc, 1 as an abnormal one). As processes.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Scratch } from '../helpers/agent-process.ts';
import { CLI } from '../helpers/relay-process.ts';

describe('the installed program (bin.ts)', { timeout: 60_000 }, () => {
  const s = new Scratch();
  after(() => s.cleanup());

  /** A copy of the program alone (main.js and its package.json), plus the given files. */
  const install = (name: string, files: Record<string, string> = {}): string => {
    const cli = s.path(name, 'cli');
    mkdirSync(cli, { recursive: true });
    for (const f of ['main.js', 'package.json']) copyFileSync(join(dirname(CLI), f), join(cli, f));
    for (const [f, text] of Object.entries(files)) writeFileSync(join(cli, f), text);
    return join(cli, 'main.js');
  };
  const run = (main: string, args: string[]): ReturnType<typeof spawnSync> =>
    spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, DISTCOMP_TOKEN: 'a'.repeat(64) } });

  it('its CommonJS files start in strict mode', () => {
    for (const f of ['main.js', 'submit-fast-path.cjs', 'ssh-fast-path.cjs']) {
      const text = readFileSync(join(dirname(CLI), f), 'utf8').replace(/^#!.*\n/, '');
      assert.match(text, /^"use strict";/, `${f} begins with the directive`);
    }
  });

  it('a broken installation (no submit bundle) is exit 2 with the missing file named', () => {
    const r = run(install('no-bundle'), ['submit', 'http://127.0.0.1:1', 'site', '/bin/true', '', '']);
    assert.equal(r.status, 2, String(r.stderr));
    assert.match(String(r.stderr), /^distcomp: .*submit-fast-path\.cjs/m);
  });

  it('a command that ends without finishing is exit 2, not 0', () => {
    // main.mjs whose top level waits for what never comes, with nothing left in the event loop
    const main = install('hangs', { 'main.mjs': 'await new Promise(() => {});\n' });
    const r = run(main, ['token', 'list']);
    assert.equal(r.status, 2, String(r.stderr));
    assert.match(String(r.stderr), /ended before the command finished/);
    // and one that finishes ends as it says
    const fine = install('finishes', { 'main.mjs': 'process.exitCode = 0;\n' });
    assert.equal(run(fine, ['token', 'list']).status, 0);
  });
});
