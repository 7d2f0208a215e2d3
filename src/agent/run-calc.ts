// Runs one calc's command: without a shell (an argument array; no string from the network is
// ever parsed by a shell), in the calc's working directory, with CALC_DIR set, in its own
// process group (detached), with stdout and stderr going straight from the child to the two
// files (the agent never holds them in memory). An abort kills the whole group: SIGTERM, then
// SIGKILL after a grace period.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, constants as C, openSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { STDERR_FILE, STDOUT_FILE } from '../protocol/calc-info.ts';
import type { Ended, Launched, PreforkedExec } from './prefork-exec.ts';
import { SPARE_OUTPUTS } from './spare-workdir.ts';
import { sleep } from '../client/retry-policy.ts';

export interface RunOptions {
  command: string;
  args: readonly string[];
  workdir: string;
  /** The environment (CALC_DIR is set here). */
  env: Record<string, string>;
  /** Aborting kills the command's process group. */
  killSignal: AbortSignal;
  /** Time between SIGTERM and SIGKILL, ms. */
  killGraceMs: number;
  /** Called once the process exists (to journal its pid). */
  onSpawn?: (pid: number) => void;
  /** The calc's pre-forked helper (prefork-exec.ts), used when it can be. */
  prefork?: PreforkedExec | null;
}

export interface RunResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The agent killed it (second Ctrl+C). */
  killedByAgent: boolean;
  /** The command could not be started (ENOENT, EACCES...). */
  spawnError: string | null;
  /** Its exit status could not be learnt: the exec zygote died while it ran (exec-zygote.ts). */
  statusLost: boolean;
}

/** Gives the spare's empty output file its real name; false when there is none (no inode is made here). */
function takeSpareOutput(workdir: string, name: string): boolean {
  const spare = SPARE_OUTPUTS[name] as string;
  try {
    renameSync(join(workdir, spare), join(workdir, name));
    return true;
  } catch {
    // no spare (a directory made at the claim, or a resumed calc): openOutput() creates the file
    return false;
  }
}

function openOutput(workdir: string, name: string): number {
  return openSync(join(workdir, name), C.O_WRONLY | C.O_CREAT | C.O_TRUNC | C.O_NOFOLLOW | C.O_APPEND, 0o600);
}

/** Removes the spare's output files from a calc whose command will not run. */
export function discardSpareOutputs(workdir: string): void {
  for (const spare of Object.values(SPARE_OUTPUTS)) rmSync(join(workdir, spare), { force: true });
}

/** Appends a line of the agent's own to the calc's stderr file (a reason the workflow side will read). */
export function noteInStderr(workdir: string, text: string): void {
  const fd = openSync(join(workdir, STDERR_FILE), C.O_WRONLY | C.O_CREAT | C.O_APPEND | C.O_NOFOLLOW, 0o600);
  try {
    appendFileSync(fd, text.endsWith('\n') ? text : `${text}\n`);
  } finally {
    closeSync(fd);
  }
}

/** Signals a whole process group; false when it no longer exists. */
export function killGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A spawn()ed command as a Launched one. */
function launchedOf(child: ChildProcess): Launched {
  const started = new Promise<{ pid: number } | { error: string }>((resolve) => {
    child.once('spawn', () => resolve({ pid: child.pid as number }));
    child.once('error', (e) => resolve({ error: e.message }));
  });
  const exited = new Promise<Ended>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { started, exited };
}

/** Starts the command: exec'd by the calc's pre-forked helper when there is one, else spawned. */
function start(o: RunOptions, env: Record<string, string>): Launched {
  const placed = [STDOUT_FILE, STDERR_FILE].map((name) => takeSpareOutput(o.workdir, name));
  // the helper's stdout and stderr are these files already (opened when the spare was made)
  const viaHelper = placed.every(Boolean) ? o.prefork?.run(o.command, o.args, env) ?? null : null;
  if (viaHelper !== null) return viaHelper;
  return spawned(o, env);
}

/** Spawns the command (no helper, or its helper ended before the command reached it). */
function spawned(o: RunOptions, env: Record<string, string>): Launched {
  const out = openOutput(o.workdir, STDOUT_FILE);
  const err = openOutput(o.workdir, STDERR_FILE);
  try {
    const child = spawn(o.command, [...o.args], {
      cwd: o.workdir,
      env,
      stdio: ['ignore', out, err],
      detached: true, // own process group: a terminal's Ctrl+C does not reach it, and we can kill the group
      shell: false,
      windowsHide: true,
    });
    return launchedOf(child);
  } finally {
    closeSync(out);
    closeSync(err);
  }
}

/** Resolves once no process of the group is left (polled: it is not our child). */
async function groupGone(pgid: number): Promise<void> {
  while (groupAlive(pgid)) await sleep(500);
}

export async function runCommand(o: RunOptions): Promise<RunResult> {
  const env = { ...o.env, CALC_DIR: o.workdir };
  let launched = start(o, env);
  let killedByAgent = false;
  let pid: number | undefined;
  let graceTimer: NodeJS.Timeout | null = null;
  const kill = (): void => {
    if (killedByAgent) return;
    killedByAgent = true;
    if (pid === undefined) return; // killed as soon as it runs (below)
    killGroup(pid, 'SIGTERM');
    graceTimer = setTimeout(() => killGroup(pid as number, 'SIGKILL'), o.killGraceMs);
  };
  if (o.killSignal.aborted) killedByAgent = true;
  else o.killSignal.addEventListener('abort', kill, { once: true });
  try {
    let s = await launched.started;
    if ('error' in s && s.helperGone === true) {
      // the pre-forked helper was killed while idle (its end crossed the command on the way)
      launched = spawned(o, env);
      s = await launched.started;
    }
    if ('error' in s) return { exitCode: null, signal: null, killedByAgent, spawnError: s.error, statusLost: false };
    pid = s.pid;
    o.onSpawn?.(pid);
    if (killedByAgent) {
      killedByAgent = false;
      kill();
    }
    const e = await launched.exited;
    // the zygote that reaps it died: its status is lost, but the calc ends only when the command does
    if (e.lost === true) await groupGone(pid);
    return { exitCode: e.code, signal: e.signal, killedByAgent, spawnError: null, statusLost: e.lost === true };
  } finally {
    o.killSignal.removeEventListener('abort', kill);
    if (graceTimer) clearTimeout(graceTimer);
    // after a kill, leave nothing of the group behind
    if (killedByAgent && pid !== undefined) killGroup(pid, 'SIGKILL');
  }
}
