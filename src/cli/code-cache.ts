// A CommonJS bundle compiled through a V8 code cache kept per user, for the bundles that every
// `distcomp submit` and `distcomp ssh` loads (dist/cli/*-fast-path.cjs, scripts/build.mjs).
//
// Why: a submit runs once per module run, in a fresh process, and compiling its code (the
// bundle's top level, then each function on its first call) cost ~6-10 ms of its ~45 ms above
// `distcomp --version` on our 2-core machines (e2e bench, paired A/B). Node 20 has no compile
// cache for ES modules (module.enableCompileCache() came with Node 22), but vm.Script takes and
// makes V8 code caches; one made after a whole run holds every function that run compiled.
//
// Where: `$XDG_CACHE_HOME/distcomp/` (default `~/.cache/distcomp/`), a directory of the user's
// own (mode 700). A code cache is code: one is read only from a file owned by this user that
// nobody else can write, in such a directory whose parent is such a directory too (so nobody else
// can swap either; never /tmp), and written the same way (a new file, then a rename). Nothing is
// created where the first existing directory on the way is not this user's alone (root with
// another user's HOME: no cache). The name holds the bundle's size, inode, ctime and mtime (read
// from the descriptor the source is read from) and Node's version and architecture, so a rebuilt,
// reinstalled or upgraded distcomp never meets an old cache: V8 itself checks only the source's
// length, its own version and its flags, and would run old code for a new source of the same
// length (a tarball's files all carry one mtime; ctime is set by the file system). A cache used
// is touched; other caches of the bundle and leftover temporary files go once unused for a week.
// `DISTCOMP_CODE_CACHE=off` turns it off. Any failure costs the speed-up, never the run. Nothing
// is fsynced: a cache cut by a power loss is rejected by V8 (its checksum) and made again.
import { closeSync, constants as C, existsSync, fstatSync, futimesSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, isAbsolute, join } from 'node:path';
import type { Script } from 'node:vm';

// node:vm is required here, on first use: `distcomp --version` and the other commands never load it
const requireBuiltin = createRequire(import.meta.url);

export interface CachedBundle<T> {
  exports: T;
  /** Writes the code cache (with every function compiled so far), or marks the one used as used now; never throws. */
  save(): void;
}

/** The code cache directory, or null when turned off or no home is known. */
export function codeCacheDir(env: NodeJS.ProcessEnv): string | null {
  if (env['DISTCOMP_CODE_CACHE'] === 'off') return null;
  const xdg = env['XDG_CACHE_HOME'];
  if (xdg !== undefined && isAbsolute(xdg)) return join(xdg, 'distcomp');
  const home = env['HOME'];
  return home !== undefined && isAbsolute(home) ? join(home, '.cache', 'distcomp') : null;
}

const uid = typeof process.getuid === 'function' ? process.getuid() : -1;

/** Ours alone: owned by this user, writable by nobody else. */
function ownedAlone(st: { uid: number; mode: number }): boolean {
  return st.uid === uid && (st.mode & 0o022) === 0;
}

function isOwnedDir(dir: string): boolean {
  try {
    const st = lstatSync(dir);
    return st.isDirectory() && ownedAlone(st);
  } catch {
    return false;
  }
}

/** The cache directory and its parent are this user's alone (nobody else can swap them). */
function trustedDir(dir: string): boolean {
  return isOwnedDir(dir) && isOwnedDir(dirname(dir));
}

/** Makes the cache directory, only below a first existing directory that is this user's alone. */
function makeDir(dir: string): void {
  let existing = dir;
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  if (existing !== dir && !isOwnedDir(existing)) return;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/** The cache's open descriptor (the caller closes it), or null (none, or not to be trusted). */
function openCache(dir: string, path: string): number | null {
  if (!trustedDir(dir)) return null;
  let fd: number;
  try {
    fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW);
  } catch {
    return null;
  }
  try {
    const st = fstatSync(fd);
    if (st.isFile() && ownedAlone(st)) return fd;
  } catch {
    // as if there were none
  }
  closeSync(fd);
  return null;
}

function writeCache(dir: string, path: string, data: Buffer, prefix: string): void {
  makeDir(dir);
  if (!trustedDir(dir)) return;
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
  try {
    for (let off = 0; off < data.length;) off += writeSync(fd, data, off, data.length - off);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  // other caches of the bundle (earlier builds, other installations, Node versions) and temporary
  // files of killed runs, once unused for a week: not at once, so that two installations used by
  // one user do not remove each other's at every run (a cache used is touched)
  const before = Date.now() - STALE_AFTER_MS;
  for (const name of readdirSync(dir)) {
    const other = join(dir, name);
    if (!name.startsWith(prefix) || !(name.endsWith('.v8cache') || name.endsWith('.tmp')) || other === path) continue;
    if (lstatSync(other).mtimeMs < before) rmSync(other, { force: true });
  }
}

const STALE_AFTER_MS = 7 * 24 * 3600 * 1000;

/**
 * Runs a CommonJS bundle (exports, require, module, __filename, __dirname, as Node would) compiled
 * with the user's code cache for it when there is a good one.
 */
export function loadWithCodeCache<T>(file: string, env: NodeJS.ProcessEnv = process.env): CachedBundle<T> {
  const vm = requireBuiltin('node:vm') as typeof import('node:vm');
  const dir = codeCacheDir(env);
  // the name and the source from one descriptor: a file replaced meanwhile cannot pair them wrongly
  const sourceFd = openSync(file, C.O_RDONLY);
  let source: string;
  let cachePath: string | null = null;
  const prefix = `${basename(file)}-`;
  try {
    const st = fstatSync(sourceFd);
    if (dir !== null) cachePath = join(dir, `${prefix}${st.size}-${st.ino}-${Math.trunc(st.ctimeMs)}-${Math.trunc(st.mtimeMs)}-${process.version}-${process.arch}.v8cache`);
    source = readFileSync(sourceFd, 'utf8');
  } finally {
    closeSync(sourceFd);
  }
  const cacheFd = dir !== null && cachePath !== null ? openCache(dir, cachePath) : null;
  let cachedData: Buffer | undefined;
  try {
    if (cacheFd !== null) cachedData = readFileSync(cacheFd);
  } catch {
    // as if there were none
  }
  const script: Script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
  // the cache V8 took stays open until save() marks it used; any other is closed now
  let usedFd = cachedData !== undefined && !script.cachedDataRejected ? cacheFd : null;
  if (cacheFd !== null && usedFd === null) closeSync(cacheFd);
  const module = { exports: {} as T };
  (script.runInThisContext() as (...a: unknown[]) => void).call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  return {
    exports: module.exports,
    save(): void {
      if (dir === null || cachePath === null) return;
      try {
        // a cache used is marked used now (its mtime), so that no other installation's run removes it
        if (usedFd !== null) futimesSync(usedFd, new Date(), new Date());
        else writeCache(dir, cachePath, script.createCachedData(), prefix);
      } catch {
        // a read-only or full home: no cache, as before
      } finally {
        if (usedFd !== null) closeSync(usedFd);
        usedFd = null;
      }
    },
  };
}
