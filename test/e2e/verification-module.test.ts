// The verification module (examples/verification) as MInt runs it: program A with one
// `--<port> <path>` per port, in a module directory of its own. WebAPI method: against the real
// relay and a real agent (completed, and abnormal with the remote step's message). SSH method:
// against a real sshd (skipped, loudly, where sshd cannot run; see test/helpers/sshd.ts).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentProcess, Scratch } from '../helpers/agent-process.ts';
import { CLI, REPO, RelayProcess } from '../helpers/relay-process.ts';
import { ALIAS, SshdFixture, sshSkipReason } from '../helpers/sshd.ts';

const EX = join(REPO, 'examples', 'verification');
const REMOTE = join(EX, 'remote-side', 'cyclic-ss-curve.sh');
const SITE = 'site-verify';

function programA(script: string, cwd: string, ports: Record<string, string>, env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  const args = Object.entries(ports).flatMap(([k, v]) => [`--${k}`, v]);
  return new Promise((res, rej) => {
    const c = spawn('/bin/sh', [script, ...args], { cwd, env: { ...process.env, DISTCOMP_TOKEN: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => {
      c.kill('SIGKILL');
      rej(new Error(`program A did not finish in 60 s\n${out}`));
    }, 60_000);
    c.on('close', (code) => {
      clearTimeout(t);
      res({ code, out });
    });
  });
}

/** Input port files and output port paths in a fresh module run directory. */
function moduleRun(s: Scratch, values: { ys: string; ts: string; ra: string }): { cwd: string; ports: Record<string, string> } {
  const run = mkdtempSync(join(s.dir, 'run-'));
  const cwd = join(run, 'module');
  mkdirSync(cwd);
  mkdirSync(join(run, 'in'));
  const inPort = (name: string, v: string): string => {
    const p = join(run, 'in', name);
    writeFileSync(p, `${v}\n`);
    return p;
  };
  return {
    cwd,
    ports: {
      yield_strength: inPort('降伏強度', values.ys),
      tensile_strength: inPort('引張強度', values.ts),
      reduction_area: inPort('断面減少率', values.ra),
      cyclic_curve: join(run, 'out', 'cyclic_curve'),
      material_inp: join(run, 'out', 'material_inp'),
    },
  };
}

const wrapper = (s: Scratch): string => {
  const p = s.path('distcomp');
  writeFileSync(p, `#!/bin/sh\nexec '${process.execPath}' '${CLI}' "$@"\n`, { mode: 0o755 });
  chmodSync(p, 0o755);
  return p;
};

describe('verification module, WebAPI method', { timeout: 90_000 }, () => {
  const s = new Scratch();
  let relay: RelayProcess;
  let agent: AgentProcess;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    relay = await RelayProcess.start({ sites: { [SITE]: { commands: [REMOTE] } } });
    mkdirSync(s.path('calcs'));
    agent = new AgentProcess([SITE, relay.url, `calc_base:${s.path('calcs')}`, '--allow-command', REMOTE], {
      env: { ...process.env, DISTCOMP_TOKEN: relay.token(), XDG_CONFIG_HOME: s.dir },
    });
    await agent.waitFor(/code = 0300/);
    const tf = s.path('token');
    writeFileSync(tf, relay.token(), { mode: 0o600 });
    env = { DISTCOMP: wrapper(s), DISTCOMP_URL: relay.url, DISTCOMP_SITE: SITE, DISTCOMP_REMOTE_COMMAND: REMOTE, DISTCOMP_TOKEN_FILE: tf };
  });
  after(async () => {
    await agent?.kill9();
    await relay?.cleanup();
    s.cleanup();
  });

  it('completed: inputs linked in, the remote step run by the agent, outputs linked to the output ports', async () => {
    const m = moduleRun(s, { ys: '355', ts: '540', ra: '62' });
    const r = await programA(join(EX, 'webapi', 'program-a.sh'), m.cwd, m.ports, env);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /progress status change from .* to got return/);
    const curvePort = m.ports['cyclic_curve'] as string;
    assert.equal(lstatSync(curvePort).isSymbolicLink(), true, 'the output port is linked to the module directory\'s file');
    const curve = readFileSync(curvePort, 'utf8');
    assert.match(curve, /K' = 889\.2 MPa, n' = 0\.1432/);
    assert.match(curve, /^0\.001254 {2}237\.75 {2}0\.000100$/m);
    assert.match(readFileSync(m.ports['material_inp'] as string, 'utf8'), /^\*PLASTIC\n237\.75, 0\.000000$/m);
    assert.match(readFileSync(join(m.cwd, '計算標準出力.txt'), 'utf8'), /cyclic 0\.2% yield = 365\.1 MPa \(cyclic hardening/);
  });

  it('a different material gives a different curve (the step really computes)', async () => {
    const m = moduleRun(s, { ys: '900', ts: '1000', ra: '0.45' });
    const r = await programA(join(EX, 'webapi', 'program-a.sh'), m.cwd, m.ports, env);
    assert.equal(r.code, 0, r.out);
    const out = readFileSync(join(m.cwd, '計算標準出力.txt'), 'utf8');
    assert.match(out, /reduction of area 45\.0 %/);
    assert.match(out, /cyclic softening/);
  });

  it('abnormal: exit 1, the remote step\'s message on stderr, no output linked', async () => {
    const m = moduleRun(s, { ys: '600', ts: '500', ra: '40' });
    const r = await programA(join(EX, 'webapi', 'program-a.sh'), m.cwd, m.ports, env);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /tensile strength \(500 MPa\) must exceed yield strength \(600 MPa\)/);
    assert.equal(existsSync(m.ports['cyclic_curve'] as string), false);
  });

  it('a missing port: exit 2 with the port named, nothing sent', async () => {
    const m = moduleRun(s, { ys: '1', ts: '2', ra: '3' });
    const { material_inp: _, ...ports } = m.ports;
    const r = await programA(join(EX, 'webapi', 'program-a.sh'), m.cwd, ports, env);
    assert.equal(r.code, 2);
    assert.match(r.out, /port --material_inp is missing/);
  });
});

const skip = sshSkipReason();

describe('verification module, SSH method (real sshd)', { skip, timeout: 90_000 }, () => {
  const s = new Scratch();
  let sshd: SshdFixture;

  before(async () => {
    sshd = await SshdFixture.start({ proxy: false });
  });
  after(async () => {
    await sshd?.stop({ keep: false });
    s.cleanup();
  });

  it('completed: program C is the same remote step; outputs linked to the output ports', async () => {
    // program C on the "external computer": the remote-side script, owned by the remote user
    const programC = join(sshd.dir, 'cyclic-ss-curve.sh');
    copyFileSync(REMOTE, programC);
    chmodSync(programC, 0o755);
    chownSync(programC, sshd.user.uid, sshd.user.gid);
    const base = sshd.makeRemoteDir('verification');
    const m = moduleRun(s, { ys: '355', ts: '540', ra: '62' });
    const r = await programA(join(EX, 'ssh', 'program-a.sh'), m.cwd, m.ports, {
      DISTCOMP: wrapper(s), DISTCOMP_SSH_HOST: ALIAS, DISTCOMP_SSH_PROGRAM: programC, DISTCOMP_SSH_BASE: base,
      DISTCOMP_SSH_OPTIONS: `-F ${sshd.configFile} --reconnect-delay 0.2`,
    });
    assert.equal(r.code, 0, r.out);
    const curve = readFileSync(m.ports['cyclic_curve'] as string, 'utf8');
    assert.match(curve, /K' = 889\.2 MPa, n' = 0\.1432/);
    assert.match(readFileSync(m.ports['material_inp'] as string, 'utf8'), /^\*MATERIAL, NAME=CYCLIC$/m);
    assert.match(readFileSync(join(m.cwd, 'remote_program_exec.log'), 'utf8'), /wrote cyclic_curve\.dat and material\.inp/);
  });
});
