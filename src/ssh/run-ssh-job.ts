// One run of the SSH method, start to end: the deployed contract (fresh UUID working
// directory under the base, inputs in, program C there with its output in
// remote_program_exec.log, the whole directory back into the destination, the remote exit
// status passed on) over one multiplexed connection that survives drops.
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ControlMaster } from './control-master.ts';
import { InterruptedError, MissingInputError, ProgramLostError, SshMethodError, type SshStep } from './errors.ts';
import { placeResults, stagingName } from './place-results.ts';
import { withReconnect, type ReconnectContext } from './reconnect.ts';
import { makeWorkdir, remoteStatus, removeWorkdir, runAndFetch, uploadInputs, type StepContext } from './remote-steps.ts';
import { lastLines } from './run-process.ts';
import type { SshOptions } from './ssh-options.ts';

/** The log program C writes in its working directory (deployed name). */
export const REMOTE_LOG = 'remote_program_exec.log';
/** Lines of the remote log shown after a failure. */
export const LOG_TAIL_LINES = 20;

/** Where a run is; each transition is one assignment in runSshJob. */
export type SshJobState =
  | 'checking'
  | 'connecting'
  | 'uploading'
  | 'running'
  | 'placing'
  | 'cleaning'
  | 'done'
  | 'failed';

export interface SshJobReport {
  /** Human progress lines (stderr). */
  say: (line: string) => void;
  /** Raw stderr of ssh/rsync, only with --verbose. */
  verbose?: (chunk: string) => void;
  /** Every state change, with the working directory once it is known. */
  onState?: (state: SshJobState, info: { uuid: string; master?: ControlMaster }) => void;
}

export interface SshJobResult {
  /** Program C's exit status, which becomes ours. */
  exitStatus: number;
  uuid: string;
  /** `HOST:BASE/UUID`, for messages and investigation. */
  workdir: string;
}

function checkInputs(inputs: readonly string[]): void {
  for (const input of inputs) {
    try {
      statSync(input); // follows symlinks: a dangling link is a missing input too
    } catch {
      throw new MissingInputError(`check inputs: input file ${JSON.stringify(input)} does not exist`, { step: 'check inputs' });
    }
  }
}

export async function runSshJob(options: SshOptions, report: SshJobReport, signal?: AbortSignal): Promise<SshJobResult> {
  const uuid = options.attach ?? randomUUID();
  const workdir = `${options.host}:${options.base === '/' ? '' : options.base}/${uuid}`;
  let state: SshJobState = 'checking';
  let master: ControlMaster | undefined;
  const enter = (next: SshJobState): void => {
    state = next;
    report.onState?.(state, { uuid, master });
  };
  enter('checking');
  checkInputs(options.inputs);

  master = new ControlMaster(options);
  const ctx: StepContext & ReconnectContext = {
    master,
    options,
    uuid,
    signal,
    say: report.say,
    onStderr: report.verbose,
    reconnects: 0,
  };
  // With --verbose, each step says when it starts, in ms since this process started (Node's
  // own start-up included), so where a run's wall time goes can be read off one run.
  const step = (name: SshStep | 'done'): void => {
    if (options.verbose) report.say(`step: ${name} (at ${Math.round(performance.now())} ms)`);
  };

  try {
    enter('connecting');
    step('connect');
    await master.connect(signal);
    report.say(`working directory ${workdir}`);

    if (options.attach === undefined) {
      enter('uploading');
      if (options.inputs.length === 0) {
        step('mkdir');
        await withReconnect(ctx, 'mkdir', () => makeWorkdir(ctx));
      } else {
        step('upload');
        await withReconnect(ctx, 'upload', () => uploadInputs(ctx));
      }
    }

    enter('running');
    step('run and fetch');
    const staging = join(options.destination, stagingName(uuid));
    const { programLost } = await withReconnect(ctx, 'run and fetch', () => runAndFetch(ctx, staging));

    enter('placing');
    const exitStatus = placeResults(staging, options.destination);
    if (exitStatus === undefined) {
      const err = new ProgramLostError(
        `run and fetch: program ${JSON.stringify(options.program)} ended without recording an exit status${programLost ? ' (lost on the remote side)' : ''}; what was left is in ${options.destination}, and on ${workdir}`,
        { step: 'run and fetch' },
      );
      err.remoteLogTail = localLogTail(options.destination);
      throw err;
    }

    const remove = options.removeWorkdir === 'always' || (options.removeWorkdir === 'success' && exitStatus === 0);
    if (remove) {
      enter('cleaning');
      step('remove workdir');
      await withReconnect(ctx, 'remove workdir', () => removeWorkdir(ctx));
    }
    if (exitStatus !== 0) {
      report.say(`program ${JSON.stringify(options.program)} exited with status ${exitStatus} in ${workdir}`);
      const logTail = localLogTail(options.destination);
      if (logTail !== undefined) report.say(`--- last lines of ${REMOTE_LOG} ---\n${logTail}\n---`);
    }
    step('done');
    enter('done');
    return { exitStatus, uuid, workdir };
  } catch (err) {
    enter('failed');
    const wrapped = signal?.aborted
      ? new InterruptedError(signal.reason === 'SIGTERM' ? 'SIGTERM' : 'SIGINT', { step: err instanceof SshMethodError ? err.step : undefined })
      : err;
    if (wrapped instanceof SshMethodError && wrapped.remoteLogTail === undefined && !signal?.aborted) {
      wrapped.remoteLogTail = await remoteLogTail(ctx);
    }
    if (wrapped instanceof InterruptedError) {
      report.say(`stopped; the remote program (if started) keeps running in ${workdir}; collect it later with: distcomp ssh --attach ${uuid} ${options.host}`);
    } else if (wrapped instanceof SshMethodError && state !== 'checking' && state !== 'connecting') {
      report.say(`the remote working directory is kept: ${workdir}`);
    }
    throw wrapped;
  } finally {
    await master.close().catch(() => undefined);
  }
}

function localLogTail(destination: string): string | undefined {
  const path = join(destination, REMOTE_LOG);
  if (!existsSync(path)) return undefined;
  return lastLines(readFileSync(path, 'utf8'), LOG_TAIL_LINES);
}

/** Best effort: the remote log's tail after a failure, if the connection still works. */
async function remoteLogTail(ctx: StepContext): Promise<string | undefined> {
  try {
    if (!(await ctx.master.isAlive())) return undefined;
    const out = await remoteStatus(ctx);
    const lines = out.split('\n');
    const body = lines.slice(1).join('\n').trimEnd();
    return body === '' ? undefined : body;
  } catch {
    return undefined;
  }
}
