// A calc's working directory `<calc_base>/<accept_id>`: made private (0700), filled with the
// input files without ever following a symlink, and removed by the administrator's retention
// rule. The accept_id comes from the network, so it must be a UUID before it becomes a path.
import { closeSync, constants as C, lstatSync, mkdirSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { unsafeFileNameReason } from '../protocol/file-names.ts';
import { isFinished, JOURNAL_FILE, scanJournals, UUID_RE } from './journal.ts';

export class WorkdirError extends Error {
  override readonly name = 'WorkdirError';
}

/** `<calc_base>/<accept_id>`, refusing an accept_id that is not a UUID. */
export function workdirPath(calcBase: string, acceptId: string): string {
  if (!UUID_RE.test(acceptId)) throw new WorkdirError(`the relay sent an accept_id that is not a UUID: ${JSON.stringify(acceptId.slice(0, 80))}`);
  return join(calcBase, acceptId.toLowerCase());
}

/** Creates the working directory (or accepts an existing one that is ours and not a symlink). */
export function createWorkdir(path: string): void {
  try {
    mkdirSync(path, { mode: 0o700 });
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new WorkdirError(`cannot create ${path}: ${(err as Error).message}`, { cause: err });
  }
  const st = lstatSync(path);
  if (!st.isDirectory()) throw new WorkdirError(`${path} exists and is not a directory (a symlink or a file): refusing to use it`);
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) throw new WorkdirError(`${path} exists and belongs to another user: refusing to use it`);
}

/**
 * `dir/a/b/name` for a checked relative name, creating the directories between, and refusing
 * any of them that exists as something else than a real directory.
 */
function safeParent(workdir: string, name: string): string {
  const segs = name.split('/');
  let dir = workdir;
  for (const s of segs.slice(0, -1)) {
    dir = join(dir, s);
    try {
      const st = lstatSync(dir);
      if (!st.isDirectory()) throw new WorkdirError(`${name}: ${s} is not a directory (or is a symlink)`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      mkdirSync(dir, { mode: 0o700 });
    }
  }
  return join(dir, segs[segs.length - 1] as string);
}

/** Where an input file goes (parent directories made safely). Throws WorkdirError for a name that could leave the directory. */
export function inputFilePath(workdir: string, name: string): string {
  const why = unsafeFileNameReason(name);
  if (why !== null) throw new WorkdirError(`input file name ${JSON.stringify(name)} ${why}`);
  if (name === JOURNAL_FILE || name.startsWith(`${JOURNAL_FILE}.`)) throw new WorkdirError(`input file name ${name} is reserved for the agent's journal`);
  return safeParent(workdir, name);
}

/** Where a download in progress is kept: beside the journal, never under an input's name. */
export function partFilePath(workdir: string, sha256: string): string {
  return join(workdir, `${JOURNAL_FILE}.part-${sha256}`);
}

/** Writes one input file. Throws WorkdirError for a name that could leave the directory. */
export function writeInputFile(workdir: string, name: string, content: Buffer): void {
  const path = inputFilePath(workdir, name);
  const fd = openSync(path, C.O_WRONLY | C.O_CREAT | C.O_TRUNC | C.O_NOFOLLOW, 0o600);
  try {
    let off = 0;
    while (off < content.length) off += writeSync(fd, content, off, content.length - off);
  } finally {
    closeSync(fd);
  }
}

/** Removes a working directory (never following symlinks inside it). */
export function removeWorkdir(path: string): void {
  rmSync(path, { recursive: true, force: true });
}

/**
 * The administrator's `keep_days`: removes working directories of finished calcs (journal
 * `done` or `abandoned`) last changed more than `days` ago. Never touches a directory without
 * our journal. Returns the removed paths.
 */
export function pruneWorkdirs(calcBase: string, days: number, now = Date.now()): string[] {
  const removed: string[] = [];
  for (const { workdir, journal } of scanJournals(calcBase)) {
    if (!isFinished(journal)) continue;
    const last = Date.parse(journal.history[journal.history.length - 1]?.at ?? '');
    const mtime = statSync(workdir).mtimeMs;
    const finishedAt = Number.isNaN(last) ? mtime : Math.max(last, mtime);
    if (now - finishedAt > days * 86_400_000) {
      removeWorkdir(workdir);
      removed.push(workdir);
    }
  }
  return removed;
}
