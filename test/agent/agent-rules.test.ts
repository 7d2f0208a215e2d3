import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandRefusal, compileAgentRules, globToRegExp, readAgentRules, resultNameRefusal, RulesError } from '../../src/agent/agent-rules.ts';

const dir = mkdtempSync(join(tmpdir(), 'rules-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('agent rules', () => {
  it('compiles a full rules file and applies the defaults', () => {
    const r = compileAgentRules({
      allowed_commands: ['/opt/a'], result_files: { patterns: ['*.txt'], max_bytes: 10 }, workdirs: { after_success: 'remove', keep_days: 3 },
    }, 'f', ['/opt/b']);
    assert.deepEqual(r.allowedCommands, ['/opt/a', '/opt/b']);
    assert.deepEqual(r.resultPatterns, ['*.txt']);
    assert.equal(r.maxResultBytes, 10);
    assert.equal(r.afterSuccess, 'remove');
    assert.equal(r.keepDays, 3);
    const d = compileAgentRules({}, 'f');
    assert.deepEqual(d.resultPatterns, ['**']);
    assert.equal(d.afterSuccess, 'keep');
    assert.equal(d.keepDays, null);
  });

  it('refuses typos, relative commands and bad values with the file name in the message', () => {
    assert.throws(() => compileAgentRules({ allowed_comands: [] }, 'rules.json'), /rules.json: unknown key "allowed_comands"/);
    assert.throws(() => compileAgentRules({ allowed_commands: ['bin/x'] }, 'r'), /not an absolute path/);
    assert.throws(() => compileAgentRules({ result_files: { max_bytes: -1 } }, 'r'), /max_bytes/);
    assert.throws(() => compileAgentRules({ workdirs: { after_success: 'delete' } }, 'r'), /"remove" or "keep"/);
    assert.throws(() => compileAgentRules([], 'r'), RulesError);
  });

  it('refuses a rules file that others may write', () => {
    const p = join(dir, 'r.json');
    writeFileSync(p, '{"allowed_commands":["/bin/true"]}');
    chmodSync(p, 0o666);
    assert.throws(() => readAgentRules(p), /may be written by other users \(mode 666\)/);
    chmodSync(p, 0o644);
    assert.deepEqual(readAgentRules(p).allowedCommands, ['/bin/true']);
    writeFileSync(p, '{nope');
    assert.throws(() => readAgentRules(p), /is not valid JSON/);
  });

  it('commands must match exactly', () => {
    const r = compileAgentRules({ allowed_commands: ['/opt/fem/femccv'] }, 'r');
    assert.equal(commandRefusal(r, '/opt/fem/femccv'), null);
    for (const c of ['/opt/fem/femccv ', '/opt/fem/../fem/femccv', '/opt/fem/femccv2', 'femccv']) assert.notEqual(commandRefusal(r, c), null, c);
  });

  it('globs: * and ? stay in a segment, ** crosses segments', () => {
    const t = (g: string, n: string): boolean => globToRegExp(g).test(n);
    assert.ok(t('*.txt', 'a.txt'));
    assert.ok(!t('*.txt', 'out/a.txt'));
    assert.ok(t('out/**', 'out/a/b.dat'));
    assert.ok(t('**/*.txt', 'a.txt'));
    assert.ok(t('**/*.txt', 'x/y/a.txt'));
    assert.ok(t('r?.dat', 'r1.dat'));
    assert.ok(!t('r?.dat', 'r/.dat'));
    assert.ok(!t('a.txt', 'aXtxt'), 'dots are literal');
    const r = compileAgentRules({ result_files: { patterns: ['*.txt'] } }, 'r');
    assert.equal(resultNameRefusal(r, 'secret.key') !== null, true);
    assert.equal(resultNameRefusal(r, 'ok.txt'), null);
  });
});
