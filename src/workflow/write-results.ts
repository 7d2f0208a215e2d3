// Writes the result files a relay sent into the output directory, and never outside it,
// whatever names come back: the deployed workflow program wrote `../../x` where it pointed.
//
// - a name is checked again by the protocol's rule (relative, no `..`, no NUL...), whatever
//   the relay already checked;
// - each parent directory is created one level at a time, and an existing one must be a real
//   directory (lstat: a symbolic link planted there is never followed);
// - the content goes to a fresh temporary file in the target directory (O_EXCL|O_NOFOLLOW),
//   then is renamed over the name: rename replaces a symbolic link that is already there
//   instead of writing through it, and a reader never sees a half-written file.
import { closeSync, constants, fsyncSync, lstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
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
  const id = randomBytes(8).toString('hex');
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

/** Writes one file safely (see the header); `content` replaces whatever the name held. */
export function writeResultFile(outDir: string, name: string, content: Buffer): void {
  const { dir, target } = resultTarget(outDir, name);
  // not named after the leaf: a 255-byte leaf plus a suffix would exceed NAME_MAX
  const tmp = join(dir, `.distcomp-result-${randomBytes(8).toString('hex')}.tmp`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    for (let off = 0; off < content.length; ) off += writeSync(fd, content, off, content.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { force: true });
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
  for (const [name, f] of Object.entries(files)) {
    const why = unsafeFileNameReason(name);
    if (why !== null) {
      out.refused.push({ name, reason: `the name ${why}` });
      continue;
    }
    const ref = f as unknown as { blob?: unknown; size?: unknown };
    if (download && typeof ref?.blob === 'string' && typeof ref.size === 'number') {
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
      writeResultFile(outDir, name, Buffer.from(f.content, 'base64'));
      out.written.push(name);
    } catch (err) {
      out.refused.push({ name, reason: (err as Error).message });
    }
  }
  return out;
}
