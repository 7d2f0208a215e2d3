// A CommonJS bundle compiled through a V8 code cache kept per user, for the one file every
// `distcomp submit` loads (dist/cli/submit-fast-path.cjs, scripts/build.mjs).
//
// Why: a submit runs once per module run, in a fresh process, and compiling its code (the
// bundle's top level, then each function on its first call) cost ~6-10 ms of its ~45 ms above
// `distcomp --version` on our 2-core machines (e2e bench, paired A/B). Node 20 has no compile
// cache for ES modules (module.enableCompileCache() came with Node 22), but vm.Script takes and
// makes V8 code caches; one made after a whole submit holds every function that submit ran.
//
// Where: `$XDG_CACHE_HOME/distcomp/` (default `~/.cache/distcomp/`), a directory of the user's
// own (mode 700). A code cache is code: one is read only from a directory and a file owned by
// this user that nobody else can write (never from /tmp), and written the same way (a new file,
// then a rename). Its name holds the bundle's size and mtime and Node's version and
// architecture, so a rebuilt or upgraded distcomp never meets an old cache (V8 itself checks
// only the source's length, its own version and its flags, and rejects what does not match);
// other builds' caches are removed once a week old.
// `DISTCOMP_CODE_CACHE=off` turns it off. Any failure costs the speed-up, never the run.
import { closeSync, constants as C, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, isAbsolute, join } from 'node:path';
import type { Script } from 'node:vm';

// node:vm is required here, on first use: `distcomp --version` and the other commands never load it
const requireBuiltin = createRequire(import.meta.url);

export interface CachedBundle<T> {
  exports: T;
  /** Writes the code cache (with every function compiled so far) unless one was used; never throws. */
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

function trustedDir(dir: string): boolean {
  try {
    const st = lstatSync(dir);
    return st.isDirectory() && ownedAlone(st);
  } catch {
    return false;
  }
}

/** The cache's bytes, or undefined (none, or not to be trusted). */
function readCache(dir: string, path: string): Buffer | undefined {
  if (!trustedDir(dir)) return undefined;
  let fd: number;
  try {
    fd = openSync(path, C.O_RDONLY | C.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd);
    return st.isFile() && ownedAlone(st) ? readFileSync(fd) : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function writeCache(dir: string, path: string, data: Buffer, stalePrefix: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!trustedDir(dir)) return;
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
  try {
    for (let off = 0; off < data.length;) off += writeSync(fd, data, off, data.length - off);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  // other builds' (or Node versions') caches of the bundle, once unwritten for a week: not at
  // once, so that two installations used by one user do not remove each other's at every run
  const before = Date.now() - STALE_AFTER_MS;
  for (const name of readdirSync(dir)) {
    const other = join(dir, name);
    if (!name.startsWith(stalePrefix) || !name.endsWith('.v8cache') || other === path) continue;
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
  const st = statSync(file);
  const prefix = `${basename(file)}-`;
  const cachePath = dir === null ? null : join(dir, `${prefix}${st.size}-${Math.trunc(st.mtimeMs)}-${process.version}-${process.arch}.v8cache`);
  const cachedData = dir !== null && cachePath !== null ? readCache(dir, cachePath) : undefined;
  const source = readFileSync(file, 'utf8');
  const script: Script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
  const used = cachedData !== undefined && !script.cachedDataRejected;
  const module = { exports: {} as T };
  (script.runInThisContext() as (...a: unknown[]) => void).call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
  return {
    exports: module.exports,
    save(): void {
      if (used || dir === null || cachePath === null) return;
      try {
        writeCache(dir, cachePath, script.createCachedData(), prefix);
      } catch {
        // a read-only or full home: no cache, as before
      }
    },
  };
}
