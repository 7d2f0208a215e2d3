// What `distcomp submit` does once its command line is read (by submit-argv.ts, or by
// commander in submit-command.ts): compile options, run, map errors to exit statuses:
// 0 completed, 1 abnormal, 2 usage or connection error, 130/143 interrupted (the calc was
// cancelled on the relay). Prints its own failures; never throws.
import { HttpOptionsError } from '../client/http-options.ts';
import { runSubmit, SubmitError } from '../workflow/run-submit.ts';
import { compileSubmitOptions, type SubmitFlags } from '../workflow/submit-options.ts';
import { EXIT } from './cli-errors.ts';

/** The standard streams this submit wrote to (see writtenStreams()). */
const written = new Set<'stdout' | 'stderr'>();

function write(to: 'stdout' | 'stderr', text: string): void {
  written.add(to);
  process[to].write(text);
}

/** The standard streams written so far, for exitFlushed(): only those exist and need a flush. */
export function writtenStreams(): NodeJS.WriteStream[] {
  return [...written].map((to) => process[to]);
}

function fail(message: string, code: number): number {
  write('stderr', `distcomp submit: ${message}\n`);
  return code;
}

/** Runs one submit; resolves with the exit status. `exitsAfter`: see runSubmit(). */
export async function runSubmitCli(positionals: string[], flags: SubmitFlags, exitsAfter = false): Promise<number> {
  let opts;
  try {
    opts = compileSubmitOptions({ positionals, flags, env: process.env, cwd: process.cwd() });
  } catch (err) {
    // SubmitOptionsError, or a file that could not be read: a usage error either way
    return fail((err as Error).message, EXIT.usage);
  }
  const interrupt = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (interrupt.signal.aborted) process.exit(signal === 'SIGTERM' ? 143 : 130);
    write('stderr', `distcomp submit: ${signal}: cancelling the calc on the relay (again to exit at once)\n`);
    interrupt.abort(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const r = await runSubmit(opts, {
      out: (l) => write('stdout', `${l}\n`),
      err: (l) => write('stderr', `distcomp submit: ${l}\n`),
      errRaw: (t) => write('stderr', t),
    }, interrupt.signal, exitsAfter);
    return r.exitCode;
  } catch (err) {
    if (err instanceof SubmitError) return fail(err.message, err.exitCode);
    if (err instanceof HttpOptionsError) return fail(err.message, EXIT.usage);
    return fail((err as Error)?.message ?? String(err), EXIT.usage);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
