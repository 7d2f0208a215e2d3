// The one rule for file names that travel in calc-info (parameter_files and result_files).
// A name is relative, made of ordinary path segments, and can never leave the directory
// it is resolved against. The deployed system let `../../secret.txt` through; we do not.

/** Longest accepted name in bytes (Linux PATH_MAX is 4096; one segment at most 255). */
export const MAX_NAME_BYTES = 1024;
export const MAX_SEGMENT_BYTES = 255;

/** Why a name is refused, or null when it is safe. */
export function unsafeFileNameReason(name: unknown): string | null {
  if (typeof name !== 'string') return 'is not a string';
  if (name.length === 0) return 'is empty';
  if (name.includes('\0')) return 'contains a NUL byte';
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) return `is longer than ${MAX_NAME_BYTES} bytes`;
  if (name.includes('\\')) return 'contains a backslash';
  if (name.startsWith('/')) return 'is an absolute path';
  if (/^[A-Za-z]:/.test(name)) return 'is an absolute path';
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) return 'contains a control character';
  const segments = name.split('/');
  for (const s of segments) {
    if (s === '') return 'has an empty path segment';
    if (s === '.' || s === '..') return `has a "${s}" path segment`;
    if (Buffer.byteLength(s) > MAX_SEGMENT_BYTES) return `has a segment longer than ${MAX_SEGMENT_BYTES} bytes`;
  }
  return null;
}

export function isSafeFileName(name: unknown): name is string {
  return unsafeFileNameReason(name) === null;
}

/** For messages: a name shown with control characters escaped, and cut when very long. */
export function showName(name: string): string {
  const s = JSON.stringify(name);
  return s.length > 200 ? `${s.slice(0, 197)}...` : s;
}
