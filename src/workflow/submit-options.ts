// The deployed workflow program's positional grammar + our flags + the environment -> one fully
// resolved SubmitOptions, once. Nothing else in src/workflow reads process.env or argv.
//
//   mi-system-wf.py <base url> <site id> <api token> <command> <in1:in2:...> <out1:out2:...> [parameter]
//   distcomp submit <base url> <site id> [api token] <command> <in1:in2:...> <out1:out2:...> [parameter]
//   distcomp submit --url URL --site ID --command CMD --in a.dat --in b.dat --result XX.dat [--parameters "..."]
//
// The token is optional in the positional form when it comes from --token-file or
// DISTCOMP_TOKEN: the third positional is a token only when it is 64 hex characters (a
// command is an absolute path, never that).
import { readFileSync, statSync } from 'node:fs';
import { basename, isAbsolute, resolve } from 'node:path';
import { DEFAULT_RELAY_PORT, relayOrigin } from '../client/relay-client.ts';
import type { RetryPolicy } from '../client/retry-policy.ts';
import { STDERR_FILE, STDOUT_FILE } from '../protocol/calc-info.ts';
import { showName, unsafeFileNameReason } from '../protocol/file-names.ts';

export class SubmitOptionsError extends Error {
  override readonly name = 'SubmitOptionsError';
}

export const TOKEN_RE = /^[0-9a-fA-F]{64}$/;

export interface InputFile {
  /** The name the remote step sees (relative, checked by the protocol's file-name rule). */
  name: string;
  /** Where it is read from, absolute (a symbolic link is followed: it is our own file). */
  path: string;
}

export interface SubmitOptions {
  /** `http(s)://host[:port]` as given. */
  baseUrl: string;
  /** Port added when the base URL names none. @default 50443 */
  port: number;
  /** `scheme://host:port`, for messages. */
  origin: string;
  siteId: string;
  token: string;
  /** Where the token came from (never the token itself in anything printed). */
  tokenFrom: 'argument' | 'token file' | 'DISTCOMP_TOKEN';
  /** The command the external computer runs (it must be allowed for the site on both sides). */
  command: string;
  /** Text passed to the command; the agent splits it by shell quoting rules (no shell runs). @default "" */
  parameters: string;
  inputs: InputFile[];
  /** Names of the files wanted back; always ends with the stdout and stderr files. */
  results: string[];
  /** Where result files are written, absolute (created if missing). @default the current directory */
  outDir: string;
  /** Long-poll wait asked of a relay that announces long polling, s (the relay caps it at 60). @default 30 */
  waitS: number;
  /** Pause between progress checks of a relay without long polling, ms. @default 3000 */
  pollIntervalMs: number;
  /** Network retries of each call before the calc is allowed. @default 3 retries, 2 s apart */
  retry: RetryPolicy;
  /**
   * Network retries while waiting for a calc that is already running somewhere: ten times
   * `retry`'s count at the same interval (default 30 x 2 s = a minute), so that a relay
   * restart or a short outage does not fail a long calc.
   */
  waitRetry: RetryPolicy;
  verifyTls: boolean;
  caFile: string | null;
  /** Print nothing but errors and the abnormal calc's stderr. @default false */
  quiet: boolean;
  /** Warnings to print once at start (a token on the command line). */
  warnings: string[];
}

export interface SubmitFlags {
  url?: string;
  site?: string;
  command?: string;
  in?: string[];
  result?: string[];
  parameters?: string;
  out?: string;
  tokenFile?: string;
  port?: string;
  wait?: string;
  pollInterval?: string;
  retry?: string;
  insecure?: boolean;
  caFile?: string;
  quiet?: boolean;
}

export interface SubmitArgs {
  positionals: string[];
  flags: SubmitFlags;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export const DEFAULT_SUBMIT_RETRY: RetryPolicy = { retries: 3, intervalMs: 2000, jitter: 0.1 };

function num(v: string, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw new SubmitOptionsError(`${what}: expected a number from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return n;
}

/** Reads a token file; refuses one that the group or others may read, or that holds no token. */
export function readTokenFile(path: string): string {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    throw new SubmitOptionsError(`cannot read the token file ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (!st.isFile()) throw new SubmitOptionsError(`the token file ${path} is not a regular file`);
  if ((st.mode & 0o077) !== 0) {
    throw new SubmitOptionsError(`the token file ${path} may be read by other users (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${path}`);
  }
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
    throw new SubmitOptionsError(`the token file ${path} belongs to another user (uid ${st.uid})`);
  }
  const t = readFileSync(path, 'utf8').trim();
  if (!TOKEN_RE.test(t)) throw new SubmitOptionsError(`the token file ${path} does not hold one API token (64 hex characters)`);
  return t.toLowerCase();
}

/** A colon-separated list of the deployed grammar; empty items are dropped. */
export function colonList(v: string): string[] {
  return v.split(':').filter((s) => s !== '');
}

/**
 * One input: `PATH`, or `NAME=PATH` to send it under another name. A relative path that is a
 * safe name is sent by that name (`sub/a.dat` stays `sub/a.dat`); any other path (absolute,
 * with `..`) is sent by its last component.
 */
export function inputFile(spec: string, cwd: string): InputFile {
  const eq = spec.indexOf('=');
  const [name, p] = eq > 0 ? [spec.slice(0, eq), spec.slice(eq + 1)] : [null, spec];
  if (p === '') throw new SubmitOptionsError(`input ${JSON.stringify(spec)}: no path`);
  const sent = name ?? (unsafeFileNameReason(p) === null ? p : basename(p));
  const why = unsafeFileNameReason(sent);
  if (why !== null) throw new SubmitOptionsError(`input file name ${showName(sent)} ${why}; give NAME=PATH with a plain relative NAME`);
  const path = isAbsolute(p) ? p : resolve(cwd, p);
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    throw new SubmitOptionsError(`input file ${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (nothing was sent)`, { cause: err });
  }
  if (!st.isFile()) throw new SubmitOptionsError(`input ${path} is not a regular file (nothing was sent)`);
  return { name: sent, path };
}

export function compileSubmitOptions(a: SubmitArgs): SubmitOptions {
  const f = a.flags;
  const pos = [...a.positionals];
  // commander hands unknown options over as positionals (so that a parameter like "-n 4"
  // passes); only the parameter (the last of 6 or 7) may look like an option
  pos.forEach((p, i) => {
    const isParameter = i === pos.length - 1 && pos.length >= 6;
    if (p.startsWith('-') && !isParameter) throw new SubmitOptionsError(`unknown option ${JSON.stringify(p)} (see distcomp submit --help)`);
  });
  const warnings: string[] = [];

  // positional form: url site [token] command infiles results [parameter]
  let baseUrl = f.url;
  let siteId = f.site;
  let positionalToken: string | null = null;
  let command = f.command;
  let inSpecs = [...(f.in ?? [])];
  let results = [...(f.result ?? [])];
  let parameters = f.parameters;
  if (pos.length > 0) {
    const withToken = pos.length >= 3 && TOKEN_RE.test(pos[2] as string);
    const expected = withToken ? 6 : 5;
    if (pos.length < expected || pos.length > expected + 1) {
      throw new SubmitOptionsError(
        `expected <base url> <site id> [api token] <command> <infiles> <result files> [parameter] (file lists colon-separated; quote the parameter as one argument), got ${pos.length} arguments`,
      );
    }
    const take = (): string => pos.shift() as string;
    baseUrl = take();
    siteId = take();
    if (withToken) positionalToken = take().toLowerCase();
    command = take();
    inSpecs = [...colonList(take()), ...inSpecs];
    results = [...colonList(take()), ...results];
    const p = pos.shift();
    if (p !== undefined) {
      if (parameters !== undefined) throw new SubmitOptionsError('the parameter is given twice (positional and --parameters)');
      parameters = p;
    }
  }
  if (baseUrl === undefined || baseUrl === '') throw new SubmitOptionsError('no base url (first argument, or --url)');
  if (siteId === undefined || siteId === '') throw new SubmitOptionsError('no site id (second argument, or --site)');
  if (command === undefined || command === '') throw new SubmitOptionsError('no command (argument after the site id and token, or --command)');
  if (command.includes('\0')) throw new SubmitOptionsError('the command contains a NUL byte');
  if ((parameters ?? '').includes('\0')) throw new SubmitOptionsError('the parameter contains a NUL byte');

  const port = f.port !== undefined ? num(f.port, '--port', 1, 65535) : DEFAULT_RELAY_PORT;
  let origin: string;
  try {
    origin = relayOrigin(baseUrl, port);
  } catch (err) {
    throw new SubmitOptionsError((err as Error).message, { cause: err });
  }

  // the token: argument, then --token-file, then DISTCOMP_TOKEN
  let token: string;
  let tokenFrom: SubmitOptions['tokenFrom'];
  if (positionalToken !== null) {
    token = positionalToken;
    tokenFrom = 'argument';
    if (f.tokenFile !== undefined) throw new SubmitOptionsError('the token is given twice (argument and --token-file)');
  } else if (f.tokenFile !== undefined) {
    token = readTokenFile(resolve(a.cwd, f.tokenFile));
    tokenFrom = 'token file';
  } else if ((a.env['DISTCOMP_TOKEN'] ?? '') !== '') {
    const t = (a.env['DISTCOMP_TOKEN'] as string).trim();
    if (!TOKEN_RE.test(t)) throw new SubmitOptionsError('DISTCOMP_TOKEN does not hold an API token (64 hex characters)');
    token = t.toLowerCase();
    tokenFrom = 'DISTCOMP_TOKEN';
  } else {
    throw new SubmitOptionsError('no API token: give it as the third argument, with --token-file FILE (mode 600), or in DISTCOMP_TOKEN');
  }

  const inputs = inSpecs.map((s) => inputFile(s, a.cwd));
  const seen = new Set<string>();
  for (const i of inputs) {
    if (seen.has(i.name)) throw new SubmitOptionsError(`two inputs are sent as ${showName(i.name)}`);
    seen.add(i.name);
  }
  const wanted: string[] = [];
  for (const r of results) {
    const why = unsafeFileNameReason(r);
    if (why !== null) throw new SubmitOptionsError(`result file name ${showName(r)} ${why}; result names must be relative paths inside the working directory`);
    if (!wanted.includes(r) && r !== STDOUT_FILE && r !== STDERR_FILE) wanted.push(r);
  }
  // the deployed program always asked for the command's stdout and stderr too
  wanted.push(STDOUT_FILE, STDERR_FILE);

  let retry = DEFAULT_SUBMIT_RETRY;
  if (f.retry !== undefined) {
    const m = /^(\d+),(\d+(?:\.\d+)?)$/.exec(f.retry.trim());
    if (!m) throw new SubmitOptionsError(`--retry: expected COUNT,INTERVAL (e.g. 3,2), got ${JSON.stringify(f.retry)}`);
    retry = { retries: Number(m[1]), intervalMs: Math.round(Number(m[2]) * 1000), jitter: 0.1 };
  }
  if (f.insecure && f.caFile !== undefined) throw new SubmitOptionsError('--insecure and --ca-file contradict each other');
  if (f.insecure) warnings.push('--insecure: the relay\'s TLS certificate is NOT verified; anyone on the network path can read the token and the data');

  return {
    baseUrl, port, origin, siteId, token, tokenFrom, command,
    parameters: parameters ?? '',
    inputs,
    results: wanted,
    outDir: resolve(a.cwd, f.out ?? '.'),
    waitS: f.wait !== undefined ? num(f.wait, '--wait', 1, 60) : 30,
    pollIntervalMs: Math.round((f.pollInterval !== undefined ? num(f.pollInterval, '--poll-interval', 0.05, 3600) : 3) * 1000),
    retry,
    waitRetry: { ...retry, retries: retry.retries * 10 },
    verifyTls: f.insecure !== true,
    caFile: f.caFile !== undefined ? resolve(a.cwd, f.caFile) : null,
    quiet: f.quiet === true,
    warnings,
  };
}
