// The calc-info object of add-calcinfo, built from the submit options: each input file read
// and base64-encoded with the two MIME strings as `file -i -b` prints them (the deployed
// program shelled out to `file`; we look at the bytes ourselves: no shell, no `file` needed).
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import type { CalcInfoWire } from '../client/relay-client.ts';
import type { SubmitOptions } from './submit-options.ts';
import { BLOB_MIN_BYTES } from '../protocol/features.ts';

/** `file -i -b` for the common cases: empty, binary (a NUL byte), us-ascii, utf-8. */
export function detectMime(head: Buffer, wholeFile: boolean): [string, string] {
  if (head.length === 0) return ['inode/x-empty;', 'charset=binary'];
  if (head.includes(0)) return ['application/octet-stream;', 'charset=binary'];
  if (head.every((b) => b < 0x80)) return ['text/plain;', 'charset=us-ascii'];
  try {
    // a multi-byte character cut at the end of a sample is not an error
    new TextDecoder('utf-8', { fatal: true }).decode(wholeFile ? head : head.subarray(0, Math.max(0, head.length - 4)));
    return ['text/plain;', 'charset=utf-8'];
  } catch {
    return ['application/octet-stream;', 'charset=binary'];
  }
}

/** Whether an input of this size goes up as a streamed blob (when the relay can take them). */
export function goesAsBlob(size: number): boolean {
  return size >= BLOB_MIN_BYTES;
}

export function buildCalcInfo(o: Pick<SubmitOptions, 'command' | 'siteId' | 'parameters' | 'inputs' | 'results'>): CalcInfoWire {
  const parameterFiles: CalcInfoWire['parameter_files'] = {};
  for (const i of o.inputs) {
    if (goesAsBlob(statSync(i.path).size)) {
      // filled in by uploadLargeInputs() (a blob reference, or base64 for an old relay)
      parameterFiles[i.name] = ['', '', ''];
      continue;
    }
    const bytes = readFileSync(i.path);
    const head = bytes.subarray(0, 65536);
    const [m1, m2] = detectMime(head, head.length === bytes.length);
    parameterFiles[i.name] = [bytes.toString('base64'), m1, m2];
  }
  return {
    command: o.command,
    'remote-site': o.siteId,
    parameters: o.parameters,
    parameter_files: parameterFiles,
    result_files: Object.fromEntries(o.results.map((n) => [n, { content: '', mimetype1: '', mimetype2: '' }])),
  };
}

/** The two MIME strings of a file, from its first 64 KiB. */
export function detectFileMime(path: string): [string, string] {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(65536);
    const n = readSync(fd, head, 0, head.length, 0);
    return detectMime(head.subarray(0, n), n < head.length);
  } finally {
    closeSync(fd);
  }
}
