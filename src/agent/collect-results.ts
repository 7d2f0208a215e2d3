// Which result files leave this computer, and how they are read: only names the workflow
// side asked for, only names that stay inside the working directory (the protocol's rule,
// applied again whatever the relay sent), only names the administrator's patterns allow, only
// regular files within the size limit, and never through a symlink (each directory on the
// way is lstat'ed, the file itself is opened with O_NOFOLLOW and checked with fstat).
import { closeSync, constants as C, createReadStream, fstatSync, lstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { STDERR_FILE, STDOUT_FILE, missingResultEntry } from '../protocol/calc-info.ts';
import { unsafeFileNameReason } from '../protocol/file-names.ts';
import type { ResultUpload } from '../client/result-upload.ts';
import { resultNameRefusal, type AgentRules } from './agent-rules.ts';
import { JOURNAL_FILE } from './journal.ts';

export interface CollectedFile {
  name: string;
  size: number;
  mimetype1: string;
  mimetype2: string;
}

export interface Collection {
  /** Requested files that exist and may leave. */
  files: CollectedFile[];
  /** Requested files that do not exist. */
  missing: string[];
  /** Requested files that exist but may not leave (or whose name is unsafe), with why. */
  refused: { name: string; reason: string }[];
  /** At least one requested file other than stdout/stderr will be delivered (or none other was requested). */
  deliversRequested: boolean;
}

type Opened = { fd: number; size: number } | { missing: true } | { refused: string };

/** Opens `<workdir>/<name>` for reading without following any symlink on the way. */
export function openResultFile(workdir: string, name: string, maxBytes: number): Opened {
  const why = unsafeFileNameReason(name);
  if (why !== null) return { refused: `its name ${why}` };
  const segs = name.split('/');
  let dir = workdir;
  for (const s of segs.slice(0, -1)) {
    dir = join(dir, s);
    let st;
    try {
      st = lstatSync(dir);
    } catch {
      return { missing: true };
    }
    if (st.isSymbolicLink()) return { refused: `${s} on its path is a symbolic link` };
    if (!st.isDirectory()) return { missing: true };
  }
  let fd: number;
  try {
    fd = openSync(join(workdir, name), C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK | C.O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { missing: true };
    if (code === 'ELOOP') return { refused: 'it is a symbolic link' };
    return { refused: `it cannot be read (${code ?? (err as Error).message})` };
  }
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    return { refused: 'it is not a regular file' };
  }
  if (st.size > maxBytes) {
    closeSync(fd);
    return { refused: `it is ${st.size} bytes, larger than this computer's limit of ${maxBytes} bytes (result_files.max_bytes)` };
  }
  return { fd, size: st.size };
}

/** The two MIME strings as `file -i -b` would print them, for the common cases. */
export function detectMime(fd: number, size: number): { mimetype1: string; mimetype2: string } {
  if (size === 0) return { mimetype1: 'inode/x-empty;', mimetype2: 'charset=binary' };
  const buf = Buffer.alloc(Math.min(size, 65536));
  const n = readSync(fd, buf, 0, buf.length, 0);
  const head = buf.subarray(0, n);
  if (head.includes(0)) return { mimetype1: 'application/octet-stream;', mimetype2: 'charset=binary' };
  if (head.every((b) => b < 0x80)) return { mimetype1: 'text/plain;', mimetype2: 'charset=us-ascii' };
  try {
    // a multi-byte character cut at the end of the sample is not an error
    new TextDecoder('utf-8', { fatal: true }).decode(n < size ? head.subarray(0, Math.max(0, n - 4)) : head);
    return { mimetype1: 'text/plain;', mimetype2: 'charset=utf-8' };
  } catch {
    return { mimetype1: 'application/octet-stream;', mimetype2: 'charset=binary' };
  }
}

/** Looks at every requested result file and decides what is sent. Reads only headers. */
export function collectResults(workdir: string, resultNames: readonly string[], rules: AgentRules): Collection {
  const files: CollectedFile[] = [];
  const missing: string[] = [];
  const refused: { name: string; reason: string }[] = [];
  for (const name of resultNames) {
    if (name === JOURNAL_FILE || name.startsWith(`${JOURNAL_FILE}.`)) {
      refused.push({ name, reason: 'it is the agent\'s journal' });
      continue;
    }
    const ruleWhy = unsafeFileNameReason(name) === null ? resultNameRefusal(rules, name) : null;
    if (ruleWhy !== null) {
      refused.push({ name, reason: ruleWhy });
      continue;
    }
    const o = openResultFile(workdir, name, rules.maxResultBytes);
    if ('missing' in o) missing.push(name);
    else if ('refused' in o) refused.push({ name, reason: o.refused });
    else {
      try {
        files.push({ name, size: o.size, ...detectMime(o.fd, o.size) });
      } finally {
        closeSync(o.fd);
      }
    }
  }
  const others = resultNames.filter((n) => n !== STDOUT_FILE && n !== STDERR_FILE);
  const deliversRequested = others.length === 0 || files.some((f) => others.includes(f.name));
  return { files, missing, refused, deliversRequested };
}

/** The entry for a requested file that this computer will not send. */
export function refusedResultEntry(name: string, reason: string): { content: string; mimetype1: string; mimetype2: string } {
  return { content: '', mimetype1: 'Error', mimetype2: `出力指定ファイル(${name})は外部計算機の規則により送信されませんでした: ${reason}` };
}

/**
 * What send-results carries: each collected file (re-opened safely at send time and read up
 * to the size seen at collection), and the spec's entries for missing and refused files.
 */
export function resultUploads(workdir: string, c: Collection, rules: AgentRules): ResultUpload[] {
  const out: ResultUpload[] = [];
  for (const f of c.files) {
    out.push({
      name: f.name, mimetype1: f.mimetype1, mimetype2: f.mimetype2, size: f.size,
      open: async () => {
        const o = openResultFile(workdir, f.name, rules.maxResultBytes);
        if (!('fd' in o)) throw new Error(`result file ${f.name} changed after the command ended: ${'refused' in o ? o.refused : 'it is gone'}`);
        if (o.size < f.size) {
          closeSync(o.fd);
          throw new Error(`result file ${f.name} shrank after the command ended`);
        }
        if (f.size === 0) {
          closeSync(o.fd);
          return (async function* () {})();
        }
        return createReadStream('', { fd: o.fd, start: 0, end: f.size - 1, autoClose: true });
      },
    });
  }
  for (const name of c.missing) out.push({ name, ...entryBytes(missingResultEntry(name)) });
  for (const r of c.refused) {
    // an unsafe name is not echoed back: a relay that follows the protocol never asks for one
    if (unsafeFileNameReason(r.name) === null) out.push({ name: r.name, ...entryBytes(refusedResultEntry(r.name, r.reason)) });
  }
  return out;
}

function entryBytes(e: { content: string; mimetype1: string; mimetype2: string }): { bytes: Uint8Array; mimetype1: string; mimetype2: string } {
  return { bytes: Buffer.from(e.content, 'base64'), mimetype1: e.mimetype1, mimetype2: e.mimetype2 };
}
