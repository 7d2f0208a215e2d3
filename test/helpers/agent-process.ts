// `distcomp agent` as a child process for end-to-end tests: its screen captured line by
// line, waits for a line with a deadline, signals, kill -9, and a workflow-side client to
// register and allow calcs on the same relay.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RelayClient, type CalcInfoWire } from '../../src/client/relay-client.ts';
import { STDERR_FILE, STDOUT_FILE } from '../../src/protocol/calc-info.ts';
import { CLI } from './relay-process.ts';

export class AgentProcess {
  readonly child: ChildProcess;
  private out = '';
  private err = '';
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: (() => void)[] = [];

  constructor(args: string[], o: { env?: NodeJS.ProcessEnv; input?: string } = {}) {
    this.child = spawn(process.execPath, [CLI, 'agent', ...args], {
      env: o.env ?? { ...process.env, DISTCOMP_TOKEN: '' }, stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (d: Buffer) => {
      this.out += d.toString();
      for (const w of this.waiters) w();
    });
    this.child.stderr?.on('data', (d: Buffer) => {
      this.err += d.toString();
      for (const w of this.waiters) w();
    });
    if (o.input !== undefined) this.child.stdin?.end(o.input);
    this.exit = new Promise((res) => this.child.once('exit', (code, signal) => {
      for (const w of this.waiters) w();
      res({ code, signal });
    }));
  }

  get stdout(): string {
    return this.out;
  }

  get stderr(): string {
    return this.err;
  }

  /** Resolves with the first match of `re` in stdout+stderr; rejects after `ms` or if the agent exits first. */
  waitFor(re: RegExp, ms = 20_000): Promise<RegExpExecArray> {
    return new Promise((res, rej) => {
      const check = (): boolean => {
        const m = re.exec(this.out + this.err);
        if (m) {
          done();
          res(m);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        rej(new Error(`timed out after ${ms} ms waiting for ${String(re)}\n--- agent stdout ---\n${this.out}\n--- stderr ---\n${this.err}`));
      }, ms);
      const onExit = (): void => {
        if (!check() && this.child.exitCode !== null) {
          done();
          rej(new Error(`agent exited (${String(this.child.exitCode)}) before ${String(re)}\n--- agent stdout ---\n${this.out}\n--- stderr ---\n${this.err}`));
        }
      };
      const done = (): void => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== listener);
      };
      const listener = (): void => {
        if (!check() && this.child.exitCode !== null) onExit();
      };
      this.waiters.push(listener);
      listener();
    });
  }

  /** Waits for the exit (bounded). */
  async exited(ms = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<never>((_, rej) => {
      timer = setTimeout(() => rej(new Error(`agent did not exit in ${ms} ms\n${this.out}\n${this.err}`)), ms);
    });
    try {
      return await Promise.race([this.exit, t]);
    } finally {
      clearTimeout(timer);
    }
  }

  signal(s: NodeJS.Signals): void {
    this.child.kill(s);
  }

  async kill9(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exit;
    }
  }
}

/** A temp directory with helpers to write rules files and executable test commands. */
export class Scratch {
  readonly dir = mkdtempSync(join(tmpdir(), 'distcomp-agent-'));

  path(...p: string[]): string {
    return join(this.dir, ...p);
  }

  /** Writes an executable node script; returns its absolute path. */
  script(name: string, body: string): string {
    const p = this.path(name);
    writeFileSync(p, `#!${process.execPath}\n${body}\n`);
    chmodSync(p, 0o755);
    return p;
  }

  /** Writes a rules file (mode 600). */
  rules(json: unknown, name = 'rules.json'): string {
    const p = this.path(name);
    writeFileSync(p, JSON.stringify(json), { mode: 0o600 });
    chmodSync(p, 0o600);
    return p;
  }

  cleanup(): void {
    if (process.env['DISTCOMP_KEEP_TEST_DIRS'] === '1') process.stderr.write(`kept ${this.dir}\n`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A workflow-side client (single tries: tests fail fast). */
export function workflowClient(url: string, token: string): RelayClient {
  return new RelayClient({ baseUrl: url, token, retry: { retries: 0, intervalMs: 0, jitter: 0 } });
}

export function calcInfo(site: string, command: string, o: { parameters?: string; inputs?: Record<string, string>; results?: string[] } = {}): CalcInfoWire {
  return {
    command,
    'remote-site': site,
    parameters: o.parameters ?? '',
    parameter_files: Object.fromEntries(Object.entries(o.inputs ?? {}).map(([n, c]) => [n, [Buffer.from(c).toString('base64'), 'text/plain;', 'charset=us-ascii']])),
    result_files: Object.fromEntries([STDOUT_FILE, STDERR_FILE, ...(o.results ?? [])].map((n) => [n, { content: '', mimetype1: '', mimetype2: '' }])),
  };
}

/** Registers and allows a calc; returns its accept_id. */
export async function submit(c: RelayClient, info: CalcInfoWire): Promise<string> {
  const id = await c.addCalcInfo(info);
  await c.allowWaitCalc(id);
  return id;
}

/** Waits (long polling) until the calc is `got return`, then fetches the results. */
export async function awaitResult(c: RelayClient, id: string, ms = 30_000): Promise<{ status: string; files: Record<string, { content: string; mimetype1: string; mimetype2: string }> }> {
  const deadline = Date.now() + ms;
  let p = await c.calcProgress(id);
  while (p.progress !== 'got return') {
    if (Date.now() > deadline) throw new Error(`calc ${id} still "${p.progress}" after ${ms} ms`);
    p = await c.calcProgress(id, { since: p.progress, waitS: 5 });
  }
  const { status } = await c.calcStatus(id);
  const files = await c.getCalcResult(id);
  return { status, files };
}

export const text = (f: { content: string } | undefined): string => Buffer.from(f?.content ?? '', 'base64').toString('utf8');
