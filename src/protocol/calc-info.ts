// The calc-info object of add-calcinfo: checked field by field so that the caller learns
// exactly what is wrong, in the order the deployed server checked (calc-info, remote-site,
// command), then our additions (types, file names, base64).
//
// A file's content can come three ways:
// - base64 text, the deployed form, when the body was parsed whole;
// - already received into a temporary blob, when the server parsed the body as a stream
//   (the deployed form, without ever holding the text: see server/json-stream);
// - a reference to a blob uploaded beforehand through the streaming endpoint (our extension):
//   `{"blob": "<sha256>", "size": N, "mimetype1": ..., "mimetype2": ...}`.
import { Errors } from './errors.ts';
import { showName, unsafeFileNameReason } from './file-names.ts';

export const STDOUT_FILE = '計算標準出力.txt';
export const STDERR_FILE = '計算標準エラー出力.txt';

/** A file content that arrived as a stream and already sits in a temporary blob. */
export interface ReceivedContent {
  readonly received: { readonly sha256: string; readonly size: number; readonly tmpPath: string };
}

/** A small file content that arrived as a stream and was decoded into memory. */
export interface DecodedContent {
  readonly decoded: Buffer;
}

export type FileContent =
  | { kind: 'base64'; text: string }
  | { kind: 'bytes'; bytes: Buffer }
  | { kind: 'received'; blob: ReceivedContent['received'] }
  | { kind: 'blob'; sha256: string; size: number };

/** A parameter file as registered; `content` null when the workflow side sent ["", "", ""] (file not found). */
export interface ParameterFile {
  name: string;
  content: FileContent | null;
  mime1: string;
  mime2: string;
}

export interface CalcInfo {
  command: string;
  site: string;
  parameters: string;
  parameterFiles: ParameterFile[];
  /** Names of the files wanted back, in the order given. */
  resultNames: string[];
}

const BASE64 = /^[A-Za-z0-9+/\r\n]*={0,2}[\r\n]*$/;
const SHA256 = /^[0-9a-f]{64}$/;

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isReceived(x: unknown): x is ReceivedContent {
  return typeof x === 'object' && x !== null && 'received' in x;
}

function isDecoded(x: unknown): x is DecodedContent {
  return typeof x === 'object' && x !== null && 'decoded' in x;
}

/** The content of a streamed value: received into a blob, or decoded in memory. */
function streamedContent(x: ReceivedContent | DecodedContent): FileContent {
  return isReceived(x) ? { kind: 'received', blob: x.received } : { kind: 'bytes', bytes: x.decoded };
}

function streamedSize(x: ReceivedContent | DecodedContent): number {
  return isReceived(x) ? x.received.size : x.decoded.length;
}

function checkName(map: string, name: string): void {
  const why = unsafeFileNameReason(name);
  if (why !== null) throw Errors.unsafeFileName(map, showName(name), why);
}

/** A blob reference `{blob, size, mimetype1, mimetype2}`, or null when `v` is not one. */
function blobRef(v: unknown, where: string, fail: (detail: string) => Error): { content: FileContent; mime1: string; mime2: string } | null {
  if (!isObject(v) || !('blob' in v)) return null;
  const { blob, size, mimetype1 = '', mimetype2 = '' } = v as Record<string, unknown>;
  if (typeof blob !== 'string' || !SHA256.test(blob)) return (() => { throw fail(`${where}: blob must be a sha256 (64 lower-case hex characters)`); })();
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw fail(`${where}: size must be a whole number of bytes`);
  if (typeof mimetype1 !== 'string' || typeof mimetype2 !== 'string') throw fail(`${where}: mimetype1 and mimetype2 must be strings`);
  return { content: { kind: 'blob', sha256: blob, size }, mime1: mimetype1, mime2: mimetype2 };
}

/** Parses the body of add-calcinfo. Throws a ProtocolError naming the first problem. */
export function parseAddCalcInfoBody(body: unknown): CalcInfo {
  if (!isObject(body) || !('calc-info' in body)) throw Errors.noCalcInfo();
  const ci = body['calc-info'];
  if (!isObject(ci)) throw Errors.calcInfoNotObject();
  if (!('remote-site' in ci)) throw Errors.noRemoteSite();
  const site = ci['remote-site'];
  if (typeof site !== 'string' || site === '') throw Errors.badCalcInfoField('remote-site must be a non-empty string');
  if (!('command' in ci)) throw Errors.noCommand();
  const command = ci['command'];
  if (typeof command !== 'string' || command === '') throw Errors.badCalcInfoField('command must be a non-empty string');
  const parameters = ci['parameters'] ?? '';
  if (typeof parameters !== 'string') throw Errors.badCalcInfoField('parameters must be a string');
  if (parameters.includes('\0')) throw Errors.badCalcInfoField('parameters contain a NUL byte');

  const pf = ci['parameter_files'] ?? {};
  if (!isObject(pf)) throw Errors.badCalcInfoField('parameter_files must be an object of name -> [base64, mime type, charset]');
  const parameterFiles: ParameterFile[] = [];
  for (const [name, v] of Object.entries(pf)) {
    checkName('parameter_files', name);
    const where = `parameter_files[${showName(name)}]`;
    const ref = blobRef(v, where, Errors.badCalcInfoField);
    if (ref) {
      parameterFiles.push({ name, ...ref });
      continue;
    }
    if (!Array.isArray(v) || v.length !== 3 || !(typeof v[0] === 'string' || isReceived(v[0]) || isDecoded(v[0])) || typeof v[1] !== 'string' || typeof v[2] !== 'string') {
      throw Errors.badCalcInfoField(`${where} must be an array of three strings [base64, mime type, charset] or {blob, size, mimetype1, mimetype2}`);
    }
    const [raw, mime1, mime2] = v as [unknown, string, string];
    const streamed = isReceived(raw) || isDecoded(raw);
    const empty = streamed ? streamedSize(raw) === 0 : raw === '';
    if (empty && mime1 === '' && mime2 === '') {
      parameterFiles.push({ name, content: null, mime1, mime2 });
      continue;
    }
    if (streamed) parameterFiles.push({ name, content: streamedContent(raw), mime1, mime2 });
    else if (!BASE64.test(raw as string)) throw Errors.badCalcInfoField(`${where} content is not base64`);
    else parameterFiles.push({ name, content: { kind: 'base64', text: raw as string }, mime1, mime2 });
  }

  const rf = ci['result_files'] ?? {};
  if (!isObject(rf)) throw Errors.badCalcInfoField('result_files must be an object whose keys are file names');
  const resultNames = Object.keys(rf);
  for (const name of resultNames) checkName('result_files', name);

  return { command, site, parameters, parameterFiles, resultNames };
}

/** A result file as the poller sends it: `content` null for a missing file (mimetype1 "Error"). */
export interface ResultFile {
  name: string;
  content: FileContent | null;
  mime1: string;
  mime2: string;
}

/**
 * Parses send-results' result_files: the object form, the older 3-array form, or a blob
 * reference. Names must be safe. Files the workflow side did not ask for are dropped (listed
 * in `ignored`): only requested files ever leave the relay.
 */
export function parseResultFiles(raw: unknown, requested: readonly string[]): { files: ResultFile[]; ignored: string[] } {
  if (!isObject(raw)) throw Errors.badResultFiles('result_files must be an object of name -> {content, mimetype1, mimetype2}');
  const wanted = new Set(requested);
  const out: ResultFile[] = [];
  const ignored: string[] = [];
  for (const [name, v] of Object.entries(raw)) {
    const why = unsafeFileNameReason(name);
    if (why !== null) throw Errors.badResultFiles(`file name ${showName(name)} ${why}`);
    if (!wanted.has(name)) {
      ignored.push(name);
      continue;
    }
    const ref = blobRef(v, showName(name), Errors.badResultFiles);
    if (ref) {
      out.push({ name, ...ref });
      continue;
    }
    let f: [unknown, unknown, unknown];
    if (Array.isArray(v) && v.length === 3) f = [v[0], v[1], v[2]];
    else if (isObject(v)) f = [v['content'] ?? '', v['mimetype1'] ?? '', v['mimetype2'] ?? ''];
    else throw Errors.badResultFiles(`${showName(name)} must be {content, mimetype1, mimetype2}`);
    const [content, mime1, mime2] = f;
    if (!(typeof content === 'string' || isReceived(content) || isDecoded(content)) || typeof mime1 !== 'string' || typeof mime2 !== 'string') {
      throw Errors.badResultFiles(`${showName(name)}: content, mimetype1 and mimetype2 must be strings`);
    }
    const streamed = isReceived(content) || isDecoded(content);
    const empty = streamed ? streamedSize(content) === 0 : content === '';
    if (mime1 === 'Error' && empty) out.push({ name, content: null, mime1, mime2 });
    else if (streamed) out.push({ name, content: streamedContent(content), mime1, mime2 });
    else if (!BASE64.test(content)) throw Errors.badResultFiles(`${showName(name)}: content is not base64`);
    else out.push({ name, content: { kind: 'base64', text: content }, mime1, mime2 });
  }
  return { files: out, ignored };
}

/** The entry for a requested file the command did not produce (the deployed text). */
export function missingResultEntry(name: string): { content: string; mimetype1: string; mimetype2: string } {
  return { content: '', mimetype1: 'Error', mimetype2: `出力指定ファイル(${name})がありませんでした。` };
}

/** Every received (temporary) blob a parsed calc-info or result set holds, for cleanup. */
export function receivedBlobs(files: readonly { content: FileContent | null }[]): ReceivedContent['received'][] {
  return files.flatMap((f) => (f.content?.kind === 'received' ? [f.content.blob] : []));
}
