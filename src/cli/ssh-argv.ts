// `distcomp ssh`'s options, once, and a parser for its ordinary command lines that does not
// load commander. Program B starts once per module run and its wall time is measured against
// the deployed shell sequence (issue 5); loading commander took 17-32 ms of each run here.
// The commander definition (ssh-command.ts) is built from the same table and still handles
// help, errors and anything this parser does not take, so both read a command line alike.
import { parseArgs } from 'node:util';
import type { SshFlags } from '../ssh/ssh-options.ts';

export interface SshCliOption {
  /** commander's form: `-p, --port <port>`, `--remove-workdir`. */
  flags: string;
  description: string;
  /** Applied when the option is absent (as commander does). */
  defaultValue?: string;
}

export const SSH_CLI_OPTIONS: readonly SshCliOption[] = [
  { flags: '-p, --port <port>', description: 'TCP port (default: from ssh_config, else 22)' },
  { flags: '-F, --ssh-config <file>', description: 'ssh_config file to use instead of ~/.ssh/config (env DISTCOMP_SSH_CONFIG)' },
  { flags: '--program <path>', description: 'program C on the remote side (default: <remote-dir>/execute_remote-side_program_ssh.sh)' },
  { flags: '--remote-dir <dir>', description: 'remote directory holding program C', defaultValue: '~/misrc_remote_workflow/scripts' },
  { flags: '--base <dir>', description: 'remote base directory for working directories', defaultValue: '/tmp' },
  { flags: '--remove-workdir', description: 'remove the remote working directory after a complete fetch, if program C succeeded' },
  { flags: '--always-remove-workdir', description: 'remove the remote working directory after a complete fetch, whatever program C returned' },
  { flags: '--keep-workdir', description: 'keep the remote working directory (the default, as deployed)' },
  { flags: '--attach <uuid>', description: 'collect an earlier run that was interrupted: wait for it and fetch (no upload)' },
  { flags: '--reconnect-attempts <n>', description: 'consecutive reconnect attempts after a dropped connection', defaultValue: '8' },
  { flags: '--reconnect-delay <seconds>', description: 'first reconnect delay (doubles each attempt, jittered)', defaultValue: '1' },
  { flags: '--reconnect-max-delay <seconds>', description: 'largest reconnect delay', defaultValue: '30' },
  { flags: '--alive-interval <seconds>', description: 'ssh ServerAliveInterval: probe period of the connection', defaultValue: '5' },
  { flags: '--alive-count <n>', description: 'ssh ServerAliveCountMax: unanswered probes before the connection counts as dropped', defaultValue: '3' },
  { flags: '--connect-timeout <seconds>', description: 'ssh ConnectTimeout for each (re)connection', defaultValue: '20' },
  {
    flags: '--persist <seconds>',
    description: 'keep the connection open this long after the run so the next run to the same host skips the handshake (env DISTCOMP_SSH_PERSIST; default 0: close it)',
  },
  { flags: '-v, --verbose', description: 'print each step and what ssh/rsync say' },
];

/** The flags object the action gets (commander's camelCase names). */
export type SshCliFlags = SshFlags & { keepWorkdir?: boolean };

interface Spec {
  long: string;
  short: string | undefined;
  takesValue: boolean;
  key: string;
  defaultValue: string | undefined;
}

const SPECS: readonly Spec[] = SSH_CLI_OPTIONS.map((o) => {
  const m = /^(?:-([A-Za-z]), )?--([a-z][a-z-]*)( <[^>]+>)?$/.exec(o.flags);
  if (!m?.[2]) throw new Error(`bad option definition ${o.flags}`);
  const long = m[2];
  return {
    long,
    short: m[1],
    takesValue: m[3] !== undefined,
    key: long.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()),
    defaultValue: o.defaultValue,
  };
});

/**
 * `words` and `flags` from the arguments after `ssh`, or undefined when this command line is
 * one for commander: help, an unknown or malformed option, a value that looks like an option,
 * grouped or attached short options (`-vp`, `-p22`). Only plain forms are taken here:
 * `--name`, `--name value`, `--name=value`, `-x`, `-x value`, words, and `--`.
 */
export function parseSshArgv(args: readonly string[]): { words: string[]; flags: SshCliFlags } | undefined {
  const end = args.indexOf('--');
  for (const arg of end === -1 ? args : args.slice(0, end)) {
    if (arg.startsWith('-') && !arg.startsWith('--') && arg.length !== 2) return undefined;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries(
        SPECS.map((s) => [s.long, s.short === undefined ? { type: s.takesValue ? 'string' : 'boolean' } : { type: s.takesValue ? 'string' : 'boolean', short: s.short }]),
      ) as NonNullable<Parameters<typeof parseArgs>[0]>['options'],
    });
  } catch {
    return undefined;
  }
  const flags: Record<string, string | boolean> = {};
  for (const s of SPECS) {
    const value = parsed.values[s.long];
    if (typeof value === 'string' || typeof value === 'boolean') flags[s.key] = value;
    else if (s.defaultValue !== undefined) flags[s.key] = s.defaultValue;
  }
  return { words: parsed.positionals, flags: flags as SshCliFlags };
}
