import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileAgentOptions, parseRetry, type AgentArgs } from '../../src/agent/agent-options.ts';

const dir = mkdtempSync(join(tmpdir(), 'opts-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const TOKEN = 'ab'.repeat(32);
const env = { HOME: dir, XDG_CONFIG_HOME: join(dir, 'xdg'), PATH: '/usr/bin', DISTCOMP_TOKEN: '' };
const args = (rest: string[], flags: AgentArgs['flags'] = {}, e: NodeJS.ProcessEnv = env): AgentArgs =>
  ({ siteId: 'nims-dev', baseUrl: 'https://relay.example', rest, flags: { allowCommand: ['/bin/true'], ...flags }, env: e });

describe('compileAgentOptions', () => {
  it('applies the manual\'s defaults', () => {
    const o = compileAgentOptions(args([TOKEN]));
    assert.equal(o.origin, 'https://relay.example:50443');
    assert.deepEqual(o.retry, { retries: 5, intervalMs: 60_000, jitter: 0.1 });
    assert.equal(o.calcBase, '/tmp');
    assert.equal(o.verifyTls, true);
    assert.equal(o.caFile, null);
    assert.equal(o.debug, false);
    assert.equal(o.concurrency, 1);
    assert.deepEqual(o.token, { kind: 'token', token: TOKEN, from: 'argument' });
    assert.match(o.warnings.join('\n'), /can be seen by other users/);
  });

  it('reads the manual\'s words', () => {
    const o = compileAgentOptions(args([TOKEN, 'port:443', 'retry:3,0.5', 'no_auth', `calc_base:${dir}`, 'debug']));
    assert.equal(o.origin, 'https://relay.example:443');
    assert.deepEqual(o.retry, { retries: 3, intervalMs: 500, jitter: 0.1 });
    assert.equal(o.verifyTls, false);
    assert.match(o.warnings.join('\n'), /NOT verified/);
    assert.equal(o.calcBase, dir);
    assert.equal(o.debug, true);
  });

  it('a flag wins over a word; a URL that names a port keeps it', () => {
    const o = compileAgentOptions({ ...args([TOKEN, 'port:443'], { port: '8443' }), baseUrl: 'https://relay.example:9000' });
    assert.equal(o.origin, 'https://relay.example:9000');
    assert.equal(compileAgentOptions(args([TOKEN, 'port:443'], { port: '8443' })).origin, 'https://relay.example:8443');
  });

  it('no_auth:CAFILE trusts a CA file and keeps verifying', () => {
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n');
    const o = compileAgentOptions(args([TOKEN, `no_auth:${ca}`]));
    assert.equal(o.verifyTls, true);
    assert.equal(o.caFile, ca);
    assert.throws(() => compileAgentOptions(args([TOKEN, `no_auth:${join(dir, 'none.pem')}`])), /does not exist/);
  });

  it('the token: argument, then --token-file, then DISTCOMP_TOKEN; "login"; none', () => {
    const file = join(dir, 'tok');
    writeFileSync(file, `${TOKEN.toUpperCase()}\n`);
    chmodSync(file, 0o600);
    assert.deepEqual(compileAgentOptions(args(['port:443'], { tokenFile: file })).token, { kind: 'token', token: TOKEN, from: 'token file' });
    assert.deepEqual(compileAgentOptions(args([], {}, { ...env, DISTCOMP_TOKEN: TOKEN })).token, { kind: 'token', token: TOKEN, from: 'DISTCOMP_TOKEN' });
    assert.deepEqual(compileAgentOptions(args(['login'])).token, { kind: 'login' });
    assert.throws(() => compileAgentOptions(args([])), /no API token/);
    chmodSync(file, 0o640);
    assert.throws(() => compileAgentOptions(args([], { tokenFile: file })), /may be read by other users \(mode 640\)/);
    assert.throws(() => compileAgentOptions(args(['not-a-token'])), /third argument must be an API token/);
  });

  it('the command inherits the environment without DISTCOMP_TOKEN', () => {
    const o = compileAgentOptions(args([], {}, { ...env, DISTCOMP_TOKEN: TOKEN, FOO: 'bar' }));
    assert.equal(o.childEnv['FOO'], 'bar');
    assert.equal('DISTCOMP_TOKEN' in o.childEnv, false);
  });

  it('refuses bad words and values clearly', () => {
    assert.throws(() => compileAgentOptions(args([TOKEN, 'port:0'])), /port:: not a port number/);
    assert.throws(() => compileAgentOptions(args([TOKEN, 'retry:5'])), /expected COUNT,INTERVAL/);
    assert.throws(() => compileAgentOptions(args([TOKEN, 'retry:1.5,60'])), /expected COUNT,INTERVAL/);
    assert.throws(() => compileAgentOptions(args([TOKEN, 'verbose'])), /unknown word "verbose"/);
    assert.throws(() => compileAgentOptions(args([TOKEN], { concurrency: '0' })), /--concurrency/);
    assert.throws(() => compileAgentOptions({ ...args([TOKEN]), baseUrl: 'https://relay.example/path' }), /no path/);
    assert.throws(() => compileAgentOptions(args([TOKEN], { allowCommand: [] })), /no command may run on this computer/);
  });

  it('parseRetry accepts whole and decimal intervals', () => {
    assert.deepEqual(parseRetry('0,1'), { retries: 0, intervalMs: 1000, jitter: 0.1 });
    assert.deepEqual(parseRetry('10,2.25'), { retries: 10, intervalMs: 2250, jitter: 0.1 });
  });
});
