// A working directory made ahead, while the agent waits in its long poll, and renamed into place
// (`<calc_base>/<accept_id>`) when a calc is claimed. It holds the empty journal and the two
// output files under reserved names, so that between the claim and the command's start the agent
// creates no inode: on this VM's ext4 a mkdir or a file creation costs 0.1-1 ms of kernel time
// each (measured: mkdir p50 0.15 ms, p90 0.32; a file 0.09 / 0.24; far more while other
// processes write), a rename within one directory 0.02-0.03 ms.
//
// The rename never replaces anything but an empty directory of ours: a symlink, a file, a
// non-empty directory or another user's directory in the way makes it fail, and the claim then
// goes through createWorkdir(), which judges what is there exactly as before.
//
// With the spare comes its pre-forked helper (prefork-exec.ts), asked of the agent's exec zygote
// (exec-zygote.ts): a process already in the spare, writing to its output files, that becomes
// the command at the start.
import { closeSync, constants as C, lstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { STDERR_FILE, STDOUT_FILE } from '../protocol/calc-info.ts';
import { JOURNAL_FILE } from './journal.ts';
import type { ZygoteSupply } from './exec-zygote.ts';
import type { PreforkedExec } from './prefork-exec.ts';

/**
 * The output files as the spare holds them, named like the journal's own files (an input file
 * can never take such a name: workdir.ts refuses it), renamed to their real names just before
 * the command starts (run-calc.ts), so a calc whose command never runs has no output files.
 */
export const SPARE_OUTPUTS: Readonly<Record<string, string>> = {
  [STDOUT_FILE]: `${JOURNAL_FILE}.spare-stdout`,
  [STDERR_FILE]: `${JOURNAL_FILE}.spare-stderr`,
};

const PREFIX = '.distcomp-spare-';

/** Creates an empty file (never through a symlink, never over anything). */
function createEmpty(path: string): void {
  closeSync(openSync(path, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW | C.O_APPEND, 0o600));
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One worker's spare: `<calc_base>/.distcomp-spare-<pid>-<worker>`. */
export class SpareWorkdir {
  readonly path: string;
  private ready = false;
  private prefork: PreforkedExec | null = null;
  private later: NodeJS.Timeout | null = null;

  /** `zygotes`: where the helpers come from; null for a spare without one (the command is spawned). */
  constructor(calcBase: string, worker: number, private readonly zygotes: ZygoteSupply | null) {
    this.path = join(calcBase, `${PREFIX}${process.pid}-${worker}`);
  }

  /** Whether it is made (its helper may still be on its way: settled()). */
  get isReady(): boolean {
    return this.ready;
  }

  /** Makes the spare in `ms` (at once when 0), unless fill() makes it first. */
  fillAfter(ms: number): void {
    if (this.ready || this.later !== null) return;
    if (ms <= 0) return this.fill();
    this.later = setTimeout(() => this.fill(), ms);
    this.later.unref();
  }

  /** Makes the spare if none is ready. Never throws: without a spare the claim makes the directory itself. */
  fill(): void {
    this.cancelLater();
    if (this.ready) return;
    try {
      this.prefork?.dismiss();
      this.prefork = null;
      rmSync(this.path, { recursive: true, force: true }); // the remains of a failed fill
      mkdirSync(this.path, { mode: 0o700 });
      createEmpty(join(this.path, JOURNAL_FILE));
      const [out, err] = [STDOUT_FILE, STDERR_FILE].map((name) => join(this.path, SPARE_OUTPUTS[name] as string)) as [string, string];
      createEmpty(out);
      createEmpty(err);
      this.prefork = this.zygotes?.get()?.prefork(this.path, out, err) ?? null;
      this.ready = true;
    } catch {
      // a full disk or a calc_base we cannot write to: the claim will say so
    }
  }

  /**
   * Resolves once the spare's helper is forked (or failed to be): from then on the spare may be
   * renamed. Normally at once: the zygote answers within a millisecond of fill(). A zygote that
   * does not answer within `settleMs` (stopped, or starved of CPU) costs the spare its helper,
   * not the calc: the command is then spawned, and that zygote is killed (a new one is started
   * for a later spare), so that it cannot hold up every claim after this one.
   */
  async settled(settleMs = 2000): Promise<void> {
    const helper = this.prefork;
    if (helper === null) return;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), settleMs)));
    const r = await Promise.race([helper.ready, late]);
    clearTimeout(timer);
    if (r === 'late' && this.prefork === helper) {
      // a zygote this slow is given up (killed): the next spare gets a new one
      helper.abandonZygote();
      helper.dismiss();
      this.prefork = null;
    }
  }

  /**
   * Renames the spare to `workdir` and hands over its helper (null when there is none); false
   * when no spare is ready or the rename failed (see the top).
   */
  take(workdir: string): { prefork: PreforkedExec | null } | false {
    if (!this.ready) return false;
    this.ready = false;
    try {
      renameSync(this.path, workdir);
    } catch {
      return false;
    }
    const prefork = this.prefork;
    this.prefork = null;
    return { prefork };
  }

  private cancelLater(): void {
    if (this.later !== null) clearTimeout(this.later);
    this.later = null;
  }

  /** Removes the spare (at the agent's end). */
  dispose(): void {
    this.cancelLater();
    this.ready = false;
    this.prefork?.dismiss();
    this.prefork = null;
    try {
      rmSync(this.path, { recursive: true, force: true });
    } catch {
      // nothing to do
    }
  }
}

/**
 * A worker's two spares. One is used per calc, and the one used is made again only
 * `refillMs` after the calc ended (fill() with `afterCalc`): the calc's results are being handed
 * over then (the relay answers the workflow side's wait, which writes its files and exits), and
 * a spare's directory, files and forked helper took the two cores from that hand-over on our
 * machines (`distcomp submit` ~6 ms slower in the e2e bench, A/B in both orders). The other
 * spare is ready for a calc that comes in the meantime (queued calcs, a workflow submitting one
 * after another): made at its claim instead, a spare cost that calc ~10 ms in the agent bench.
 */
export class WorkerSpares {
  private readonly spares: [SpareWorkdir, SpareWorkdir];

  /** Spares `<calc_base>/.distcomp-spare-<pid>-<2 worker>` and `-<2 worker + 1>`. */
  constructor(calcBase: string, worker: number, zygotes: ZygoteSupply | null) {
    this.spares = [new SpareWorkdir(calcBase, 2 * worker, zygotes), new SpareWorkdir(calcBase, 2 * worker + 1, zygotes)];
  }

  /** Makes the spares that are not ready: at once, or `refillMs` from now right after a calc. */
  fill(afterCalc: boolean, refillMs: number): void {
    for (const s of this.spares) s.fillAfter(afterCalc ? refillMs : 0);
  }

  /** The spare for a claimed calc: a ready one, else one made now; its helper settled. */
  async forClaim(): Promise<SpareWorkdir> {
    const spare = this.spares.find((s) => s.isReady) ?? this.spares[0];
    spare.fill();
    await spare.settled();
    return spare;
  }

  dispose(): void {
    for (const s of this.spares) s.dispose();
  }
}

/**
 * Removes spares that agents killed with kill -9 left behind: real directories of ours named for
 * a process that no longer runs (they hold only the empty files above).
 */
export function removeStaleSpares(calcBase: string): void {
  let names: string[];
  try {
    names = readdirSync(calcBase);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^\.distcomp-spare-(\d+)-\d+$/.exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    const path = join(calcBase, name);
    try {
      const st = lstatSync(path);
      if (!st.isDirectory() || (typeof process.getuid === 'function' && st.uid !== process.getuid())) continue;
      rmSync(path, { recursive: true, force: true });
    } catch {
      // gone meanwhile
    }
  }
}
