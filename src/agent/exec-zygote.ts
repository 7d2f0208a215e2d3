// The exec zygote: one perl process per agent (zygote-script.ts) that forks the pre-forked
// helpers (prefork-exec.ts) on request, reaps them and reports how their commands ended.
//
// Why a process of its own: a fork costs in proportion to the forking process's memory. The
// agent's spawn() of a helper took 11-15 ms of its CPU per calc on our 2-core VM (the forked
// ~55 MiB node process's page tables, and the event loop blocked until the child exec'd); the
// zygote (~4 MiB) forks one in well under a millisecond of its own CPU, while the agent goes on.
//
// It is started detached (a session of its own: a terminal's Ctrl+C reaches the agent, which
// drains, never the zygote) and unreferenced (an idle agent can exit); while an answer is awaited
// (a fork, a command's end) its pipe is referenced. When the agent ends or dies the zygote reads
// end-of-file, dismisses its idle helpers and exits; commands that run go on, as they did with
// spawn(), and a restarted agent finds them through its journal. When the zygote dies, idle
// helpers are given up (the next spare gets a new zygote) and a command that runs is reported
// with its exit status lost (run-calc.ts then waits for its process group to end).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Socket } from 'node:net';
import { constants } from 'node:os';
import { lengthFramed, PreforkedExec } from './prefork-exec.ts';
import { ZYGOTE_SCRIPT } from './zygote-script.ts';

const PERL = '/usr/bin/perl';
const available = existsSync(PERL);

const SIGNAL_NAMES = new Map<number, NodeJS.Signals>(
  Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);

export class ExecZygote {
  private readonly helpers = new Map<number, PreforkedExec>();
  private nextId = 1;
  private awaited = 0;
  private pending = '';
  private gone = false;
  private greeted = false;
  private killed = false;

  private constructor(private readonly child: ChildProcess) {
    child.on('error', () => this.lost());
    child.stdin?.on('error', () => {}); // EPIPE once it died: the end of its stdout tells
    child.stdout?.on('error', () => {});
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => this.answers(d));
    // gone once its answers are all read (not at 'exit', which may come before the last of them:
    // a command's end reported just before the zygote was killed must not be taken for lost)
    child.stdout?.on('close', () => this.lost());
    this.refer(false);
  }

  /** Starts a zygote; null when this computer has no perl or the spawn fails. */
  static start(): ExecZygote | null {
    if (!available) return null;
    try {
      const child = spawn(PERL, ['-e', ZYGOTE_SCRIPT], { cwd: '/', env: {}, stdio: ['pipe', 'pipe', 'ignore'], detached: true, shell: false });
      // a spawn that fails (EMFILE, EAGAIN...) reports it as an 'error' event: never unhandled
      child.on('error', () => {});
      if (child.pid === undefined) return null;
      return new ExecZygote(child);
    } catch {
      return null;
    }
  }

  get alive(): boolean {
    return !this.gone;
  }

  /** It ended by itself before it said it started (perl without its POSIX module, say): not worth a retry. */
  get failedAtStart(): boolean {
    return this.gone && !this.greeted && !this.killed;
  }

  /**
   * Asks for a helper whose stdout/stderr are the given existing files (opened by the zygote,
   * not following a symlink) and whose working directory is `cwd`; null when the zygote is gone.
   * A path with a NUL cannot be passed (the caller's own paths never hold one).
   */
  prefork(cwd: string, stdoutPath: string, stderrPath: string): PreforkedExec | null {
    if (this.gone || [cwd, stdoutPath, stderrPath].some((p) => p.includes('\0'))) return null;
    const id = this.nextId++;
    const helper = new PreforkedExec({
      send: (type, payload) => this.send(lengthFramed([type, String(id)], payload)),
      awaiting: (delta) => {
        this.awaited += delta;
        this.refer(this.awaited > 0);
      },
      abandon: () => this.kill(),
    });
    this.helpers.set(id, helper);
    this.send(lengthFramed(['P', String(id), cwd, stdoutPath, stderrPath]));
    return helper;
  }

  /** Ends the zygote: idle helpers exit; running commands go on. */
  stop(): void {
    this.child.stdin?.end();
  }

  /** Kills a zygote that does not answer; running commands go on (their status is lost). */
  private kill(): void {
    if (this.gone) return;
    this.killed = true;
    this.child.kill('SIGKILL');
  }

  private send(b: Buffer): boolean {
    const stdin = this.child.stdin;
    if (this.gone || stdin === null || !stdin.writable) return false;
    stdin.write(b);
    return true;
  }

  /** Keeps the agent alive while an answer is awaited (a fork, a command's end), and only then. */
  private refer(on: boolean): void {
    const out = this.child.stdout instanceof Socket ? this.child.stdout : null;
    if (on) {
      this.child.ref();
      out?.ref();
    } else {
      this.child.unref();
      out?.unref();
    }
    // the stdin pipe never holds the agent: requests are written at once
    if (this.child.stdin instanceof Socket) this.child.stdin.unref();
  }

  private answers(d: string): void {
    this.pending += d;
    let nl: number;
    while ((nl = this.pending.indexOf('\n')) >= 0) {
      const line = this.pending.slice(0, nl);
      this.pending = this.pending.slice(nl + 1);
      const [type = '', idText = '', ...rest] = line.split(' ');
      if (type === 'Z') {
        this.greeted = true;
        continue;
      }
      const id = Number(idText);
      const h = this.helpers.get(id);
      if (h === undefined) continue;
      switch (type) {
        case 'F':
          h.forked(Number(rest[0]));
          break;
        case 'E':
          this.helpers.delete(id);
          h.failed(rest.join(' '));
          break;
        case 'X':
          h.execd();
          break;
        case 'N':
          h.failed(rest.join(' '));
          break;
        case 'G':
          h.endedBeforeCommand();
          break;
        case 'W': {
          this.helpers.delete(id);
          const [code, sig] = rest;
          h.ended({ code: code === '-' ? null : Number(code), signal: sig === '-' ? null : SIGNAL_NAMES.get(Number(sig)) ?? (`SIG${String(sig)}` as NodeJS.Signals) });
          break;
        }
      }
    }
  }

  private lost(): void {
    if (this.gone) return;
    this.gone = true;
    const all = [...this.helpers.values()];
    this.helpers.clear();
    for (const h of all) h.zygoteGone();
    this.refer(false);
  }
}

/**
 * The agent's zygote, started when the first spare wants a helper and again when it died (at
 * most once per `restartMs`). One that died before it started (its perl lacks a module) is not
 * started again: the agent then spawns the commands itself, as without perl.
 */
export class ZygoteSupply {
  private zygote: ExecZygote | null = null;
  private startedAt = -Infinity;

  constructor(private readonly restartMs = 5_000) {}

  get(): ExecZygote | null {
    if (this.zygote?.alive) return this.zygote;
    if (this.zygote?.failedAtStart) return null;
    const now = performance.now();
    if (now - this.startedAt < this.restartMs) return null;
    this.startedAt = now;
    this.zygote = ExecZygote.start();
    return this.zygote;
  }

  stop(): void {
    this.zygote?.stop();
    this.zygote = null;
  }
}
