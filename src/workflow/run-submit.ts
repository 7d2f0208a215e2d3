// `distcomp submit`: register a calc, allow it, wait for it, fetch and write its results,
// and exit with its outcome, as the deployed workflow program did (webapi-protocol.md,
// "Workflow-side endpoints"), without its fixed sleeps:
//
//   add-calcinfo -> allow-wait-calc -> calc-progress until `got return` -> get-calc-result
//
// Waiting: a relay that announces long polling holds calc-progress until the progress
// changes (one answer per change); a relay without it is asked every `pollIntervalMs`.
// Interrupted (Ctrl+C, SIGTERM) with an accept_id in hand: the calc is cancelled on the relay
// with `"delete":"force"` before we exit, so nothing lingers (the old program did the same).
import { join } from 'node:path';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { CallAborted, ClientError, ProtocolFailure, RelayRefused, RelayUnreachable } from '../client/client-errors.ts';
import { RelayClient, type ResultFilesWire } from '../client/relay-client.ts';
import { sleep } from '../client/retry-policy.ts';
import { STDERR_FILE } from '../protocol/calc-info.ts';
import { showName } from '../protocol/file-names.ts';
import type { Progress } from '../protocol/states.ts';
import { maskToken } from '../protocol/token-mask.ts';
import { buildCalcInfo } from './build-calc-info.ts';
import type { SubmitOptions } from './submit-options.ts';
import { uploadLargeInputs } from './upload-inputs.ts';
import { BLOB_MIN_BYTES } from '../protocol/features.ts';
// write-results.ts and blob-transfer.ts are imported while the calc runs or when needed: every
// module loaded before the first request delays the calc's start (in the built CLI they are part
// of submit's one bundled file, and the import only runs their top level; node:crypto and
// node:http, which they use for streamed results, are required there on first use)

/** Exit statuses of submit (the CLI's shared ones, plus the shell's for signals). */
export const SUBMIT_EXIT = {
  completed: 0,
  abnormal: 1,
  /** usage, configuration or connection error */
  usage: 2,
  sigint: 130,
  sigterm: 143,
} as const;

export class SubmitError extends Error {
  override readonly name = 'SubmitError';
  constructor(message: string, readonly exitCode: number, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface SubmitIo {
  /** One line of progress (stdout). */
  out(line: string): void;
  /** One line of trouble (stderr). */
  err(line: string): void;
  /** Raw text for stderr (the abnormal calc's stderr file). */
  errRaw(text: string): void;
}

export interface SubmitResult {
  exitCode: number;
  acceptId: string;
  status: string;
}

/** A client error as the module author should read it. */
function explain(err: unknown, o: SubmitOptions, retries: number): string {
  if (err instanceof RelayUnreachable) {
    return `cannot reach the relay at ${o.origin} (${err.reason}) after ${retries} retries; is the base url right and the relay running?`;
  }
  if (err instanceof RelayRefused) {
    return `the relay refused the API token (${maskToken(o.token)}, from ${o.tokenFrom}) on ${err.endpoint}: ${err.message}`;
  }
  if (err instanceof ClientError) return `${err.endpoint}: ${err.message}`;
  return (err as Error)?.message ?? String(err);
}

function signalExit(interrupt: AbortSignal): number {
  return interrupt.reason === 'SIGTERM' ? SUBMIT_EXIT.sigterm : SUBMIT_EXIT.sigint;
}

/**
 * `exitsAfter`: the process exits as soon as this returns (the CLI's fast path), and its
 * connections go with it: they are not closed here, because closing a socket makes Node create
 * process.stderr (net's Socket._destroy reads it), 2-3 ms here, in a quiet submit that never
 * writes to it.
 */
export async function runSubmit(o: SubmitOptions, io: SubmitIo, interrupt: AbortSignal, exitsAfter = false): Promise<SubmitResult> {
  for (const w of o.warnings) io.err(`warning: ${w}`);
  const info = buildCalcInfo(o);
  const client = new RelayClient({
    baseUrl: o.baseUrl, port: o.port, token: o.token, retry: o.retry,
    http: { verifyTls: o.verifyTls, caFile: o.caFile },
    userAgent: 'distcomp-submit',
    onRetry: (e) => io.err(`${e.endpoint}: ${e.reason}; retry ${e.retry}/${e.retries} in ${(e.delayMs / 1000).toFixed(1)} s`),
  });
  const say = (line: string): void => {
    if (!o.quiet) io.out(line);
  };
  let acceptId: string | null = null;
  // the retries in force (for messages): o.retry until the calc is allowed, then o.waitRetry
  let retries = o.retry.retries;
  try {
    if (interrupt.aborted) throw new SubmitError('interrupted before anything was sent', signalExit(interrupt));
    // not abortable: if the relay registers it, we must learn the id to cancel it
    await uploadLargeInputs(client, info, o.inputs, interrupt);
    // registered and allowed in one call where the relay can (`combined`); a deployed relay
    // only registers, and is then asked to allow
    const reg = await client.addCalcInfoAndAllow(info);
    acceptId = reg.acceptId;
    say(`accept_id = ${acceptId}`);
    if (interrupt.aborted) throw new CallAborted('add-calcinfo');
    if (!reg.allowed) await client.allowWaitCalc(acceptId, { signal: interrupt });
    retries = o.waitRetry.retries;
    // loaded while the external computer works (a failure shows where it is awaited); with the
    // `blobs` feature the results come as references, fetched by blob-transfer.ts
    const writing = import('./write-results.ts');
    const fetching = client.has('blobs') ? import('../client/blob-transfer.ts') : null;
    for (const p of [writing, fetching]) p?.catch(() => {});

    // with the `blobs` feature large files come as references (streamed down, verified,
    // resumable), small ones inline
    const refs = client.has('blobs');
    const policy = { refs, inlineUnder: BLOB_MIN_BYTES };
    let progress: Progress = 'not start';
    let status: string | null = null;
    let reason: string | null = null;
    // where the relay can (`combined`), the answer that reports got return brings the results
    let files: ResultFilesWire | undefined;
    while (progress !== 'got return') {
      // quiet: no state is shown on the way, so the relay is asked to answer at got return only
      // (one answer and one wake-up of this process fewer while the external computer works)
      const until: Progress | undefined = o.quiet ? 'got return' : undefined;
      const a = await client.calcProgress(acceptId, { since: progress, until, waitS: o.waitS, signal: interrupt, retry: o.waitRetry, results: policy });
      if (a.progress !== progress) {
        say(`progress status change from ${progress} to ${a.progress}`);
        progress = a.progress;
      }
      status = a.status;
      reason = a.reason;
      files = a.files;
      if (progress !== 'got return' && !client.longPoll) await sleep(o.pollIntervalMs, interrupt, 'poll wait');
    }
    // (a calc whose results came with the last answer is collected: its status came with them)
    if ((status === null || status === 'none') && files === undefined) {
      const s = await client.calcStatus(acceptId, { signal: interrupt, retry: o.waitRetry });
      status = s.status;
      reason = s.reason ?? reason;
    }
    status ??= 'none';
    say(`calc status = ${status}`);

    // from here on the relay hands the results over and forgets the calc: nothing to cancel
    files ??= await client.getCalcResult(acceptId, { retry: o.waitRetry, ...policy });
    const id = acceptId;
    acceptId = null;
    const { writeResults } = await writing;
    const download = async (ref: { sha256: string; size: number }, tmp: string, part: string): Promise<void> => {
      const { downloadBlob } = await (fetching ?? import('../client/blob-transfer.ts'));
      await downloadBlob(client, ref, tmp, part, { signal: interrupt });
    };
    const w = await writeResults(o.outDir, files, refs ? download : undefined);
    if (w.written.length > 0) say(`wrote ${w.written.map(showName).join(', ')} into ${o.outDir}`);
    for (const m of w.missing) io.err(`${showName(m.name)} was not sent back: ${m.message}`);
    for (const r of w.refused) io.err(`${showName(r.name)} NOT written: ${r.reason}`);
    if (status === 'abnormal') {
      io.err(`calc ${id} ended abnormal${reason ? `: ${reason}` : ''}`);
      // shown from the file just written (it may have come as a streamed blob), its last 64 KiB
      const text = w.written.includes(STDERR_FILE) ? tailOf(join(o.outDir, STDERR_FILE), 64 * 1024) : '';
      if (text !== '') {
        io.err(`--- ${STDERR_FILE} ---`);
        io.errRaw(text.endsWith('\n') ? text : `${text}\n`);
        io.err(`--- end of ${STDERR_FILE} ---`);
      }
    }
    const exitCode = status === 'abnormal' || w.refused.length > 0 ? SUBMIT_EXIT.abnormal : SUBMIT_EXIT.completed;
    return { exitCode, acceptId: id, status };
  } catch (err) {
    if (acceptId !== null && (interrupt.aborted || err instanceof CallAborted)) {
      const id = acceptId;
      try {
        await client.cancelWaitCalc(id, { force: true, retry: { retries: 2, intervalMs: 300, jitter: 0.1 } });
        io.err(`interrupted: calc ${id} cancelled on the relay`);
      } catch (cancelErr) {
        io.err(`interrupted: calc ${id} could NOT be cancelled on the relay: ${explain(cancelErr, o, 2)}`);
      }
      throw new SubmitError(`interrupted (${String(interrupt.reason ?? 'signal')})`, signalExit(interrupt), { cause: err });
    }
    if (err instanceof SubmitError) throw err;
    if (err instanceof ProtocolFailure && acceptId !== null && (err.endpoint === 'calc-progress' || err.endpoint === 'calc-status')) {
      throw new SubmitError(`calc ${acceptId}: the relay no longer knows it (cancelled elsewhere, or removed): ${err.message}`, SUBMIT_EXIT.abnormal, { cause: err });
    }
    if (err instanceof ClientError) {
      const where = acceptId !== null ? ` (calc ${acceptId} may still be on the relay)` : '';
      throw new SubmitError(`${explain(err, o, retries)}${where}`, SUBMIT_EXIT.usage, { cause: err });
    }
    throw err;
  } finally {
    if (!exitsAfter) await client.close();
  }
}

/** The last `max` bytes of a file, as text ('' when it cannot be read). */
function tailOf(path: string, max: number): string {
  try {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const size = fstatSync(fd).size;
      const buf = Buffer.alloc(Math.min(size, max));
      readSync(fd, buf, 0, buf.length, size - buf.length);
      return (size > max ? '…' : '') + buf.toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return '';
  }
}
