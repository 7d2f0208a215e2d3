// The SSH method's error registry: one class per failure mode, each with a stable code and
// the exit status `distcomp ssh` ends with. The remote program's own exit status (0-255)
// passes through unchanged; ours sit at the top of the range, where ssh itself puts 255.
// Collisions with a remote program that exits 251-255 cannot be avoided; the message on
// stderr always says which it was.

/** Exit statuses of `distcomp ssh` for its own failures. */
export const SSH_EXIT = {
  /** Bad words or options, or an input file that does not exist. */
  usage: 2,
  /** A local step failed after the fetch (placing the fetched files). */
  local: 251,
  /** The remote program ended without recording an exit status (killed, machine rebooted). */
  programLost: 252,
  /** rsync failed for a reason other than the connection (permissions, disk full...). */
  transfer: 253,
  /** The remote side refused (the authorized_keys gate) or a remote step failed. */
  remote: 254,
  /** No connection, or the connection was lost and every reconnect attempt failed (like ssh). */
  connection: 255,
  /** Interrupted by SIGINT / SIGTERM (128 + signal number). */
  interrupted: 130,
} as const;

export type SshErrorCode =
  | 'SSH_USAGE'
  | 'SSH_MISSING_INPUT'
  | 'SSH_CONNECT'
  | 'SSH_CONNECTION_LOST'
  | 'SSH_REFUSED'
  | 'SSH_REMOTE_STEP'
  | 'SSH_TRANSFER'
  | 'SSH_PROGRAM_LOST'
  | 'SSH_LOCAL_PLACE'
  | 'SSH_INTERRUPTED';

/** The steps of one run, as named in messages. */
export type SshStep = 'check inputs' | 'connect' | 'mkdir' | 'upload' | 'run and fetch' | 'place results' | 'remove workdir' | 'status';

export abstract class SshMethodError extends Error {
  abstract readonly code: SshErrorCode;
  abstract readonly exitCode: number;
  /** The step that failed, when there is one. */
  readonly step: SshStep | undefined;
  /** Last lines of the remote program's log, when they could be read. */
  remoteLogTail: string | undefined;

  constructor(message: string, options: { step?: SshStep; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.step = options.step;
  }
}

export class SshUsageError extends SshMethodError {
  readonly code = 'SSH_USAGE';
  readonly exitCode = SSH_EXIT.usage;
}

export class MissingInputError extends SshMethodError {
  readonly code = 'SSH_MISSING_INPUT';
  readonly exitCode = SSH_EXIT.usage;
}

export class ConnectError extends SshMethodError {
  readonly code = 'SSH_CONNECT';
  readonly exitCode = SSH_EXIT.connection;
}

export class ConnectionLostError extends SshMethodError {
  readonly code = 'SSH_CONNECTION_LOST';
  readonly exitCode = SSH_EXIT.connection;
}

export class RemoteRefusedError extends SshMethodError {
  readonly code = 'SSH_REFUSED';
  readonly exitCode = SSH_EXIT.remote;
}

export class RemoteStepError extends SshMethodError {
  readonly code = 'SSH_REMOTE_STEP';
  readonly exitCode = SSH_EXIT.remote;
}

export class TransferError extends SshMethodError {
  readonly code = 'SSH_TRANSFER';
  readonly exitCode = SSH_EXIT.transfer;
}

export class ProgramLostError extends SshMethodError {
  readonly code = 'SSH_PROGRAM_LOST';
  readonly exitCode = SSH_EXIT.programLost;
}

export class LocalPlaceError extends SshMethodError {
  readonly code = 'SSH_LOCAL_PLACE';
  readonly exitCode = SSH_EXIT.local;
}

export class InterruptedError extends SshMethodError {
  readonly code = 'SSH_INTERRUPTED';
  readonly exitCode: number;
  constructor(signal: NodeJS.Signals, options: { step?: SshStep } = {}) {
    super(`interrupted by ${signal}`, options);
    this.exitCode = signal === 'SIGTERM' ? 143 : SSH_EXIT.interrupted;
  }
}
