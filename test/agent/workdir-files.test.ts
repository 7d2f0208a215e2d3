// The working directory's files: journal writes and scans, input names, result collection
// without symlinks or special files, and the streamed base64 of send-results.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { compileAgentRules } from '../../src/agent/agent-rules.ts';
import { collectResults, resultUploads } from '../../src/agent/collect-results.ts';
import { advance, journalPath, readJournal, startJournal, unfinishedCalcs, writeJournal, type JournalData } from '../../src/agent/journal.ts';
import { createWorkdir, pruneWorkdirs, workdirPath, writeInputFile } from '../../src/agent/workdir.ts';
import { base64Chunks, sendResultsBody } from '../../src/client/result-upload.ts';

/** A new calc's journal at `claimed`, written, as the agent writes it before its first call. */
function written(workdir: string, d: Parameters<typeof startJournal>[0]): JournalData {
  const j = startJournal(d);
  writeJournal(workdir, j);
  return j;
}

const base = mkdtempSync(join(tmpdir(), 'workdir-test-'));
after(() => rmSync(base, { recursive: true, force: true }));
const fresh = (): string => {
  const w = workdirPath(base, randomUUID());
  createWorkdir(w);
  return w;
};
async function drain(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

describe('workdir and inputs', () => {
  it('accept_id must be a UUID before it becomes a path', () => {
    for (const bad of ['../etc', 'a/b', '', '00000000-0000-0000-0000-00000000000g', `${randomUUID()}/..`]) {
      assert.throws(() => workdirPath(base, bad), /not a UUID/, bad);
    }
  });

  it('refuses a pre-made symlink in place of the working directory', () => {
    const id = randomUUID();
    symlinkSync(tmpdir(), join(base, id));
    assert.throws(() => createWorkdir(join(base, id)), /not a directory \(a symlink or a file\)/);
  });

  it('writes inputs inside, creating subdirectories, and refuses names that leave', () => {
    const w = fresh();
    writeInputFile(w, 'sub/in.dat', Buffer.from('x'));
    assert.deepEqual(readdirSync(join(w, 'sub')), ['in.dat']);
    for (const bad of ['../x', '/etc/x', 'a/../../x', '', 'a\0b', '.distcomp-journal.json']) {
      assert.throws(() => writeInputFile(w, bad, Buffer.from('x')), bad);
    }
    symlinkSync(tmpdir(), join(w, 'link'));
    assert.throws(() => writeInputFile(w, 'link/x', Buffer.from('x')), /not a directory/);
  });
});

describe('journal', () => {
  it('records phases atomically and finds unfinished calcs of this site and relay', () => {
    const w = fresh();
    const id = w.split('/').pop() as string;
    let j = written(w, { acceptId: id, siteId: 's', origin: 'http://r:1', attempt: 1 });
    j = advance(w, j, 'params', { calc: { command: '/x', parameters: '', resultNames: [] }, refusal: null });
    assert.equal(readJournal(w)?.phase, 'params');
    assert.deepEqual(readJournal(w)?.history.map((h) => h.phase), ['claimed', 'params']);
    assert.ok(unfinishedCalcs(base, 's', 'http://r:1').some((c) => c.journal.acceptId === id));
    assert.ok(!unfinishedCalcs(base, 'other', 'http://r:1').some((c) => c.journal.acceptId === id));
    assert.ok(!unfinishedCalcs(base, 's', 'http://other:1').some((c) => c.journal.acceptId === id));
    advance(w, j, 'done');
    assert.ok(!unfinishedCalcs(base, 's', 'http://r:1').some((c) => c.journal.acceptId === id));
    assert.deepEqual(readdirSync(w).sort(), ['.distcomp-journal.json']);
  });

  it('the last whole record is the state: a cut record is skipped, and the next one still reads', () => {
    const w = fresh();
    const id = w.split('/').pop() as string;
    let j = written(w, { acceptId: id, siteId: 's', origin: 'o', attempt: 1 });
    j = advance(w, j, 'params', { calc: { command: '/x', parameters: '', resultNames: [] }, refusal: null });
    const whole = readFileSync(journalPath(w), 'utf8');
    // a kill -9 in the middle of the next append (possible where a write crosses a page)
    const next = `\n${JSON.stringify({ ...j, phase: 'starting' })}`;
    appendFileSync(journalPath(w), next.slice(0, 40));
    assert.equal(readJournal(w)?.phase, 'params');
    advance(w, j, 'starting');
    assert.equal(readJournal(w)?.phase, 'starting');
    assert.ok(readFileSync(journalPath(w), 'utf8').startsWith(whole));
  });

  it('reads a journal of the earlier format (one pretty-printed document) and appends to it', () => {
    const w = fresh();
    const id = w.split('/').pop() as string;
    const j = startJournal({ acceptId: id, siteId: 's', origin: 'o', attempt: 1 });
    const old = { ...j, phase: 'params', calc: { command: '/x', parameters: '', resultNames: ['a', 'b'] } };
    writeFileSync(journalPath(w), `${JSON.stringify(old, null, 1)}\n`);
    assert.deepEqual(readJournal(w), old);
    advance(w, old as typeof j, 'starting');
    assert.equal(readJournal(w)?.phase, 'starting');
    assert.deepEqual(readJournal(w)?.calc?.resultNames, ['a', 'b']);
  });

  it('keep_days removes only finished calcs\' directories that are old enough', () => {
    const old = fresh();
    const oldId = old.split('/').pop() as string;
    const j = written(old, { acceptId: oldId, siteId: 's', origin: 'o', attempt: 1 });
    advance(old, j, 'done');
    const running = fresh();
    written(running, { acceptId: running.split('/').pop() as string, siteId: 's', origin: 'o', attempt: 1 });
    const stranger = join(base, randomUUID());
    mkdirSync(stranger);
    const later = Date.now() + 10 * 86_400_000;
    utimesSync(old, new Date(), new Date());
    const removed = pruneWorkdirs(base, 5, later);
    assert.ok(removed.includes(old));
    assert.ok(!removed.includes(running));
    assert.ok(!removed.includes(stranger), 'a directory without our journal is never touched');
    assert.deepEqual(pruneWorkdirs(base, 30, later).filter((p) => p === running), []);
  });
});

describe('collectResults', () => {
  const rules = compileAgentRules({ allowed_commands: ['/x'], result_files: { patterns: ['**/*.txt', 'big.bin', 'fifo', 'leak*', 'dir*/**', 'empty'], max_bytes: 100 } }, 'r');

  it('sends regular files only, never through a symlink, within the limits', async () => {
    const w = fresh();
    writeFileSync(join(w, 'ok.txt'), 'hello');
    writeFileSync(join(w, 'utf.txt'), 'こんにちは');
    writeFileSync(join(w, 'big.bin'), Buffer.alloc(101));
    writeFileSync(join(w, 'empty'), '');
    writeFileSync(join(base, 'secret'), 'SECRET');
    symlinkSync(join(base, 'secret'), join(w, 'leak.txt'));
    symlinkSync(base, join(w, 'dirlink'));
    mkdirSync(join(w, 'sub'));
    writeFileSync(join(w, 'sub', 'deep.txt'), 'deep');
    execFileSync('mkfifo', [join(w, 'fifo')]);
    writeFileSync(join(w, 'key.pem'), 'k');
    const c = collectResults(w, ['ok.txt', 'utf.txt', 'sub/deep.txt', 'big.bin', 'leak.txt', 'dirlink/secret', 'fifo', 'key.pem', 'gone.txt', 'empty', '.distcomp-journal.json'], rules);
    assert.deepEqual(c.files.map((f) => [f.name, f.mimetype1, f.mimetype2]), [
      ['ok.txt', 'text/plain;', 'charset=us-ascii'],
      ['utf.txt', 'text/plain;', 'charset=utf-8'],
      ['sub/deep.txt', 'text/plain;', 'charset=us-ascii'],
      ['empty', 'inode/x-empty;', 'charset=binary'],
    ]);
    assert.deepEqual(c.missing, ['gone.txt']);
    const why = Object.fromEntries(c.refused.map((r) => [r.name, r.reason]));
    assert.match(why['big.bin'] ?? '', /101 bytes, larger than .* 100 bytes/);
    assert.match(why['leak.txt'] ?? '', /symbolic link/);
    assert.match(why['dirlink/secret'] ?? '', /symbolic link/);
    assert.match(why['fifo'] ?? '', /not a regular file/);
    assert.match(why['key.pem'] ?? '', /patterns/);
    assert.match(why['.distcomp-journal.json'] ?? '', /journal/);

    const uploads = resultUploads(w, c, rules);
    const body = JSON.parse((await drain(sendResultsBody({ accept_id: 'a', site_id: 's' }, uploads))).toString()) as {
      accept_id: string; result_files: Record<string, { content: string; mimetype1: string; mimetype2: string }>;
    };
    assert.equal(body.accept_id, 'a');
    assert.equal(Buffer.from(body.result_files['utf.txt']?.content ?? '', 'base64').toString(), 'こんにちは');
    assert.deepEqual(body.result_files['gone.txt'], { content: '', mimetype1: 'Error', mimetype2: '出力指定ファイル(gone.txt)がありませんでした。' });
    assert.equal(body.result_files['leak.txt']?.mimetype1, 'Error');
    assert.ok(!JSON.stringify(body).includes(Buffer.from('SECRET').toString('base64')));
  });

  it('abnormal rule: no requested file besides stdout/stderr delivered', () => {
    const w = fresh();
    writeFileSync(join(w, '計算標準出力.txt'), 'out');
    assert.equal(collectResults(w, ['計算標準出力.txt', 'a.txt'], rules).deliversRequested, false);
    assert.equal(collectResults(w, ['計算標準出力.txt'], rules).deliversRequested, true);
    writeFileSync(join(w, 'a.txt'), 'a');
    assert.equal(collectResults(w, ['計算標準出力.txt', 'a.txt', 'b.txt'], rules).deliversRequested, true);
  });
});

describe('streamed base64', () => {
  it('property: any bytes in any chunking encode exactly like Buffer.toString("base64")', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 8 }), async (chunks) => {
      const got = (await drain(base64Chunks((async function* () { yield* chunks; })()))).toString();
      assert.equal(got, Buffer.concat(chunks).toString('base64'));
    }), { numRuns: 300 });
  });
});
