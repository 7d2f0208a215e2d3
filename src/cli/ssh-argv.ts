// `distcomp ssh`'s options, once, and a reader of its ordinary command lines that does not
// load commander (plain-argv.ts). Program B starts once per module run and its wall time is measured against
// the deployed shell sequence (issue 5); loading commander took 17-32 ms of each run here.
// The commander definition (ssh-command.ts) is built from the same table and still handles
// help, errors and anything this parser does not take, so both read a command line alike.
import type { SshFlags } from '../ssh/ssh-options.ts';
import { plainArgvReader, type CliOption } from './plain-argv.ts';

export type SshCliOption = CliOption;

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

const readSshArgv = plainArgvReader(SSH_CLI_OPTIONS);

/**
 * `words` and `flags` from the arguments after `ssh`, or undefined when this command line is
 * one for commander (see plainArgvReader()).
 */
export function parseSshArgv(args: readonly string[]): { words: string[]; flags: SshCliFlags } | undefined {
  const r = readSshArgv(args);
  return r && { words: r.positionals, flags: r.flags as SshCliFlags };
}
