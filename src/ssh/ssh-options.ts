// Words + flags + environment -> one fully resolved SshOptions, once. Nothing else in src/ssh
// reads process.env or the command line.
import { resolve } from 'node:path';
import { SshUsageError } from './errors.ts';

/** The deployed program C name (manual 3.1.3, 5.1). */
export const DEFAULT_PROGRAM_NAME = 'execute_remote-side_program_ssh.sh';
/** Where the deployed setup keeps it: the cloned repository's scripts directory (manual 4.8.3). */
export const DEFAULT_REMOTE_DIR = '~/misrc_remote_workflow/scripts';

export type RemoveWorkdir = 'never' | 'success' | 'always';

export interface SshOptions {
  /** ssh destination: an alias from ssh_config, `host`, or `user@host`. */
  host: string;
  /** TCP port (`ssh -p`); undefined leaves it to ssh_config (default 22). */
  port: number | undefined;
  /** ssh_config file (`ssh -F`); undefined means the user's ~/.ssh/config, as ssh decides. */
  sshConfigFile: string | undefined;
  /**
   * Program C, one word, run with no arguments inside the working directory. A leading `~/`
   * is expanded on the remote side; a name without `/` is looked up in the remote PATH;
   * a relative path with `/` is relative to the working directory (as deployed: `cd D; C`).
   * @default `~/misrc_remote_workflow/scripts/execute_remote-side_program_ssh.sh`
   */
  program: string;
  /** Remote base directory; the working directory is `<base>/<uuid>`. @default `/tmp` */
  base: string;
  /** Input files, absolute local paths (symlinks are followed when sent, as `rsync -L`). */
  inputs: string[];
  /** Local directory the working directory's contents are fetched into. @default process cwd */
  destination: string;
  /** When to remove the remote working directory after a complete fetch. @default 'never' */
  removeWorkdir: RemoveWorkdir;
  /** Re-attach to this existing working directory (skip the upload) instead of a fresh one. */
  attach: string | undefined;
  reconnect: {
    /** Consecutive failed reconnect attempts before giving up. @default 8 */
    attempts: number;
    /** First backoff delay, ms; doubles per attempt, with full jitter. @default 1000 */
    initialDelayMs: number;
    /** Largest backoff delay, ms. @default 30000 */
    maxDelayMs: number;
    /** Reconnects allowed in one run, over all outages. @default 100 */
    maxPerRun: number;
  };
  /** `ServerAliveInterval`, s: how often an idle connection is probed. @default 5 */
  aliveIntervalS: number;
  /** `ServerAliveCountMax`: unanswered probes before the connection counts as dropped. @default 3 */
  aliveCountMax: number;
  /** `ConnectTimeout`, s, for each (re)connection. @default 20 */
  connectTimeoutS: number;
  /** `ControlPersist`, s: an idle master left behind (if we are killed) exits after this. @default 30 */
  controlPersistS: number;
  /**
   * Keep the connection open this long after the run, s, in a per-user directory, so that the
   * next run to the same destination skips the SSH handshake (0 = close it at the end, as a
   * fresh connection per run). Also env DISTCOMP_SSH_PERSIST. @default 0
   */
  persistS: number;
  /** Where persistent control sockets live (mode 0700). @default $XDG_RUNTIME_DIR/distcomp-ssh, else /tmp/distcomp-ssh-<uid> */
  persistDir: string;
  /** The ssh and rsync programs. @default 'ssh', 'rsync' (from PATH) */
  sshBin: string;
  rsyncBin: string;
  /** Print each step to stderr. @default false */
  verbose: boolean;
}

/** The flags commander hands over (all strings or booleans, unvalidated). */
export interface SshFlags {
  port?: string;
  sshConfig?: string;
  program?: string;
  remoteDir?: string;
  base?: string;
  removeWorkdir?: boolean;
  alwaysRemoveWorkdir?: boolean;
  attach?: string;
  reconnectAttempts?: string;
  reconnectDelay?: string;
  reconnectMaxDelay?: string;
  aliveInterval?: string;
  aliveCount?: string;
  connectTimeout?: string;
  persist?: string;
  verbose?: boolean;
}

export interface SshOptionsSource {
  /** Positional words: `HOST FILE...` and/or `client_name:H client_cmd:C client_files:a,b`. */
  words: readonly string[];
  flags: SshFlags;
  /** Read: DISTCOMP_SSH_CONFIG, DISTCOMP_SSH_BIN, DISTCOMP_RSYNC_BIN, DISTCOMP_SSH_PERSIST, XDG_RUNTIME_DIR. */
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function number(name: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new SshUsageError(`${name} must be a number from ${min} to ${max}, not ${JSON.stringify(text)}`);
  }
  return n;
}

function integer(name: string, text: string | undefined, fallback: number, min: number, max: number): number {
  const n = number(name, text, fallback, min, max);
  if (!Number.isInteger(n)) throw new SshUsageError(`${name} must be a whole number, not ${JSON.stringify(text)}`);
  return n;
}

/** A directory for persistent control sockets whose path survives rsync's -e splitting. */
function persistDirFor(env: Readonly<Record<string, string | undefined>>): string {
  const runtime = env['XDG_RUNTIME_DIR'];
  if (runtime !== undefined && /^[A-Za-z0-9_./-]{1,60}$/.test(runtime)) return `${runtime}/distcomp-ssh`;
  return `/tmp/distcomp-ssh-${process.getuid?.() ?? 'user'}`;
}

export function compileSshOptions(source: SshOptionsSource): SshOptions {
  const { flags, env, cwd } = source;
  let host: string | undefined;
  let wordProgram: string | undefined;
  const files: string[] = [];

  // The deployed Python variant's words; everything after the first ':' is the value.
  for (const word of source.words) {
    const m = /^(client_name|client_cmd|client_files):(.*)$/s.exec(word);
    if (m) {
      const [, key, value = ''] = m;
      if (key === 'client_name') host = value;
      else if (key === 'client_cmd') wordProgram = value;
      else files.push(...value.split(',').filter((f) => f !== ''));
    } else if (host === undefined) {
      host = word;
    } else {
      files.push(word);
    }
  }
  if (host === undefined || host === '') throw new SshUsageError('no host: give HOST (an ssh_config alias or user@host) or client_name:HOST');
  if (host.startsWith('-')) throw new SshUsageError(`host ${JSON.stringify(host)} looks like an option`);
  if (wordProgram !== undefined && flags.program !== undefined && wordProgram !== flags.program) {
    throw new SshUsageError('client_cmd: and --program disagree; give one');
  }

  const remoteDir = flags.remoteDir ?? DEFAULT_REMOTE_DIR;
  const program = flags.program ?? wordProgram ?? `${remoteDir.replace(/\/+$/, '')}/${DEFAULT_PROGRAM_NAME}`;
  if (program === '' || program.includes('\n')) throw new SshUsageError('the remote program must be one non-empty line');

  const base = flags.base ?? '/tmp';
  if (!base.startsWith('/') || base.includes('\n') || `/${base}/`.includes('/../') || `/${base}/`.includes('/./')) {
    throw new SshUsageError(`the remote base must be an absolute path without . or .. components, not ${JSON.stringify(base)}`);
  }

  const removeWorkdir: RemoveWorkdir = flags.alwaysRemoveWorkdir === true ? 'always' : flags.removeWorkdir === true ? 'success' : 'never';

  if (flags.attach !== undefined && !UUID.test(flags.attach)) {
    throw new SshUsageError(`--attach takes a working directory name (a lower-case UUID), not ${JSON.stringify(flags.attach)}`);
  }
  if (flags.attach !== undefined && files.length > 0) {
    throw new SshUsageError('--attach re-attaches to a started run; it sends no input files');
  }

  const port = flags.port === undefined ? undefined : integer('--port', flags.port, 22, 1, 65535);
  const sshConfig = flags.sshConfig ?? env['DISTCOMP_SSH_CONFIG'];

  return {
    host,
    port,
    sshConfigFile: sshConfig === undefined || sshConfig === '' ? undefined : resolve(cwd, sshConfig),
    program,
    base: base.length > 1 ? base.replace(/\/+$/, '') : base,
    inputs: files.map((f) => resolve(cwd, f)),
    destination: cwd,
    removeWorkdir,
    attach: flags.attach,
    reconnect: {
      attempts: integer('--reconnect-attempts', flags.reconnectAttempts, 8, 0, 1000),
      initialDelayMs: number('--reconnect-delay', flags.reconnectDelay, 1, 0, 3600) * 1000,
      maxDelayMs: number('--reconnect-max-delay', flags.reconnectMaxDelay, 30, 0, 3600) * 1000,
      maxPerRun: 100,
    },
    aliveIntervalS: integer('--alive-interval', flags.aliveInterval, 5, 1, 3600),
    aliveCountMax: integer('--alive-count', flags.aliveCount, 3, 1, 100),
    connectTimeoutS: integer('--connect-timeout', flags.connectTimeout, 20, 1, 3600),
    controlPersistS: 30,
    persistS: integer('--persist', flags.persist ?? env['DISTCOMP_SSH_PERSIST'], 0, 0, 86_400),
    persistDir: persistDirFor(env),
    sshBin: env['DISTCOMP_SSH_BIN'] || 'ssh',
    rsyncBin: env['DISTCOMP_RSYNC_BIN'] || 'rsync',
    verbose: flags.verbose === true,
  };
}
