// A large input and a large result make the whole trip (submit -> relay -> agent -> relay ->
// submit) through the streaming file endpoints, sha256 compared at both ends, with the memory
// of every process read from /proc. DISTCOMP_LARGE_TRIP_MB sets the size (default 256 MiB;
// the 5 GiB run: DISTCOMP_LARGE_TRIP_MB=5120).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, openSync, writeSync, closeSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentProcess, Scratch } from '../helpers/agent-process.ts';
import { RelayProcess } from '../helpers/relay-process.ts';
import { SubmitProcess } from '../helpers/submit-process.ts';

const SITE = 'site-big';
const MB = 1024 * 1024;
const SIZE = Number(process.env['DISTCOMP_LARGE_TRIP_MB'] ?? 256) * MB;

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path, { highWaterMark: 4 * MB })) h.update(c as Buffer);
  return h.digest('hex');
}
const peakRssMb = (pid: number): number => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

describe('large files, the whole trip', { timeout: 900_000 }, () => {
  const s = new Scratch();
  // the remote step: reads the input, writes a transformed copy of the same size (every byte + 1)
  const calc = s.script('big.mjs', `
import { createReadStream, createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
await pipeline(createReadStream('mesh.bin'), new Transform({ transform(c, _e, done) { for (let i = 0; i < c.length; i++) c[i] = (c[i] + 1) & 255; done(null, c); } }), createWriteStream('result.bin'));
console.log('done');
`);
  let relay: RelayProcess;
  let agent: AgentProcess;
  let token: string;

  before(async () => {
    const calcBase = s.path('calcs');
    mkdirSync(calcBase);
    relay = await RelayProcess.start({ sites: { [SITE]: { commands: [calc] } } });
    token = relay.token();
    agent = new AgentProcess([SITE, relay.url, `calc_base:${calcBase}`, 'retry:3,0.5', '--rules', s.rules({ allowed_commands: [calc], result_files: { max_bytes: 16 * 1024 * MB } })], {
      env: { ...process.env, DISTCOMP_TOKEN: token },
    });
    await agent.waitFor(/code = 0300/);
  });
  after(async () => {
    await agent?.kill9();
    await relay?.cleanup();
    s.cleanup();
  });

  it(`${SIZE / MB} MiB in and ${SIZE / MB} MiB back, sha256 checked at both ends, small memory everywhere`, async () => {
    const d = mkdtempSync(join(s.dir, 'wf-'));
    const input = join(d, 'mesh.bin');
    const expected = createHash('sha256');
    const fd = openSync(input, 'w');
    const piece = Buffer.alloc(4 * MB);
    for (let done = 0, n = 0; done < SIZE; done += piece.length, n++) {
      for (let i = 0; i < piece.length; i += 4096) piece.writeUInt32LE((n * 7919 + i) >>> 0, i);
      const part = piece.subarray(0, Math.min(piece.length, SIZE - done));
      writeSync(fd, part);
      const plus = Buffer.from(part);
      for (let i = 0; i < plus.length; i++) plus[i] = (plus[i]! + 1) & 255;
      expected.update(plus);
    }
    closeSync(fd);
    const sub = new SubmitProcess([relay.url, SITE, calc, 'mesh.bin', 'result.bin', '', '--out', 'out'], { cwd: d, env: { ...process.env, DISTCOMP_TOKEN: token } });
    let submitPeak = 0;
    const timer = setInterval(() => {
      try {
        submitPeak = Math.max(submitPeak, peakRssMb(sub.child.pid!));
      } catch {
        // exited
      }
    }, 200);
    const r = await sub.exit;
    clearInterval(timer);
    assert.equal(r.code, 0, `${sub.stdout}\n${sub.stderr}`);
    assert.equal(await sha256File(join(d, 'out', 'result.bin')), expected.digest('hex'), 'the result came back byte-identical');
    const relayPeak = peakRssMb(relay.pid);
    const agentPeak = peakRssMb(agent.child.pid!);
    console.error(`[large trip] ${SIZE / MB} MiB: peak RSS relay ${relayPeak.toFixed(0)} MiB, agent ${agentPeak.toFixed(0)} MiB, submit ${submitPeak.toFixed(0)} MiB`);
    assert.ok(relayPeak < 256 && agentPeak < 256 && submitPeak < 256, 'every process stays small');
  });
});
