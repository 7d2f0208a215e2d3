// What `distcomp ssh` does once its command line is read (by ssh-argv.ts, or by commander in
// ssh-command.ts): compile options, run, map errors to exit statuses (src/ssh/errors.ts,
// docs/ssh-method.md). Sets process.exitCode; never throws.
import { SSH_EXIT, SshMethodError, SshUsageError } from '../ssh/errors.ts';
import { runSshJob } from '../ssh/run-ssh-job.ts';
import { compileSshOptions } from '../ssh/ssh-options.ts';
import type { SshCliFlags } from './ssh-argv.ts';

function say(line: string): void {
  process.stderr.write(`distcomp ssh: ${line}\n`);
}

export async function runSshCli(words: string[], flags: SshCliFlags): Promise<void> {
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
}
