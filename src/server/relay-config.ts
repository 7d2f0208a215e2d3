// The relay's configuration, compiled from `mi_distributed_computing_assist.ini`.
// The deployed keys keep their meaning; the keys marked "ours" are additive.
import { readFileSync } from 'node:fs';
import { IniError, parseIni, words } from './ini-reader.ts';

export interface SiteConfig {
  /** Commands this site may be asked to run (`commands`, one per word). */
  commands: string[];
  /** Users who may use this site (`users`, ours); null when unrestricted. */
  users: string[] | null;
}

export interface RelayConfig {
  /** [Server] ipaddress; default 127.0.0.1. */
  address: string;
  /** [Server] portnumber; default 8082. */
  port: number;
  /** [Server] loglevel: 0 critical, 1 error, 2 warning, 3 info, 4 debug; default 3. */
  loglevel: number;
  /** [RemoteSites] remote_site_ids, with each site's [section]. */
  sites: Map<string, SiteConfig>;
  /** [Server] expire_minutes (ours): an unstarted calc ends abnormal after this long, minutes (decimals allowed); default 30 (as deployed). */
  expireMinutes: number;
  /** [Server] expire_check_seconds (ours): how often the expiry rule runs, seconds (decimals allowed); default 60. */
  expireCheckSeconds: number;
  /**
   * [Server] lease_seconds (ours): how long one heartbeat of a lease-aware agent holds its
   * calc, seconds (decimals allowed); agents are told to heartbeat 4 times per lease. A calc
   * whose agent missed it shows as "disconnected, still computing". Default 60.
   */
  leaseSeconds: number;
  /**
   * [Server] lease_grace_seconds (ours): after the lease ran out, how long the agent may still
   * come back before the calc ends abnormal (the reason goes to the workflow side), seconds
   * (decimals allowed). Default 600 (the agent's default retries span 5 minutes).
   */
  leaseGraceSeconds: number;
  /** [Server] body_limit_mb (ours): largest JSON request body, MiB; default 256. */
  bodyLimitBytes: number;
  /** [Server] file_limit_mb (ours): largest file content inside a JSON body, MiB of base64; default 2048 (the manual's 2 GiB). Larger files use the streaming upload. */
  fileLimitBytes: number;
  /** [Server] rate_limit_per_minute (ours): requests per token (or address) per minute; default 6000, 0 = off. */
  rateLimitPerMinute: number;
  /** [Server] certfile / keyfile (ours): serve HTTPS with these PEM files. */
  certFile: string | null;
  keyFile: string | null;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function int(v: string | undefined, key: string, dflt: number, min: number, max: number, decimal = false): number {
  if (v === undefined || v === '') return dflt;
  const pattern = decimal ? /^\d+(\.\d+)?$/ : /^-?\d+$/;
  if (!pattern.test(v.trim())) throw new ConfigError(`[Server] ${key} must be ${decimal ? 'a number' : 'an integer'}, got "${v}"`);
  const n = Number(v.trim());
  if (n < min || n > max) throw new ConfigError(`[Server] ${key} must be between ${min} and ${max}, got ${n}`);
  return n;
}

export function compileRelayConfig(text: string): RelayConfig {
  let ini;
  try {
    ini = parseIni(text);
  } catch (err) {
    if (err instanceof IniError) throw new ConfigError(err.message, { cause: err });
    throw err;
  }
  const server = ini.get('Server') ?? new Map<string, string>();
  const sites = new Map<string, SiteConfig>();
  for (const id of words(ini.get('RemoteSites')?.get('remote_site_ids'))) {
    const sec = ini.get(id);
    const users = sec?.get('users');
    sites.set(id, { commands: words(sec?.get('commands')), users: users === undefined ? null : words(users) });
  }
  const limitMb = int(server.get('body_limit_mb'), 'body_limit_mb', 256, 1, 2048);
  return {
    address: server.get('ipaddress') || '127.0.0.1',
    port: int(server.get('portnumber'), 'portnumber', 8082, 0, 65535),
    loglevel: int(server.get('loglevel'), 'loglevel', 3, 0, 4),
    sites,
    expireMinutes: int(server.get('expire_minutes'), 'expire_minutes', 30, 0.001, 60 * 24 * 365, true),
    expireCheckSeconds: int(server.get('expire_check_seconds'), 'expire_check_seconds', 60, 0.05, 86400, true),
    leaseSeconds: int(server.get('lease_seconds'), 'lease_seconds', 60, 0.2, 86400, true),
    leaseGraceSeconds: int(server.get('lease_grace_seconds'), 'lease_grace_seconds', 600, 0, 30 * 86400, true),
    bodyLimitBytes: limitMb * 1024 * 1024,
    fileLimitBytes: int(server.get('file_limit_mb'), 'file_limit_mb', 2048, 1, 1024 * 1024) * 1024 * 1024,
    rateLimitPerMinute: int(server.get('rate_limit_per_minute'), 'rate_limit_per_minute', 6000, 0, 10_000_000),
    certFile: server.get('certfile') || null,
    keyFile: server.get('keyfile') || null,
  };
}

export function readRelayConfig(path: string): RelayConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return compileRelayConfig(text);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`${path}: ${err.message}`, { cause: err });
    throw err;
  }
}

/** pino level for the INI's loglevel. */
export function pinoLevel(loglevel: number): string {
  return ['fatal', 'error', 'warn', 'info', 'debug'][loglevel] ?? 'info';
}
