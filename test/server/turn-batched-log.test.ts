// The relay's log destination: the lines of one turn of the event loop reach the output in one
// write, in order; the next turn's lines in the next; close() writes what is pending; a process
// that exits before the turn ends still writes its lines.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { TurnBatchedLog } from '../../src/server/turn-batched-log.ts';

function capture(): { out: Writable; writes: string[] } {
  const writes: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      writes.push(chunk.toString());
      cb();
    },
  });
  return { out, writes };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('TurnBatchedLog', () => {
  it('writes the lines of a turn together, in order, at its end', async () => {
    const { out, writes } = capture();
    const log = new TurnBatchedLog(out);
    log.write('a\n');
    log.write('b\n');
    log.write('c\n');
    assert.deepEqual(writes, [], 'nothing during the turn');
    await turn();
    assert.deepEqual(writes, ['a\nb\nc\n']);
    log.write('d\n');
    await turn();
    assert.deepEqual(writes, ['a\nb\nc\n', 'd\n']);
    log.close();
  });

  it('close() writes what is pending, then each line at once', () => {
    const { out, writes } = capture();
    const log = new TurnBatchedLog(out);
    log.write('a\n');
    log.close();
    assert.deepEqual(writes, ['a\n']);
    log.write('b\n');
    assert.deepEqual(writes, ['a\n', 'b\n']);
  });

  it('a process that exits in the middle of a turn still writes its lines', () => {
    const code = `import { TurnBatchedLog } from ${JSON.stringify(new URL('../../src/server/turn-batched-log.ts', import.meta.url).href)};
      const log = new TurnBatchedLog(process.stdout); log.write('first\\n'); log.write('last words\\n'); process.exit(3);`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8' });
    assert.equal(r.status, 3, r.stderr);
    assert.equal(r.stdout, 'first\nlast words\n');
  });
});
