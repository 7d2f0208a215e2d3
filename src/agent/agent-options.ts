// Everything the agent is told, compiled once: the manual's words (`port:443`,
// `retry:5,60`, `no_auth`, `calc_base:/work`, `debug`), the same as --flags, the environment,
// the token file, and the administrator's rules file, into one fully resolved AgentOptions.
// Nothing else in the agent reads process.env or the command line.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_RELAY_PORT, relayOrigin, BaseUrlError } from '../client/relay-client.ts';
import type { RetryPolicy } from '../client/retry-policy.ts';
import { BLOB_MIN_BYTES } from '../protocol/features.ts';
import { readAgentRules, rulesFromFlags, RulesError, type AgentRules } from './agent-rules.ts';

export class AgentOptionsError extends Error {
  override readonly name = 'AgentOptionsError';
}

/** Where the token came from (never the token itself in anything printed). */
export type TokenSource =
  | { kind: 'token'; token: string; from: 'argument' | 'token file' | 'DISTCOMP_TOKEN' }
  | { kind: 'login' };

export interface AgentOptions {
  /** The site id (the manual's 識別子) this agent takes calcs for. */
  siteId: string;
  /** The base URL as given. */
  baseUrl: string;
  /** Port used when the base URL names none (`port:N`). @default 50443 */
  port: number;
  /** `scheme://host:port` actually used. */
  origin: string;
  token: TokenSource;
  /** Network retries (`retry:COUNT,INTERVAL`). @default 5 retries, 60 s apart */
  retry: RetryPolicy;
  /** Verify the relay's TLS certificate; false only with `no_auth`. @default true */
  verifyTls: boolean;
  /** Extra CA certificates to trust (`no_auth:CAFILE`). @default null */
  caFile: string | null;
  /** Directory under which each calc gets `<calc_base>/<accept_id>` (`calc_base:DIR`), absolute. @default "/tmp" */
  calcBase: string;
  /** Print every request and more (`debug`). @default false */
  debug: boolean;
  /** Calcs run at the same time. @default 1 */
  concurrency: number;
  /** Long-poll wait asked of a relay that supports it, seconds (the relay caps it at 60). @default 60 */
  waitS: number;
  /** Pause between polls of a relay without long polling, ms (the deployed poller used 30 000). @default 10000 */
  pollIntervalMs: number;
  /** After a second Ctrl+C, time between SIGTERM and SIGKILL to the command's process group, ms. @default 5000 */
  killGraceMs: number;
  /**
   * Files at least this large go through the relay's blob endpoints (streamed, verified,
   * resumable after a cut) when it has them; smaller ones inline as base64, one call less each.
   * @default 1048576 (1 MiB)
   */
  blobMinBytes: number;
  /** A JSON line per event is appended here, when set. @default null */
  logFile: string | null;
  /** The administrator's rules. */
  rules: AgentRules;
  /** The environment the command inherits (the agent's, without DISTCOMP_TOKEN); CALC_DIR is added per calc. */
  childEnv: Record<string, string>;
  /** Label for a token obtained through `login`. */
  loginLabel: string;
  /** Warnings to show at start (a token on the command line, TLS not verified, plain http). */
  warnings: string[];
  /** Tests only (hidden flag --clock-skew-ms): this process's wall clock is off by this much, ms. @default 0 */
  clockSkewMs: number;
}

/** Command-line flags, as commander hands them over (all optional). */
export interface AgentFlags {
  port?: string;
  retry?: string;
  insecure?: boolean;
  caFile?: string;
  calcBase?: string;
  debug?: boolean;
  concurrency?: string;
  tokenFile?: string;
  rules?: string;
  allowCommand?: string[];
  wait?: string;
  pollInterval?: string;
  killGrace?: string;
  blobMinBytes?: string;
  logFile?: string;
  clockSkewMs?: string;
}

export interface AgentArgs {
  siteId: string;
  baseUrl: string;
  /** The positionals after the base URL: a token or `login` (optional), then the manual's words. */
  rest: string[];
  flags: AgentFlags;
  env: NodeJS.ProcessEnv;
}

export const TOKEN_RE = /^[0-9a-fA-F]{64}$/;
const WORD_RE = /^(port|retry|no_auth|calc_base|debug)(:|$)/;

function parsePort(v: string, what: string): number {
  if (!/^\d{1,5}$/.test(v) || Number(v) < 1 || Number(v) > 65535) throw new AgentOptionsError(`${what}: not a port number (1-65535): ${JSON.stringify(v)}`);
  return Number(v);
}

/** `COUNT,INTERVAL`: COUNT a whole number, INTERVAL seconds (whole or decimal). */
export function parseRetry(v: string, what = 'retry'): RetryPolicy {
  const m = /^(\d+),(\d+(?:\.\d+)?|\.\d+)$/.exec(v.trim());
  if (!m) throw new AgentOptionsError(`${what}: expected COUNT,INTERVAL (COUNT a whole number, INTERVAL seconds, e.g. 5,60 or 3,0.5), got ${JSON.stringify(v)}`);
  return { retries: Number(m[1]), intervalMs: Math.round(Number(m[2]) * 1000), jitter: 0.1 };
}

function positiveNumber(v: string, what: string, { integer = false, min = 0 } = {}): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new AgentOptionsError(`${what}: expected ${integer ? 'a whole number' : 'a number'} >= ${min}, got ${JSON.stringify(v)}`);
  }
  return n;
}

function clockSkew(v: string): number {
  if (!/^-?\d{1,12}$/.test(v.trim())) throw new AgentOptionsError(`--clock-skew-ms: expected a whole number of ms, got ${JSON.stringify(v)}`);
  return Number(v);
}

/** Reads a token file; refuses one that others may read, or that is not one 64-hex token. */
export function readTokenFile(path: string): string {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    throw new AgentOptionsError(`cannot read the token file ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (!st.isFile()) throw new AgentOptionsError(`the token file ${path} is not a regular file`);
  if ((st.mode & 0o077) !== 0) {
    throw new AgentOptionsError(`the token file ${path} may be read by other users (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${path}`);
  }
  if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
    throw new AgentOptionsError(`the token file ${path} belongs to another user (uid ${st.uid})`);
  }
  const t = readFileSync(path, 'utf8').trim();
  if (!TOKEN_RE.test(t)) throw new AgentOptionsError(`the token file ${path} does not hold one API token (64 hex characters)`);
  return t.toLowerCase();
}

function defaultRulesFiles(env: NodeJS.ProcessEnv): string[] {
  const xdg = env['XDG_CONFIG_HOME'] || join(env['HOME'] || homedir(), '.config');
  return [join(xdg, 'distcomp', 'agent-rules.json'), '/etc/distcomp/agent-rules.json'];
}

export function compileAgentOptions(a: AgentArgs): AgentOptions {
  const f = a.flags;
  const warnings: string[] = [];
  if (a.siteId === '' || /[\s/\\]/.test(a.siteId)) throw new AgentOptionsError(`site id must be one word without slashes, got ${JSON.stringify(a.siteId)}`);

  // the third positional is a token or `login` unless it is one of the manual's words
  const rest = [...a.rest];
  let positionalToken: string | null = null;
  let login = false;
  const third = rest[0];
  if (third !== undefined && !WORD_RE.test(third)) {
    rest.shift();
    if (third === 'login') login = true;
    else if (TOKEN_RE.test(third)) positionalToken = third.toLowerCase();
    else throw new AgentOptionsError('the third argument must be an API token (64 hex characters), "login", or one of the words port:N retry:COUNT,INTERVAL no_auth[:CAFILE] calc_base:DIR debug');
  }

  // the manual's words
  let port: number | undefined;
  let retry: RetryPolicy | undefined;
  let verifyTls = true;
  let caFile: string | null = null;
  let calcBase: string | undefined;
  let debug = false;
  for (const w of rest) {
    const [key, ...v] = w.split(':');
    const val = v.join(':');
    if (key === 'port' && v.length > 0) port = parsePort(val, 'port:');
    else if (key === 'retry' && v.length > 0) retry = parseRetry(val, 'retry:');
    else if (w === 'no_auth') verifyTls = false;
    else if (key === 'no_auth' && val !== '') caFile = resolve(val);
    else if (key === 'calc_base' && val !== '') calcBase = val;
    else if (w === 'debug') debug = true;
    else throw new AgentOptionsError(`unknown word ${JSON.stringify(w)}; the words are port:N retry:COUNT,INTERVAL no_auth no_auth:CAFILE calc_base:DIR debug`);
  }
  // the same as flags (a flag wins over a word)
  if (f.port !== undefined) port = parsePort(f.port, '--port');
  if (f.retry !== undefined) retry = parseRetry(f.retry, '--retry');
  if (f.insecure) verifyTls = false;
  if (f.caFile !== undefined) caFile = resolve(f.caFile);
  if (f.calcBase !== undefined) calcBase = f.calcBase;
  if (f.debug) debug = true;
  if (caFile !== null && !existsSync(caFile)) throw new AgentOptionsError(`the CA file ${caFile} does not exist`);

  port ??= DEFAULT_RELAY_PORT;
  let origin: string;
  try {
    origin = relayOrigin(a.baseUrl, port);
  } catch (err) {
    if (err instanceof BaseUrlError) throw new AgentOptionsError(err.message, { cause: err });
    throw err;
  }
  if (!verifyTls) warnings.push('no_auth: the relay\'s TLS certificate is NOT verified; anyone on the network path can read the token and the data. Use no_auth:CAFILE to trust a private CA instead.');
  const host = new URL(origin).hostname;
  if (origin.startsWith('http:') && !['127.0.0.1', 'localhost', '[::1]'].includes(host)) {
    warnings.push(`the base url is plain http: the token and all data cross the network unencrypted (use https://${host})`);
  }

  // the token: argument, then --token-file, then DISTCOMP_TOKEN
  let token: TokenSource;
  if (login) {
    token = { kind: 'login' };
  } else if (positionalToken !== null) {
    token = { kind: 'token', token: positionalToken, from: 'argument' };
    warnings.push('a token on the command line can be seen by other users of this computer (ps); prefer --token-file FILE or DISTCOMP_TOKEN');
  } else if (f.tokenFile !== undefined) {
    token = { kind: 'token', token: readTokenFile(f.tokenFile), from: 'token file' };
  } else if (a.env['DISTCOMP_TOKEN']) {
    const t = a.env['DISTCOMP_TOKEN'].trim();
    if (!TOKEN_RE.test(t)) throw new AgentOptionsError('DISTCOMP_TOKEN does not hold an API token (64 hex characters)');
    token = { kind: 'token', token: t.toLowerCase(), from: 'DISTCOMP_TOKEN' };
  } else {
    throw new AgentOptionsError('no API token: give it as the third argument, with --token-file FILE, in DISTCOMP_TOKEN, or give "login" to log in with a password');
  }

  // calc_base must exist: the agent creates <calc_base>/<accept_id> in it
  const base = resolve(calcBase ?? '/tmp');
  let st;
  try {
    st = statSync(base);
  } catch {
    throw new AgentOptionsError(`calc_base ${base} does not exist (create it, or choose another with calc_base:DIR)`);
  }
  if (!st.isDirectory()) throw new AgentOptionsError(`calc_base ${base} is not a directory`);

  // the administrator's rules
  let rules: AgentRules;
  try {
    const extra = f.allowCommand ?? [];
    if (f.rules !== undefined) {
      rules = readAgentRules(resolve(f.rules), extra);
    } else {
      const found = defaultRulesFiles(a.env).find((p) => existsSync(p));
      rules = found !== undefined ? readAgentRules(found, extra) : rulesFromFlags(extra);
    }
  } catch (err) {
    if (err instanceof RulesError) throw new AgentOptionsError(err.message, { cause: err });
    throw err;
  }
  if (rules.allowedCommands.length === 0) {
    throw new AgentOptionsError(`no command may run on this computer: list the allowed commands in a rules file (--rules FILE, or ${defaultRulesFiles(a.env).join(' or ')}) or give --allow-command PATH`);
  }

  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(a.env)) if (v !== undefined && k !== 'DISTCOMP_TOKEN') childEnv[k] = v;

  return {
    siteId: a.siteId,
    baseUrl: a.baseUrl,
    port,
    origin,
    token,
    retry: retry ?? { retries: 5, intervalMs: 60_000, jitter: 0.1 },
    verifyTls,
    caFile,
    calcBase: base,
    debug,
    concurrency: f.concurrency === undefined ? 1 : positiveNumber(f.concurrency, '--concurrency', { integer: true, min: 1 }),
    waitS: f.wait === undefined ? 60 : positiveNumber(f.wait, '--wait', { min: 0 }),
    pollIntervalMs: f.pollInterval === undefined ? 10_000 : Math.round(positiveNumber(f.pollInterval, '--poll-interval', { min: 0.01 }) * 1000),
    killGraceMs: f.killGrace === undefined ? 5_000 : Math.round(positiveNumber(f.killGrace, '--kill-grace') * 1000),
    logFile: f.logFile === undefined ? null : resolve(f.logFile),
    blobMinBytes: f.blobMinBytes === undefined ? BLOB_MIN_BYTES : positiveNumber(f.blobMinBytes, '--blob-min-bytes', { integer: true, min: 0 }),
    rules,
    childEnv,
    loginLabel: `distcomp agent ${a.siteId} on ${hostname()}`,
    warnings,
    clockSkewMs: f.clockSkewMs === undefined ? 0 : clockSkew(f.clockSkewMs),
  };
}
