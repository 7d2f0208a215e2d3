// A process forked while the agent is idle, which at the calc's start replaces itself (exec) with
// the command, so that no fork lies between calc-start's answer and the command.
//
// Why: Node's spawn() forks the agent's ~55 MiB process and waits until the child has exec'd.
// Measured here from spawn() to /bin/date running: 2.0-2.4 ms p50 on a quiet machine, 9.2 ms p50
// (p90 31) while two other processes keep both cores busy; from "go" to a pre-forked helper's
// exec to /bin/date running: 1.35-1.6 ms quiet, 1.7 ms (p90 9.3) busy.
//
// Node 20 cannot exec, so the helper is the system's perl (`/usr/bin/perl`, with an empty
// environment so that no PERL5OPT/PERL5LIB applies), running the few lines below. It gets the
// command, its arguments and its environment as NUL-terminated fields on its stdin and calls
// exec with the list form and the program named apart (`exec { $file } @argv`), which never
// involves a shell. The message starts with its length, so one cut short runs nothing. Its stdout and stderr are the calc's output files, its working directory the
// spare directory that becomes the calc's (spare-workdir.ts), and it leads its own process group
// (detached), so the command is where a spawn() would have put it. A failed exec is reported on
// fd 3, which an exec that succeeds closes. When perl is missing, or a field holds a NUL, the
// agent spawns as before (run-calc.ts). When the agent dies, the helper reads end-of-file and
// exits without running anything.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';

const PERL = '/usr/bin/perl';

export const HELPER_SCRIPT = [
  // no modules: perl then starts in 1.6 ms of CPU instead of 4.1 with strict and Fcntl
  // (F_SETFD = 2, FD_CLOEXEC = 1 on Linux and the BSDs)
  'open(my $st, ">&=", 3) or exit 126; fcntl($st, 2, 1) or exit 126;',
  'binmode STDIN; local $/; my $m = <STDIN>;',
  // dismissed (nothing), or a message cut short by the agent's death: nothing runs
  'exit 0 unless defined $m; my ($len, $body) = split /\\0/, $m, 2;',
  'exit 0 unless defined $body && $len =~ /^[0-9]+$/ && length($body) == $len;',
  'my @f = split /\\0/, $body, -1; pop @f;',
  'my $n = shift @f; my @argv = splice(@f, 0, $n);',
  '%ENV = (); for my $kv (@f) { my ($k, $v) = split /=/, $kv, 2; $ENV{$k} = $v; }',
  'exec { $argv[0] } @argv;',
  'syswrite($st, "$!"); exit 127;',
].join(' ');

const available = existsSync(PERL);

/** The helper's stdin and status pipe (net.Socket at run time). */
function pipesOf(child: ChildProcess): Socket[] {
  return [child.stdin, child.stdio[3]].filter((s): s is Socket => s instanceof Socket);
}

export interface StartedCommand {
  child: ChildProcess;
  pid: number;
  /** Resolves with null once the exec succeeded, or with the reason it failed. */
  exec: Promise<string | null>;
}

export class PreforkedExec {
  private constructor(private readonly child: ChildProcess, private readonly pid: number) {}

  /**
   * Forks a helper whose stdout/stderr are the given open files (closed here) and whose working
   * directory is `cwd`; null when this computer has no perl or the fork fails.
   */
  static start(cwd: string, stdoutFd: number, stderrFd: number): PreforkedExec | null {
    if (!available) {
      closeSync(stdoutFd);
      closeSync(stderrFd);
      return null;
    }
    let child: ChildProcess;
    try {
      child = spawn(PERL, ['-e', HELPER_SCRIPT], { cwd, env: {}, stdio: ['pipe', stdoutFd, stderrFd, 'pipe'], detached: true, shell: false });
    } catch {
      return null;
    } finally {
      closeSync(stdoutFd);
      closeSync(stderrFd);
    }
    if (child.pid === undefined) return null;
    child.on('error', () => {}); // a helper that failed is simply not used (usable() says so)
    child.stdin?.on('error', () => {});
    // an idle helper must not keep the agent alive: its process and pipes count again once it runs a command
    child.unref();
    for (const s of pipesOf(child)) s.unref();
    return new PreforkedExec(child, child.pid);
  }

  /** Whether the helper is still waiting for its command. */
  usable(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && this.child.stdin !== null && this.child.stdin.writable;
  }

  /**
   * Execs `command` with `args` and exactly `env`; null when the fields cannot be passed (a NUL
   * in one; spawn() then refuses them as before) or the helper is gone.
   */
  run(command: string, args: readonly string[], env: Record<string, string>): StartedCommand | null {
    const fields = [String(args.length + 1), command, ...args, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)];
    if (!this.usable() || fields.some((f) => f.includes('\0')) || Object.keys(env).some((k) => k.includes('='))) return null;
    const child = this.child;
    child.ref();
    for (const s of pipesOf(child)) s.ref();
    const status = child.stdio[3] as Readable;
    const exec = new Promise<string | null>((resolve) => {
      let why = '';
      status.setEncoding('utf8');
      status.on('data', (d: string) => (why += d));
      status.once('close', () => resolve(why === '' ? null : `exec ${command}: ${why}`));
      status.once('error', () => resolve(null));
    });
    const body = Buffer.from(fields.map((f) => `${f}\0`).join(''));
    // the byte length first: a message cut short (the agent killed while writing) runs nothing
    child.stdin?.end(Buffer.concat([Buffer.from(`${body.length}\0`), body]));
    return { child, pid: this.pid, exec };
  }

  /** Lets the helper exit without running anything. */
  dismiss(): void {
    if (this.usable()) this.child.stdin?.end();
  }
}
