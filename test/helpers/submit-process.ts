// `distcomp submit` as a child process in a given directory, for end-to-end tests: its
// stdout/stderr captured, a wait for a line, signals, and a bounded wait for its exit.
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI } from './relay-process.ts';

export class SubmitProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: (() => void)[] = [];

  constructor(args: string[], o: { cwd: string; env?: NodeJS.ProcessEnv; cli?: string }) {
    this.child = spawn(process.execPath, [o.cli ?? CLI, 'submit', ...args], {
      cwd: o.cwd, env: o.env ?? { ...process.env, DISTCOMP_TOKEN: '' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const poke = (): void => {
      for (const w of this.waiters) w();
    };
    this.child.stdout?.on('data', (d: Buffer) => {
      this.stdout += d.toString();
      poke();
    });
    this.child.stderr?.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      poke();
    });
    this.exit = new Promise((res) => this.child.once('close', (code, signal) => {
      poke();
      res({ code, signal });
    }));
  }

  /** Resolves when `re` matches stdout+stderr; rejects after `ms` or when the process ends first. */
  waitFor(re: RegExp, ms = 20_000): Promise<RegExpExecArray> {
    return new Promise((res, rej) => {
      const timer = setTimeout(() => finish(new Error(`timed out after ${ms} ms waiting for ${String(re)}\n${this.show()}`)), ms);
      const finish = (e: Error | null, m?: RegExpExecArray): void => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        if (e) rej(e);
        else res(m as RegExpExecArray);
      };
      const check = (): void => {
        const m = re.exec(this.stdout + this.stderr);
        if (m) finish(null, m);
        else if (this.child.exitCode !== null || this.child.signalCode !== null) finish(new Error(`submit ended before ${String(re)}\n${this.show()}`));
      };
      this.waiters.push(check);
      check();
    });
  }

  /** The exit, bounded; kills the process if it runs over. */
  async done(ms = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
    let timer: NodeJS.Timeout | undefined;
    const t = new Promise<never>((_, rej) => {
      timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        rej(new Error(`submit did not exit in ${ms} ms\n${this.show()}`));
      }, ms);
    });
    try {
      const r = await Promise.race([this.exit, t]);
      return { code: r.code, stdout: this.stdout, stderr: this.stderr };
    } finally {
      clearTimeout(timer);
    }
  }

  show(): string {
    return `--- submit stdout ---\n${this.stdout}\n--- submit stderr ---\n${this.stderr}`;
  }
}

/** Runs submit to its end. */
export function runSubmit(args: string[], o: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new SubmitProcess(args, o).done(o.timeoutMs);
}

/** Runs submit to its end with another copy of the program (`cli`: its main.js). */
export function runSubmitWith(cli: string, args: string[], o: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new SubmitProcess(args, { ...o, cli }).done(o.timeoutMs);
}
