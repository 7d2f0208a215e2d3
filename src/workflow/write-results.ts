// Writes the result files a relay sent into the output directory, and never outside it,
// whatever names come back: the deployed workflow program wrote `../../x` where it pointed.
//
// - a name is checked again by the protocol's rule (relative, no `..`, no NUL...), whatever
//   the relay already checked;
// - each parent directory is created one level at a time, and an existing one must be a real
//   directory (lstat: a symbolic link planted there is never followed);
// - the content goes to a fresh temporary file in the target directory (O_EXCL|O_NOFOLLOW;
//   a name already taken, even planted, only makes us pick another), then is renamed over the
//   name: rename replaces a symbolic link that is already there
//   instead of writing through it, and a reader never sees a half-written file.
// - each file is fsync'ed before its rename, so that a crash cannot leave the new name on
//   empty or partial content; the files of one answer are synced together (up to
//   SYNC_BATCH at once, on libuv's thread pool) instead of one after the other: each fsync
//   took 1-5 ms on our test machines. An empty file has no data to lose: it is not synced.
import { close, closeSync, constants, fsync, lstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { ResultFilesWire } from '../client/relay-client.ts';
import { showName, unsafeFileNameReason } from '../protocol/file-names.ts';

export interface WriteOutcome {
  /** Names written, relative to the output directory. */
  written: string[];
  /** Requested files the external computer did not send (mimetype1 `Error`), with its message. */
  missing: { name: string; message: string }[];
  /** Names refused or that could not be written, with why. */
  refused: { name: string; reason: string }[];
}

function isDirNoFollow(p: string): 'dir' | 'missing' | 'other' {
  try {
    return lstatSync(p).isDirectory() ? 'dir' : 'other';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw err;
  }
}

/** Makes `outDir/<segments...>` one level at a time; refuses anything but real directories. */
function ensureDirs(outDir: string, segments: readonly string[]): string {
  let dir = outDir;
  for (const s of segments) {
    dir = join(dir, s);
    const kind = isDirNoFollow(dir);
    if (kind === 'other') throw new Error(`${showName(dir)} exists and is not a directory (a symbolic link is never followed)`);
    if (kind === 'missing') {
      try {
        mkdirSync(dir, { mode: 0o755 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      if (isDirNoFollow(dir) !== 'dir') throw new Error(`${showName(dir)} changed under us and is not a directory`);
    }
  }
  return dir;
}

/**
 * A name for a temporary file opened with O_EXCL|O_NOFOLLOW, which makes it safe whatever its
 * randomness: Math.random() does, where node:crypto's randomBytes cost 5-10 ms of CPU to load
 * here, in every submit.
 */
function tmpName(dir: string, suffix: string): string {
  const r = Math.floor(Math.random() * 2 ** 48).toString(16).padStart(12, '0');
  return join(dir, `.distcomp-result-${process.pid.toString(16)}-${r}${suffix}`);
}

const requireBuiltin = createRequire(import.meta.url);

/** How many taken temporary names in a row make us give up (someone is planting them). */
const TMP_TRIES = 8;

/** The directory a result goes into (made safely) and its final path. */
function resultTarget(outDir: string, name: string): { dir: string; target: string } {
  const why = unsafeFileNameReason(name);
  if (why !== null) throw new Error(`the name ${why}`);
  const segments = name.split('/');
  const leaf = segments.pop() as string;
  const dir = ensureDirs(outDir, segments);
  const target = join(dir, leaf);
  if (isDirNoFollow(target) === 'dir') throw new Error(`${showName(target)} is a directory`);
  return { dir, target };
}

/**
 * Writes one streamed result safely: `fetch` fills a temporary file (created by it) in the
 * right directory, which then replaces whatever the name held, by rename.
 */
export async function writeResultStream(outDir: string, name: string, fetch: (tmpPath: string, partPath: string) => Promise<void>): Promise<void> {
  const { dir, target } = resultTarget(outDir, name);
  // the fetch may open these without O_EXCL (appending to a part file across breaks): names
  // nobody can guess, from node:crypto, which a streamed (>= 1 MiB) result loads anyway
  const id = (requireBuiltin('node:crypto') as typeof import('node:crypto')).randomBytes(8).toString('hex');
  const tmp = join(dir, `.distcomp-result-${id}.tmp`);
  const part = join(dir, `.distcomp-result-${id}.part`);
  try {
    await fetch(tmp, part);
    renameSync(tmp, target);
  } finally {
    rmSync(tmp, { force: true });
    rmSync(part, { force: true });
  }
}

/** How many written files are synced at once (each holds a descriptor until renamed). */
const SYNC_BATCH = 16;

/** A result written to its temporary file, not yet synced nor renamed. */
interface Staged {
  tmp: string;
  target: string;
  fd: number;
  size: number;
}

/** Writes `content` to a fresh temporary file beside the name (see the header). */
function stageResultFile(outDir: string, name: string, content: Buffer): Staged {
  const { dir, target } = resultTarget(outDir, name);
  // not named after the leaf: a 255-byte leaf plus a suffix would exceed NAME_MAX
  let tmp = tmpName(dir, '.tmp');
  let fd = -1;
  for (let tries = 1; fd < 0; tries++) {
    try {
      fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || tries >= TMP_TRIES) throw err;
      tmp = tmpName(dir, '.tmp');
    }
  }
  try {
    for (let off = 0; off < content.length; ) off += writeSync(fd, content, off, content.length - off);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  return { tmp, target, fd, size: content.length };
}

/**
 * Syncs (unless empty), closes and renames a staged file over its name; removes it on failure.
 * An empty file is closed and renamed at once: nothing goes to the thread pool, whose first
 * use starts its threads (a calc's empty stdout and stderr are the common case).
 */
async function commitResultFile(s: Staged): Promise<void> {
  try {
    if (s.size === 0) closeSync(s.fd);
    else {
      try {
        await new Promise<void>((resolve, reject) => fsync(s.fd, (err) => (err ? reject(err) : resolve())));
      } finally {
        await new Promise<void>((resolve) => close(s.fd, () => resolve()));
      }
    }
    renameSync(s.tmp, s.target);
  } catch (err) {
    rmSync(s.tmp, { force: true });
    throw err;
  }
}

/**
 * Writes every sent file into `outDir` (created if missing); never throws for one bad file.
 * Entries that are blob references (`{blob, size}`) are fetched with `download`.
 */
export async function writeResults(outDir: string, files: ResultFilesWire, download?: (ref: { sha256: string; size: number }, tmpPath: string, partPath: string) => Promise<void>): Promise<WriteOutcome> {
  mkdirSync(outDir, { recursive: true });
  const out: WriteOutcome = { written: [], missing: [], refused: [] };
  // files written but not yet synced and renamed: committed together, in the order sent
  let staged: { name: string; s: Staged }[] = [];
  const commitStaged = async (): Promise<void> => {
    const done = await Promise.allSettled(staged.map(({ s }) => commitResultFile(s)));
    done.forEach((d, i) => {
      const { name } = staged[i] as { name: string };
      if (d.status === 'fulfilled') out.written.push(name);
      else out.refused.push({ name, reason: (d.reason as Error).message });
    });
    staged = [];
  };
  for (const [name, f] of Object.entries(files)) {
    const why = unsafeFileNameReason(name);
    if (why !== null) {
      out.refused.push({ name, reason: `the name ${why}` });
      continue;
    }
    const ref = f as unknown as { blob?: unknown; size?: unknown };
    if (download && typeof ref?.blob === 'string' && typeof ref.size === 'number') {
      await commitStaged(); // keeps `written` in the order sent
      try {
        await writeResultStream(outDir, name, (tmp, part) => download({ sha256: ref.blob as string, size: ref.size as number }, tmp, part));
        out.written.push(name);
      } catch (err) {
        out.refused.push({ name, reason: (err as Error).message });
      }
      continue;
    }
    if (typeof f !== 'object' || f === null || typeof f.content !== 'string') {
      out.refused.push({ name, reason: 'the relay sent no {content, mimetype1, mimetype2} for it' });
      continue;
    }
    if (f.mimetype1 === 'Error') {
      out.missing.push({ name, message: typeof f.mimetype2 === 'string' ? f.mimetype2 : '' });
      continue;
    }
    try {
      staged.push({ name, s: stageResultFile(outDir, name, Buffer.from(f.content, 'base64')) });
    } catch (err) {
      await commitStaged(); // keeps `refused` and `written` in the order sent
      out.refused.push({ name, reason: (err as Error).message });
    }
    if (staged.length >= SYNC_BATCH) await commitStaged();
  }
  await commitStaged();
  return out;
}
