// Put a completely fetched working directory into the destination. rsync fetched it into a
// hidden staging directory inside the destination (same file system), so until rsync has
// finished nothing of it is visible under its own name: a half-fetched result never looks
// complete. Then each top-level entry is renamed into place (atomic per entry), which is the
// deployed `rsync -av HOST:D/ ./`: files replace files of the same name, directories merge.
import { lstatSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LocalPlaceError } from './errors.ts';
import { CONTROL_DIR } from './remote-steps.ts';

/** Staging directory name for one run: hidden, and named by the working directory. */
export function stagingName(uuid: string): string {
  return `.distcomp-fetch-${uuid}`;
}

/** The exit status program C recorded, or undefined when there is none (or it is garbled). */
export function readExitStatus(staging: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(join(staging, CONTROL_DIR, 'exit-status'), 'utf8').trim();
  } catch {
    return undefined;
  }
  if (!/^\d{1,3}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 255 ? n : undefined;
}

function isDir(path: string): boolean | undefined {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return undefined;
  }
}

function mergeInto(from: string, to: string): void {
  for (const name of readdirSync(from)) {
    const source = join(from, name);
    const target = join(to, name);
    const targetIsDir = isDir(target);
    if (isDir(source) && targetIsDir === true) {
      mergeInto(source, target);
      continue;
    }
    // A directory replacing a file, or a file replacing a directory, as rsync does.
    if (targetIsDir === true) rmSync(target, { recursive: true, force: true });
    renameSync(source, target);
  }
}

/**
 * Read the recorded exit status, drop our control directory, and move the rest into
 * `destination`. Returns the exit status (undefined: none recorded).
 */
export function placeResults(staging: string, destination: string): number | undefined {
  const status = readExitStatus(staging);
  try {
    rmSync(join(staging, CONTROL_DIR), { recursive: true, force: true });
    mergeInto(staging, destination);
    rmSync(staging, { recursive: true, force: true });
  } catch (err) {
    throw new LocalPlaceError(`place results: could not move ${staging} into ${destination}: ${(err as Error).message}`, {
      step: 'place results',
      cause: err,
    });
  }
  return status;
}
