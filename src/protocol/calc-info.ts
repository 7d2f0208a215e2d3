// The calc-info object of add-calcinfo: checked field by field so that the caller learns
// exactly what is wrong, in the order the deployed server checked (calc-info, remote-site,
// command), then our additions (types, file names, base64).
import { Errors } from './errors.ts';
import { showName, unsafeFileNameReason } from './file-names.ts';

export const STDOUT_FILE = '計算標準出力.txt';
export const STDERR_FILE = '計算標準エラー出力.txt';

/** A parameter file as registered: its bytes (base64 already checked) or missing. */
export interface ParameterFile {
  name: string;
  /** base64 text as sent; `null` when the workflow side sent ["", "", ""] (file not found). */
  base64: string | null;
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

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function checkName(map: string, name: string): void {
  const why = unsafeFileNameReason(name);
  if (why !== null) throw Errors.unsafeFileName(map, showName(name), why);
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
    if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'string')) {
      throw Errors.badCalcInfoField(`parameter_files[${showName(name)}] must be an array of three strings [base64, mime type, charset]`);
    }
    const [b64, mime1, mime2] = v as [string, string, string];
    const missing = b64 === '' && mime1 === '' && mime2 === '';
    if (!missing && !BASE64.test(b64)) {
      throw Errors.badCalcInfoField(`parameter_files[${showName(name)}] content is not base64`);
    }
    parameterFiles.push({ name, base64: missing ? null : b64, mime1, mime2 });
  }

  const rf = ci['result_files'] ?? {};
  if (!isObject(rf)) throw Errors.badCalcInfoField('result_files must be an object whose keys are file names');
  const resultNames = Object.keys(rf);
  for (const name of resultNames) checkName('result_files', name);

  return { command, site, parameters, parameterFiles, resultNames };
}

/** A result file as the poller sends it: the object form, or the older 3-array form. */
export interface ResultFile {
  name: string;
  base64: string;
  mime1: string;
  mime2: string;
}

/**
 * Parses send-results' result_files. Names must be safe. Files the workflow side did not ask
 * for are dropped (listed in `ignored`): only requested files ever leave the relay.
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
    let f: [unknown, unknown, unknown];
    if (Array.isArray(v) && v.length === 3) f = [v[0], v[1], v[2]];
    else if (isObject(v)) f = [v['content'] ?? '', v['mimetype1'] ?? '', v['mimetype2'] ?? ''];
    else throw Errors.badResultFiles(`${showName(name)} must be {content, mimetype1, mimetype2}`);
    const [content, mime1, mime2] = f;
    if (typeof content !== 'string' || typeof mime1 !== 'string' || typeof mime2 !== 'string') {
      throw Errors.badResultFiles(`${showName(name)}: content, mimetype1 and mimetype2 must be strings`);
    }
    if (!BASE64.test(content)) throw Errors.badResultFiles(`${showName(name)}: content is not base64`);
    out.push({ name, base64: content, mime1, mime2 });
  }
  return { files: out, ignored };
}

/** The entry for a requested file the command did not produce (the deployed text). */
export function missingResultEntry(name: string): { content: string; mimetype1: string; mimetype2: string } {
  return { content: '', mimetype1: 'Error', mimetype2: `出力指定ファイル(${name})がありませんでした。` };
}
