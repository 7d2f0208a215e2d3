// The remote steps of one run, each one ssh or rsync session through the master, and the
// reading of how each ended. Any word that reaches the remote shell goes through
// remoteCommandLine (single quotes); rsync gets file names as arguments, never via a shell.
import type { ControlMaster } from './control-master.ts';
import {
  RemoteRefusedError,
  RemoteStepError,
  TransferError,
  type SshMethodError,
  type SshStep,
} from './errors.ts';
import { agentWords } from './remote-agent.ts';
import { remoteCommandLine } from './remote-command.ts';
import { describeExit, lastLines, runProcess, type ProcessResult } from './run-process.ts';
import type { SshOptions } from './ssh-options.ts';

/**
 * A step ended the way a dropped connection ends (ssh 255, rsync 10/12/30/35/255, a signal).
 * Whether it was one is decided by asking the master (see reconnect.ts); if the connection
 * turns out to be up, `otherwise` is the error to report.
 */
export class MaybeDroppedError extends Error {
  constructor(
    readonly step: SshStep,
    readonly otherwise: SshMethodError,
  ) {
    super(otherwise.message);
  }
}

/** rsync exit codes that a broken connection produces (rsync(1), EXIT VALUES). */
const RSYNC_CONNECTION_CODES = new Set([10, 12, 30, 35, 255]);

/** Our remote script's own report lines: `distcomp-ssh: <kind>: <text>`. */
function agentLine(stderr: string, kind: string): string | undefined {
  const m = new RegExp(`^distcomp-ssh: ${kind}: (.*)$`, 'm').exec(stderr);
  return m?.[1];
}

export interface StepContext {
  master: ControlMaster;
  options: SshOptions;
  uuid: string;
  signal?: AbortSignal;
  onStderr?: (chunk: string) => void;
}

/** Turn how a session ended into nothing (success) or the right error. */
export function checkStep(step: SshStep, tool: 'ssh' | 'rsync', r: ProcessResult): void {
  if (r.code === 0) return;
  const refused = agentLine(r.stderr, 'refused');
  if (refused !== undefined) throw new RemoteRefusedError(`${step}: the remote side refused: ${refused}`, { step });
  const failed = agentLine(r.stderr, 'error');
  if (failed !== undefined) throw new RemoteStepError(`${step}: ${failed}`, { step });
  const detail = lastLines(r.stderr) || `${tool} exited ${describeExit(r)}`;
  const otherwise =
    tool === 'rsync'
      ? new TransferError(`${step}: rsync failed (${describeExit(r)}): ${detail}`, { step })
      : new RemoteStepError(`${step}: ssh failed (${describeExit(r)}): ${detail}`, { step });
  const dropped = r.code === null || (tool === 'ssh' ? r.code === 255 : RSYNC_CONNECTION_CODES.has(r.code));
  if (dropped) throw new MaybeDroppedError(step, otherwise);
  throw otherwise;
}

function remotePath(ctx: StepContext): string {
  return `${ctx.options.base === '/' ? '' : ctx.options.base}/${ctx.uuid}/`;
}

function agentSession(ctx: StepContext, words: string[]): Promise<ProcessResult> {
  const o = ctx.options;
  return runProcess(o.sshBin, [...ctx.master.clientArgs(), o.host, remoteCommandLine(words)], {
    signal: ctx.signal,
    onStderr: ctx.onStderr,
  });
}

/** Create the working directory (only needed when there is no input to create it). */
export async function makeWorkdir(ctx: StepContext): Promise<void> {
  const r = await agentSession(ctx, agentWords('mkdir', ctx.options.base, ctx.uuid));
  checkStep('mkdir', 'ssh', r);
}

// rsync flags: -rlptD is -a without owner/group (as deployed by a non-root user, and so a
// root caller does not chown files to remote uids); --partial-dir keeps a broken file's
// first part out of sight and lets the next try resume from it.
const RSYNC_FLAGS = ['-rlptD', '--partial-dir=.rsync-partial'];

/**
 * Send the inputs into <base>/<uuid>/ (rsync creates that last directory). -L sends what
 * symlinks point to. Sources are absolute paths, so none can pass for an option or host:path.
 */
export async function uploadInputs(ctx: StepContext): Promise<void> {
  const o = ctx.options;
  const r = await runProcess(
    o.rsyncBin,
    [...RSYNC_FLAGS, '-L', '-e', ctx.master.rsyncShell(), ...o.inputs, `${o.host}:${remotePath(ctx)}`],
    { signal: ctx.signal, onStderr: ctx.onStderr },
  );
  checkStep('upload', 'rsync', r);
}

/** Our control directory in the working directory; never placed into the destination. */
export const CONTROL_DIR = '.distcomp';

/**
 * Start program C (once), wait for it, and fetch the whole working directory into
 * `staging`. The remote end is our script's `fetch` verb, which hands over to the rsync
 * server when the program's exit status is on disk.
 */
export async function runAndFetch(ctx: StepContext, staging: string): Promise<{ programLost: boolean }> {
  const o = ctx.options;
  const rsyncPath = remoteCommandLine(agentWords('fetch', o.base, ctx.uuid, o.program, 'rsync'));
  let programLost = false;
  const r = await runProcess(
    o.rsyncBin,
    [...RSYNC_FLAGS, '-e', ctx.master.rsyncShell(), `--rsync-path=${rsyncPath}`, `${o.host}:${remotePath(ctx)}`, `${staging}/`],
    {
      signal: ctx.signal,
      onStderr: (chunk) => {
        if (chunk.includes('distcomp-ssh: program-lost:')) programLost = true;
        ctx.onStderr?.(chunk);
      },
    },
  );
  checkStep('run and fetch', 'rsync', r);
  return { programLost: programLost || agentLine(r.stderr, 'program-lost') !== undefined };
}

/** Ask for the program's state and the tail of its log (for messages after a failure). */
export async function remoteStatus(ctx: StepContext): Promise<string> {
  const r = await agentSession(ctx, agentWords('status', ctx.options.base, ctx.uuid));
  checkStep('status', 'ssh', r);
  return r.stdout;
}

export async function removeWorkdir(ctx: StepContext): Promise<void> {
  const r = await agentSession(ctx, agentWords('rm', ctx.options.base, ctx.uuid));
  checkStep('remove workdir', 'ssh', r);
}
