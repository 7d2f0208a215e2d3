// A process forked while the agent is idle, which at the calc's start replaces itself (exec) with
// the command, so that no fork lies between calc-start's answer and the command.
//
// Why: Node's spawn() forks the agent's ~55 MiB process and waits until the child has exec'd.
// Measured here from spawn() to /bin/date running: 2.0-2.4 ms p50 on a quiet machine, 9.2 ms p50
// (p90 31) while two other processes keep both cores busy; from "go" to a pre-forked helper's
// exec to /bin/date running: 1.35-1.6 ms quiet, 1.7 ms (p90 9.3) busy.
//
// The helpers are forked by the exec zygote (exec-zygote.ts), a small perl process, not by the
// agent: a spawn() of a helper from the agent cost 11-15 ms of the agent's CPU per calc on our
// 2-core VM, its event loop blocked meanwhile, and it landed just as the workflow side took
// the results (the e2e bench's submit was 8-12 ms slower for it). This is the agent's handle
// on one helper: its stdout and stderr are the calc's output files, its working directory the
// spare directory that becomes the calc's (spare-workdir.ts), and it leads its own session and
// process group, so the command is where a spawn() with `detached` would have put it. The
// command, its arguments and its environment go to it as NUL-terminated fields, and it calls
// exec with the list form and the program named apart (`exec { $file } @argv`), which never
// involves a shell. The message starts with its length, so one cut short runs nothing.

/** How a command ended; `lost` when its exit status could not be learnt (the zygote died). */
export interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  lost?: boolean;
}

/** A command being started: by a pre-forked helper, or by spawn() (run-calc.ts). */
export interface Launched {
  /**
   * The command's pid once it runs, or why it could not be started; `helperGone`: the pre-forked
   * helper had ended before its command reached it (someone killed it), so it can be spawned.
   */
  started: Promise<{ pid: number } | { error: string; helperGone?: boolean }>;
  /** How it ended; settles only after `started` gave a pid. */
  exited: Promise<Ended>;
}

/** What a helper needs from its zygote. */
export interface HelperOwner {
  /** Sends a request about this helper; false when the zygote is gone. */
  send(type: 'R' | 'D', payload?: Buffer): boolean;
  /**
   * Counts the answers awaited (a fork, a command's end), so that the agent stays alive for them
   * and for nothing else.
   */
  awaiting(delta: 1 | -1): void;
  /** Gives up on a zygote that does not answer: it is killed, and the next spare gets a new one. */
  abandon(): void;
}

type State = 'forking' | 'idle' | 'running' | 'gone';

/**
 * One message as the zygote and its helpers read them: `<byte length>\0` then the fields, each
 * NUL-terminated, then `raw` bytes if given. The length first: a message cut short runs nothing.
 */
export function lengthFramed(fields: readonly string[], raw?: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(fields.map((f) => `${f}\0`).join('')), raw ?? Buffer.alloc(0)]);
  return Buffer.concat([Buffer.from(`${body.length}\0`), body]);
}

/** The command message a helper reads (argc, argv, then KEY=value). */
export function commandMessage(command: string, args: readonly string[], env: Record<string, string>): Buffer | null {
  const fields = [String(args.length + 1), command, ...args, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)];
  // a NUL cannot be passed (spawn() then refuses it as before); a key with `=` would split wrongly
  if (fields.some((f) => f.includes('\0')) || Object.keys(env).some((k) => k.includes('='))) return null;
  return lengthFramed(fields);
}

export class PreforkedExec {
  private state: State = 'forking';
  private pid: number | null = null;
  private command = '';
  private resolveStarted: ((v: { pid: number } | { error: string; helperGone?: boolean }) => void) | null = null;
  private resolveExited: ((v: Ended) => void) | null = null;
  private resolveReady: ((forked: boolean) => void) | null = null;
  /** Whether it was forked: settles once the zygote has resolved every path it was given. */
  readonly ready: Promise<boolean>;

  constructor(private readonly owner: HelperOwner) {
    this.ready = new Promise((resolve) => (this.resolveReady = resolve));
    owner.awaiting(1);
  }

  /** Whether the helper is still waiting for its command (or about to). */
  usable(): boolean {
    return this.state === 'forking' || this.state === 'idle';
  }

  /** The helper's pid once forked (for tests and screens). */
  get helperPid(): number | null {
    return this.pid;
  }

  /** Gives up on the zygote, which did not fork this helper in time (spare-workdir.ts). */
  abandonZygote(): void {
    this.owner.abandon();
  }

  /**
   * Execs `command` with `args` and exactly `env`; null when the fields cannot be passed (a NUL
   * in one), or the helper is not forked (yet) or gone: the caller then spawns.
   */
  run(command: string, args: readonly string[], env: Record<string, string>): Launched | null {
    const message = commandMessage(command, args, env);
    if (message === null || this.state !== 'idle') return null;
    if (!this.owner.send('R', message)) {
      this.state = 'gone';
      return null;
    }
    this.state = 'running';
    this.command = command;
    this.owner.awaiting(1);
    const started = new Promise<{ pid: number } | { error: string; helperGone?: boolean }>((resolve) => (this.resolveStarted = resolve));
    const exited = new Promise<Ended>((resolve) => (this.resolveExited = resolve));
    return { started, exited };
  }

  /** Lets the helper exit without running anything. */
  dismiss(): void {
    if (!this.usable()) return;
    this.state = 'gone';
    this.settleReady(false); // its fork is no longer awaited
    this.owner.send('D');
  }

  // ---- the zygote's answers (exec-zygote.ts) ----

  /** F: forked. */
  forked(pid: number): void {
    this.pid = pid;
    if (this.state === 'forking') this.state = 'idle';
    this.settleReady(true);
  }

  /** E: not forked; N: its exec failed (or it had ended when its command came). */
  failed(reason: string): void {
    this.settleReady(false);
    if (this.state === 'running') this.settleStart({ error: `exec ${this.command}: ${reason}` });
    else this.state = 'gone';
  }

  /** X: the command runs. */
  execd(): void {
    if (this.pid !== null) this.settleStart({ pid: this.pid });
  }

  /** G: the helper had ended before its command reached it; nothing ran. */
  endedBeforeCommand(): void {
    this.settleReady(false);
    if (this.state === 'running') this.settleStart({ error: 'the pre-forked helper ended before its command reached it', helperGone: true });
    else this.state = 'gone';
  }

  /** W: the helper, or its command, ended. */
  ended(e: Ended): void {
    this.settleReady(false);
    if (this.state !== 'running') {
      this.state = 'gone';
      return;
    }
    this.endedBeforeCommand(); // no X came: the helper never exec'd
    this.settleExit(e);
  }

  /**
   * The zygote itself is gone: an idle helper is useless; a helper given its command may have
   * exec'd it or not (the answer died with the zygote), so its pid counts as the command's, and
   * its status is lost (runCommand then waits for its process group to end).
   */
  zygoteGone(): void {
    this.settleReady(false);
    if (this.state !== 'running') {
      this.state = 'gone';
      return;
    }
    if (this.pid !== null) this.settleStart({ pid: this.pid });
    else this.settleStart({ error: "the agent's exec zygote ended before the command started" });
    this.settleExit({ code: null, signal: null, lost: true });
  }

  private settleReady(forked: boolean): void {
    const r = this.resolveReady;
    if (r === null) return;
    this.resolveReady = null;
    this.owner.awaiting(-1);
    r(forked);
  }

  private settleStart(v: { pid: number } | { error: string; helperGone?: boolean }): void {
    const r = this.resolveStarted;
    if (r === null) return;
    this.resolveStarted = null;
    r(v);
    if ('error' in v) this.settleExit({ code: null, signal: null });
  }

  private settleExit(e: Ended): void {
    const r = this.resolveExited;
    this.resolveExited = null;
    if (r === null) return;
    this.state = 'gone';
    this.owner.awaiting(-1);
    r(e);
  }
}
