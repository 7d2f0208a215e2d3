// `distcomp ssh`: program B of the SSH method. Parse, compile options, run, map errors to
// exit statuses (see src/ssh/errors.ts and docs/ssh-method.md).
import { Command } from 'commander';
import { SSH_EXIT, SshMethodError, SshUsageError } from '../ssh/errors.ts';
import { runSshJob } from '../ssh/run-ssh-job.ts';
import { compileSshOptions, type SshFlags } from '../ssh/ssh-options.ts';

function say(line: string): void {
  process.stderr.write(`distcomp ssh: ${line}\n`);
}

export function sshCommand(): Command {
  return new Command('ssh')
    .description(
      'run program C on an external computer over SSH: fresh working directory under the base, inputs in, program run detached, whole directory fetched back into the current directory; the remote exit status becomes ours',
    )
    .usage('[options] HOST [FILE...]   or   client_name:HOST client_cmd:PROGRAM client_files:a,b,c')
    .argument('[words...]', 'HOST then input files, or the deployed words client_name:, client_cmd:, client_files:')
    .option('-p, --port <port>', 'TCP port (default: from ssh_config, else 22)')
    .option('-F, --ssh-config <file>', 'ssh_config file to use instead of ~/.ssh/config (env DISTCOMP_SSH_CONFIG)')
    .option('--program <path>', 'program C on the remote side (default: <remote-dir>/execute_remote-side_program_ssh.sh)')
    .option('--remote-dir <dir>', 'remote directory holding program C', '~/misrc_remote_workflow/scripts')
    .option('--base <dir>', 'remote base directory for working directories', '/tmp')
    .option('--remove-workdir', 'remove the remote working directory after a complete fetch, if program C succeeded')
    .option('--always-remove-workdir', 'remove the remote working directory after a complete fetch, whatever program C returned')
    .option('--keep-workdir', 'keep the remote working directory (the default, as deployed)')
    .option('--attach <uuid>', 'collect an earlier run that was interrupted: wait for it and fetch (no upload)')
    .option('--reconnect-attempts <n>', 'consecutive reconnect attempts after a dropped connection', '8')
    .option('--reconnect-delay <seconds>', 'first reconnect delay (doubles each attempt, jittered)', '1')
    .option('--reconnect-max-delay <seconds>', 'largest reconnect delay', '30')
    .option('--alive-interval <seconds>', 'ssh ServerAliveInterval: probe period of the connection', '5')
    .option('--alive-count <n>', 'ssh ServerAliveCountMax: unanswered probes before the connection counts as dropped', '3')
    .option('--connect-timeout <seconds>', 'ssh ConnectTimeout for each (re)connection', '20')
    .option('--persist <seconds>', 'keep the connection open this long after the run so the next run to the same host skips the handshake (env DISTCOMP_SSH_PERSIST; default 0: close it)')
    .option('-v, --verbose', 'print each step and what ssh/rsync say')
    .exitOverride((err) => {
      process.exit(err.exitCode === 0 ? 0 : SSH_EXIT.usage);
    })
    .action(async (words: string[], flags: SshFlags & { keepWorkdir?: boolean }) => {
      const controller = new AbortController();
      const onSignal = (signal: NodeJS.Signals): void => {
        if (controller.signal.aborted) process.exit(signal === 'SIGTERM' ? 143 : SSH_EXIT.interrupted);
        say(`${signal}: stopping (again to force)`);
        controller.abort(signal);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        if (flags.keepWorkdir === true && (flags.removeWorkdir === true || flags.alwaysRemoveWorkdir === true)) {
          throw new SshUsageError('--keep-workdir and --remove-workdir contradict each other');
        }
        const options = compileSshOptions({ words, flags, env: process.env, cwd: process.cwd() });
        const result = await runSshJob(
          options,
          { say, verbose: options.verbose ? (chunk) => process.stderr.write(chunk) : undefined },
          controller.signal,
        );
        process.exitCode = result.exitStatus;
      } catch (err) {
        if (err instanceof SshMethodError) {
          say(`${err.code}: ${err.message}`);
          if (err.remoteLogTail !== undefined) say(`--- last lines of the remote log ---\n${err.remoteLogTail}\n---`);
          process.exitCode = err.exitCode;
        } else {
          say(`unexpected failure: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
          process.exitCode = SSH_EXIT.local;
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
