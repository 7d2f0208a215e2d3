import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STDERR_FILE, STDOUT_FILE } from '../../src/protocol/calc-info.ts';
import { colonList, compileSubmitOptions, SubmitOptionsError, type SubmitFlags } from '../../src/workflow/submit-options.ts';

const TOKEN = '0123456789abcdef'.repeat(4);

describe('compileSubmitOptions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'distcomp-submit-opts-'));
  writeFileSync(join(dir, 'a.dat'), '1');
  writeFileSync(join(dir, 'b.dat'), '2');
  const compile = (positionals: string[], flags: SubmitFlags = {}, env: NodeJS.ProcessEnv = {}) =>
    compileSubmitOptions({ positionals, flags, env, cwd: dir });
  const refuses = (fn: () => unknown, re: RegExp): void => assert.throws(fn, (e: unknown) => e instanceof SubmitOptionsError && re.test(e.message));

  it('reads the deployed grammar: url site token command in:in out:out [parameter]', () => {
    const o = compile(['https://relay.example', 'nims-dev', TOKEN, '/opt/x.sh', 'a.dat:b.dat', 'XX.dat:XX.inp', '-n 4']);
    assert.equal(o.origin, 'https://relay.example:50443');
    assert.equal(o.siteId, 'nims-dev');
    assert.equal(o.token, TOKEN);
    assert.equal(o.tokenFrom, 'argument');
    assert.equal(o.command, '/opt/x.sh');
    assert.deepEqual(o.inputs.map((i) => i.name), ['a.dat', 'b.dat']);
    assert.equal(o.inputs[0]?.path, join(dir, 'a.dat'));
    assert.deepEqual(o.results, ['XX.dat', 'XX.inp', STDOUT_FILE, STDERR_FILE]);
    assert.equal(o.parameters, '-n 4');
    assert.equal(o.outDir, dir);
  });

  it('keeps a port the url names, and --port when it names none', () => {
    assert.equal(compile(['http://h:8082', 's', TOKEN, '/c', 'a.dat', 'o']).origin, 'http://h:8082');
    assert.equal(compile(['http://h', 's', TOKEN, '/c', 'a.dat', 'o'], { port: '443' }).origin, 'http://h:443');
  });

  it('without a token argument, takes --token-file (mode 600 only), then DISTCOMP_TOKEN', () => {
    const tf = join(dir, 'tok');
    writeFileSync(tf, `${TOKEN.toUpperCase()}\n`);
    chmodSync(tf, 0o600);
    const o = compile(['http://h', 's', '/c', 'a.dat', 'o'], { tokenFile: tf }, { DISTCOMP_TOKEN: 'f'.repeat(64) });
    assert.equal(o.token, TOKEN);
    assert.equal(o.tokenFrom, 'token file');
    chmodSync(tf, 0o604);
    refuses(() => compile(['http://h', 's', '/c', 'a.dat', 'o'], { tokenFile: tf }), /may be read by other users \(mode 604\)/);
    const e = compile(['http://h', 's', '/c', 'a.dat', 'o', 'param'], {}, { DISTCOMP_TOKEN: 'f'.repeat(64) });
    assert.equal(e.tokenFrom, 'DISTCOMP_TOKEN');
    assert.equal(e.parameters, 'param');
    refuses(() => compile(['http://h', 's', '/c', 'a.dat', 'o'], {}, { DISTCOMP_TOKEN: 'short' }), /DISTCOMP_TOKEN does not hold an API token/);
    refuses(() => compile(['http://h', 's', '/c', 'a.dat', 'o']), /no API token/);
  });

  it('takes flags alone', () => {
    const o = compile([], { url: 'http://h:1', site: 's', command: '/c', in: ['a.dat', 'renamed.dat=b.dat'], result: ['x', 'x', STDOUT_FILE], out: 'res', parameters: 'p q' }, { DISTCOMP_TOKEN: TOKEN });
    assert.deepEqual(o.inputs.map((i) => [i.name, i.path]), [['a.dat', join(dir, 'a.dat')], ['renamed.dat', join(dir, 'b.dat')]]);
    assert.deepEqual(o.results, ['x', STDOUT_FILE, STDERR_FILE]);
    assert.equal(o.outDir, join(dir, 'res'));
    assert.equal(o.parameters, 'p q');
  });

  it('sends an absolute input by its last component', () => {
    const o = compile(['http://h', 's', TOKEN, '/c', join(dir, 'a.dat'), 'o']);
    assert.equal(o.inputs[0]?.name, 'a.dat');
  });

  it('refuses, with a clear message, what cannot work', () => {
    refuses(() => compile(['http://h', 's', TOKEN, '/c', 'nope.dat', 'o']), /nope\.dat cannot be read: ENOENT \(nothing was sent\)/);
    refuses(() => compile(['http://h', 's', TOKEN, '/c', 'a.dat', 'o:../x']), /"\.\.\/x" has a "\.\." path segment/);
    refuses(() => compile(['http://h', 's', TOKEN, '/c', 'a.dat', '/etc/passwd']), /is an absolute path/);
    refuses(() => compile(['http://h', 's', TOKEN, '/c', 'a.dat:a.dat', 'o']), /two inputs are sent as "a\.dat"/);
    refuses(() => compile(['http://h', 's', TOKEN, '/c']), /expected <base url>/);
    refuses(() => compile(['--x', 's', TOKEN, '/c', 'a.dat', 'o']), /unknown option "--x"/);
    refuses(() => compile(['http://h/path', 's', TOKEN, '/c', 'a.dat', 'o']), /base url must look like/);
    refuses(() => compile(['http://h', 's', TOKEN, '/c', 'a.dat', 'o'], { wait: '0' }), /--wait: expected a number from 1 to 60/);
    refuses(() => compile(['http://h', 's', TOKEN, '/c', 'a.dat', 'o'], { retry: 'x' }), /--retry: expected COUNT,INTERVAL/);
    refuses(() => compile(['http://h', 's', TOKEN, '/c', 'a.dat', 'o', 'p'], { parameters: 'q' }), /given twice/);
    refuses(() => compile([], { url: 'http://h', site: 's' }, { DISTCOMP_TOKEN: TOKEN }), /no command/);
  });

  it('colonList drops empty items', () => {
    assert.deepEqual(colonList('a::b:'), ['a', 'b']);
    assert.deepEqual(colonList(''), []);
  });

  it('cleans up', () => rmSync(dir, { recursive: true, force: true }));
});
