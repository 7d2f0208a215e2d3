// `distcomp ssh`: program B of the SSH method, as a commander command built from the option
// table in ssh-argv.ts. main.ts hands ordinary command lines to ssh-argv.ts without loading
// commander; this definition serves help, errors, the full `distcomp --help`, and the rest.
import { Command } from 'commander';
import { SSH_EXIT } from '../ssh/errors.ts';
import { addCliOptions } from './plain-argv.ts';
import { SSH_CLI_OPTIONS, type SshCliFlags } from './ssh-argv.ts';
import { runSshCli } from './ssh-run.ts';

/** `action` is replaceable so the tests can compare both parsers on the same command lines. */
export function sshCommand(action: (words: string[], flags: SshCliFlags) => Promise<void> = runSshCli): Command {
  const command = new Command('ssh')
    .description(
      'run program C on an external computer over SSH: fresh working directory under the base, inputs in, program run detached, whole directory fetched back into the current directory; the remote exit status becomes ours',
    )
    .usage('[options] HOST [FILE...]   or   client_name:HOST client_cmd:PROGRAM client_files:a,b,c')
    .argument('[words...]', 'HOST then input files, or the deployed words client_name:, client_cmd:, client_files:');
  return addCliOptions(command, SSH_CLI_OPTIONS)
    .exitOverride((err) => {
      process.exit(err.exitCode === 0 ? 0 : SSH_EXIT.usage);
    })
    .action(async (words: string[], flags: SshCliFlags) => {
      await action(words, flags);
    });
}
