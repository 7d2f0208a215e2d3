// What `npm start` does: the whole WebAPI method on this computer, end to end, in seconds,
// with no network and no configuration. The relay runs in this process on a free loopback
// port; the agent is a real `distcomp agent` child process with its own calc_base and a
// rules file that allows only the demo command; program A of the verification module runs
// as MInt would run it and calls `distcomp submit`. Then everything stops (or, with
// keepRunning, stays up until Ctrl+C). The children run in their own process groups, so a
// Ctrl+C reaches only this process, which stops them in order: program A first (its submit
// cancels the calc on the relay), then the agent (it drains), then the relay.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync, type WriteStream } from 'node:fs';
import { join, relative } from 'node:path';
import { Accounts } from '../server/accounts.ts';
import { startServer, type RunningServer } from '../server/start-server.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import { STDOUT_FILE } from '../protocol/calc-info.ts';
import { maskToken } from '../protocol/token-mask.ts';
import { cliEntry, DEMO_SITE, DEMO_USER, demoLayout, writeDemoFiles, type DemoLayout } from './demo-layout.ts';

export interface DemoOptions {
  /** Where everything lives. @default ./.distcomp */
  dir: string;
  /** Relay port; 0 = any free port. @default 0 */
  port: number;
  /** After the demo, keep the relay and the agent running until Ctrl+C. @default false */
  keepRunning: boolean;
  /** Longest time the verification calc may take, ms. @default 60000 */
  timeoutMs: number;
}

export interface DemoIo {
  /** One line for the screen (stdout). */
  say(line: string): void;
}

export class DemoError extends Error {
  override readonly name = 'DemoError';
}

/** A child's output kept in a log file and in memory (for waiting on a line, and for errors). */
class Child {
  text = '';
  readonly exited: Promise<number | null>;
  private readonly log: WriteStream;
  private waiters: (() => void)[] = [];

  constructor(readonly proc: ChildProcess, logFile: string, private readonly echo?: (line: string) => void) {
    this.log = createWriteStream(logFile, { flags: 'a' });
    let partial = '';
    const onData = (d: Buffer): void => {
      const s = d.toString();
      this.text += s;
      this.log.write(s);
      if (echo) {
        partial += s;
        const lines = partial.split('\n');
        partial = lines.pop() as string;
        for (const l of lines) echo(l);
      }
      for (const w of this.waiters) w();
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    this.exited = new Promise((res) => proc.once('close', (code) => {
      if (echo && partial !== '') echo(partial);
      this.log.end();
      for (const w of this.waiters) w();
      res(code);
    }));
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  waitFor(re: RegExp, ms: number, what: string): Promise<void> {
    return new Promise((res, rej) => {
      const timer = setTimeout(() => done(new DemoError(`${what}: nothing after ${ms / 1000} s`)), ms);
      const done = (e?: Error): void => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        if (e) rej(e);
        else res();
      };
      const check = (): void => {
        if (re.test(this.text)) done();
        else if (!this.running) done(new DemoError(`${what}: the process ended (exit ${String(this.proc.exitCode)})`));
      };
      this.waiters.push(check);
      check();
    });
  }

  /**
   * A signal to the child's whole process group (it was started detached, as its own group):
   * program A is a shell whose `distcomp submit` child must get the Ctrl+C too.
   */
  signal(sig: NodeJS.Signals): void {
    if (!this.running || this.proc.pid === undefined) return;
    try {
      process.kill(-this.proc.pid, sig);
    } catch {
      this.proc.kill(sig);
    }
  }

  /** SIGINT, then SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.signal('SIGINT');
    const t = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

function tail(text: string, n = 15): string {
  return text.trimEnd().split('\n').slice(-n).map((l) => `    ${l}`).join('\n');
}

/** The demo user and a fresh token for it (the token file is rewritten, mode 600). */
async function demoToken(l: DemoLayout): Promise<string> {
  const store = new SqliteStore(l.dataDir);
  try {
    const acc = new Accounts(store);
    if (!store.findUser(DEMO_USER)) await acc.addUser(DEMO_USER, null);
    const { token } = acc.createToken(DEMO_USER, 'npm start demo');
    writeFileSync(l.tokenFile, `${token}\n`, { mode: 0o600 });
    return token;
  } finally {
    store.close();
  }
}

export async function runDemo(o: DemoOptions, io: DemoIo, interrupt: AbortSignal): Promise<number> {
  const started = Date.now();
  const l = demoLayout(o.dir);
  if (!existsSync(l.remoteCommand) || !existsSync(l.programA)) {
    throw new DemoError(`the verification module is missing (${relative(process.cwd(), l.programA)}); run from a complete checkout`);
  }
  writeDemoFiles(l, o.port);
  const token = await demoToken(l);
  const cli = cliEntry();
  let server: RunningServer | null = null;
  let agent: Child | null = null;
  let programA: Child | null = null;
  const onInterrupt = (): void => {
    // Ctrl+C: program A's submit cancels its calc on the relay; then the rest stops below
    programA?.signal('SIGINT');
  };
  interrupt.addEventListener('abort', onInterrupt, { once: true });
  try {
    server = await startServer({ configPath: l.ini, dataDir: l.dataDir, port: o.port, logDestination: createWriteStream(l.serverLog, { flags: 'a' }) });
    io.say(`relay      listening on ${server.url}/mi-distcomp-api/ (demo user "${DEMO_USER}", token ${maskToken(token)})`);

    agent = new Child(spawn(process.execPath, [
      ...cli.nodeArgs, cli.script, 'agent', DEMO_SITE, server.url,
      '--token-file', l.tokenFile, '--calc-base', l.calcBase, '--rules', l.rules, '--log-file', l.agentEvents,
    ], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, DISTCOMP_TOKEN: '' } }), l.agentLog);
    await agent.waitFor(/^code = 0300 /m, 20_000, 'the agent did not start polling').catch((e: Error) => {
      throw new DemoError(`${e.message}; its output (${l.agentLog}):\n${tail(agent?.text ?? '')}`);
    });
    io.say(`agent      polling site "${DEMO_SITE}" (pid ${String(agent.proc.pid)}), working directories in ${l.calcBase}`);
    if (interrupt.aborted) return 130;

    // one run of the verification module, as MInt's workflow player runs program A
    const run = join(l.runs, new Date().toISOString().replace(/[:.]/g, '-'));
    const moduleDir = join(run, 'module');
    const outPorts = join(run, 'output-ports');
    mkdirSync(moduleDir, { recursive: true });
    mkdirSync(outPorts, { recursive: true });
    const ports = {
      cyclic_curve: join(outPorts, 'cyclic_curve.dat'),
      material_inp: join(outPorts, 'material.inp'),
    };
    const rel = relative(process.cwd(), l.programA);
    io.say(`program A  ${rel.startsWith('..') ? l.programA : rel} (in ${moduleDir})`);
    programA = new Child(spawn('/bin/sh', [
      l.programA,
      '--yield_strength', l.inputs.yield_strength,
      '--tensile_strength', l.inputs.tensile_strength,
      '--reduction_area', l.inputs.reduction_area,
      '--cyclic_curve', ports.cyclic_curve,
      '--material_inp', ports.material_inp,
    ], {
      cwd: moduleDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: {
        ...process.env,
        DISTCOMP: join(l.bin, 'distcomp'),
        DISTCOMP_URL: server.url,
        DISTCOMP_SITE: DEMO_SITE,
        DISTCOMP_REMOTE_COMMAND: l.remoteCommand,
        DISTCOMP_TOKEN: '',
        DISTCOMP_TOKEN_FILE: l.tokenFile,
      },
    }), join(l.logs, 'program-a.log'), (line) => io.say(`  | ${line}`));
    const timer = setTimeout(() => programA?.signal('SIGINT'), o.timeoutMs);
    const code = await programA.exited;
    clearTimeout(timer);
    if (interrupt.aborted) {
      io.say('interrupted: the calc was cancelled on the relay; stopping');
      return 130;
    }
    if (code !== 0) {
      throw new DemoError(`program A ended with exit status ${String(code)}; see ${join(l.logs, 'program-a.log')}, the agent's ${l.agentLog}, the relay's ${l.serverLog}`);
    }

    const summary = join(moduleDir, STDOUT_FILE);
    if (existsSync(summary)) {
      io.say('');
      io.say(`the remote step's standard output (${STDOUT_FILE}):`);
      for (const line of readFileSync(summary, 'utf8').trimEnd().split('\n')) io.say(`  ${line}`);
    }
    io.say('');
    io.say(`outputs (the module's output ports, linked to the files distcomp submit wrote in ${moduleDir}):`);
    for (const p of Object.values(ports)) {
      if (!existsSync(p)) throw new DemoError(`output port ${p} was not produced`);
      io.say(`--- ${p}`);
      for (const line of readFileSync(p, 'utf8').trimEnd().split('\n')) io.say(line);
    }
    io.say('');
    io.say(`where everything lives (${l.dir}):`);
    io.say(`  relay data dir     ${l.dataDir}  (SQLite database and file contents)`);
    io.say(`  relay config       ${l.ini}`);
    io.say(`  demo token         ${l.tokenFile}  (mode 600)`);
    io.say(`  agent rules        ${l.rules}`);
    io.say(`  working dirs       ${l.calcBase}/<accept_id>  (the external computer's side, kept)`);
    io.say(`  module run         ${run}`);
    io.say(`  logs               ${l.serverLog}, ${l.agentLog}, ${l.agentEvents}, ${join(l.logs, 'program-a.log')}`);
    io.say(`verification passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    if (o.keepRunning && !interrupt.aborted) {
      io.say('');
      io.say('the relay and the agent keep running; try another calc:');
      io.say(`  cd ${moduleDir} && DISTCOMP_TOKEN_FILE=${l.tokenFile} DISTCOMP_URL=${server.url} DISTCOMP_SITE=${DEMO_SITE} \\`);
      io.say(`    DISTCOMP_REMOTE_COMMAND=${l.remoteCommand} DISTCOMP=${join(l.bin, 'distcomp')} sh ${l.programA} --yield_strength ... `);
      io.say('Ctrl+C stops them.');
      await new Promise<void>((res) => (interrupt.aborted ? res() : interrupt.addEventListener('abort', () => res(), { once: true })));
    }
    return 0;
  } finally {
    interrupt.removeEventListener('abort', onInterrupt);
    if (programA?.running) await programA.stop();
    await agent?.stop();
    await server?.close();
    if (agent) io.say('stopped: agent and relay');
  }
}
