// One calc, from the claim to end-send, as a walk through the journal's phases. Every step
// first does its work, then records it; a restarted agent re-enters the walk at the recorded
// phase. Steps that reach the relay are idempotent in effect: if the relay refuses one because
// the calc is already at or past the step's target (the answer to our first try was lost, or
// we are resuming), the step counts as done.
//
// A leased calc (ours) is heartbeated for the whole walk (heartbeat.ts) and names its attempt
// on every call. When the relay says the calc was cancelled, or that this attempt no longer
// holds it (the lease expired while the agent was cut off, or the calc was handed out again),
// the command's process group is stopped (TERM, then KILL after --kill-grace) and nothing more
// is sent: the calc has already ended once on the relay, and must not end twice.
import { STDERR_FILE, STDOUT_FILE, parseAddCalcInfoBody } from '../protocol/calc-info.ts';
import { ProtocolError } from '../protocol/errors.ts';
import { progressAtLeast, type Progress } from '../protocol/states.ts';
import { CallAborted, ProtocolFailure } from '../client/client-errors.ts';
import { isCancelled, isLeaseLost, progressNamedIn, type RefsPolicy, type RelayClient, type RemoteCallOptions } from '../client/relay-client.ts';
import { sleep } from '../client/retry-policy.ts';
import type { AgentEvent } from './agent-events.ts';
import type { AgentOptions } from './agent-options.ts';
import { commandRefusal } from './agent-rules.ts';
import { asBlobReferences, hasBlobResults } from './blob-results.ts';
import { collectResults, resultUploads } from './collect-results.ts';
import { advance, writeJournal, type CalcOutcome, type JournalData } from './journal.ts';
import { calcIsGone, Heartbeat } from './heartbeat.ts';
import type { PreforkedExec } from './prefork-exec.ts';
import type { Lifecycle } from './lifecycle.ts';
import { discardSpareOutputs, groupAlive, killGroup, noteInStderr, runCommand } from './run-calc.ts';
import { ShellWordsError, splitShellWords } from './shell-words.ts';
import { inputFilePath, partFilePath, removeWorkdir, writeInputFile } from './workdir.ts';
import { downloadBlob } from '../client/blob-transfer.ts';

export interface CalcContext {
  client: RelayClient;
  opts: AgentOptions;
  lifecycle: Lifecycle;
  emit: (e: AgentEvent) => void;
}


const GONE = 'the relay no longer knows this calc (cancelled or expired on the MInt side)';

/** Done, or why the walk must stop without sending anything more. */
type StepOutcome = 'ok' | { stop: string };

/** Why the relay refused for good (cancelled, lease lost, unknown calc), or null for other errors. */
function stopReason(err: unknown, hb: Heartbeat | null): string | null {
  if (hb?.stopReason) return hb.stopReason.reason;
  if (isCancelled(err)) return 'the calc was cancelled by its workflow side';
  if (isLeaseLost(err)) return `the relay no longer counts this agent's claim: ${(err as ProtocolFailure).protocolMessage}`;
  if (calcIsGone(err)) return GONE;
  return null;
}

/**
 * One call that moves the calc towards `target`: 'ok' (also when the relay refuses because it is
 * already at or past `target`: the answer to an earlier try was lost, or we are resuming), a
 * stop (cancelled, lease lost, calc gone), or, with `partWay`, the lower progress the relay named
 * when it refused (a combined call whose first steps an earlier run took: the caller goes on
 * with the separate calls from there). Other failures are thrown.
 */
async function relayCall(ctx: CalcContext, j: JournalData, hb: Heartbeat | null, step: string, target: Progress, call: () => Promise<unknown>, partWay: boolean): Promise<StepOutcome | Progress> {
  if (hb?.stopReason) return { stop: hb.stopReason.reason };
  try {
    await call();
    ctx.emit({ type: 'step', acceptId: j.acceptId, step });
    return 'ok';
  } catch (err) {
    const p = progressNamedIn(err);
    if (p !== null && progressAtLeast(p, target)) {
      ctx.emit({ type: 'step', acceptId: j.acceptId, step, note: `the relay already has it (progress "${p}")` });
      return 'ok';
    }
    if (p !== null && partWay) return p;
    const why = stopReason(err, hb);
    if (why !== null && (!(err instanceof CallAborted) || hb?.stopReason)) return { stop: why };
    if (err instanceof ProtocolFailure) ctx.emit({ type: 'protocol-failure', endpoint: err.endpoint, code: err.code, message: err.protocolMessage, acceptId: j.acceptId });
    throw err;
  }
}

function relayStep(ctx: CalcContext, j: JournalData, hb: Heartbeat | null, step: string, target: Progress, call: () => Promise<unknown>): Promise<StepOutcome> {
  return relayCall(ctx, j, hb, step, target, call, false) as Promise<StepOutcome>;
}

interface Prepared {
  calc: NonNullable<JournalData['calc']>;
  refusal: string | null;
  /** Inputs to fetch with downloadBlob() (relays with the `blobs` feature). */
  downloads: { name: string; sha256: string; size: number }[];
}

/** Checks calc-info as strictly as the relay should have, and applies this computer's rules. */
function prepare(ctx: CalcContext, workdir: string, raw: Record<string, unknown>): Prepared {
  const command = typeof raw['command'] === 'string' ? raw['command'] : '';
  const parameters = typeof raw['parameters'] === 'string' ? raw['parameters'] : '';
  const rf = raw['result_files'];
  const names = typeof rf === 'object' && rf !== null && !Array.isArray(rf) ? Object.keys(rf) : [STDOUT_FILE, STDERR_FILE];
  const calc = { command, parameters, resultNames: names };
  let info;
  try {
    info = parseAddCalcInfoBody({ 'calc-info': raw });
  } catch (err) {
    if (err instanceof ProtocolError) return { calc, refusal: `the relay sent an invalid calc-info: ${err.message}`, downloads: [] };
    throw err;
  }
  calc.resultNames = info.resultNames;
  const refused = (refusal: string): Prepared => ({ calc, refusal, downloads: [] });
  if (info.site !== ctx.opts.siteId) return refused(`the calc is for site ${JSON.stringify(info.site)}, not ${JSON.stringify(ctx.opts.siteId)}`);
  const cmdWhy = commandRefusal(ctx.opts.rules, info.command);
  if (cmdWhy !== null) return refused(cmdWhy);
  try {
    splitShellWords(info.parameters);
  } catch (err) {
    if (err instanceof ShellWordsError) return refused(err.message);
    throw err;
  }
  const downloads: Prepared['downloads'] = [];
  try {
    for (const f of info.parameterFiles) {
      if (f.content?.kind === 'base64') writeInputFile(workdir, f.name, Buffer.from(f.content.text, 'base64'));
      else if (f.content?.kind === 'blob') {
        inputFilePath(workdir, f.name); // the name is checked before anything is fetched
        downloads.push({ name: f.name, sha256: f.content.sha256, size: f.content.size });
      } else if (f.content !== null) throw new Error(`${f.name}: the relay sent a ${f.content.kind} content`);
    }
  } catch (err) {
    return refused(`cannot write the input files: ${(err as Error).message}`);
  }
  return { calc, refusal: null, downloads };
}

function abnormal(reason: string, exitCode: number | null = null, signal: string | null = null): CalcOutcome {
  return { result: 'abnormal', reason, exitCode, signal };
}

/** Aborts on a second Ctrl+C, and for a leased calc when the relay says stop. */
function killSignalOf(ctx: CalcContext, hb: Heartbeat | null): AbortSignal {
  return hb ? AbortSignal.any([ctx.lifecycle.stopSignal, hb.signal]) : ctx.lifecycle.stopSignal;
}

/** Runs the command (phase `starting` → `running` → `exited`). */
async function runAndJudge(ctx: CalcContext, workdir: string, j: JournalData, hb: Heartbeat | null, prefork: PreforkedExec | null): Promise<{ j: JournalData; outcome: CalcOutcome }> {
  const calc = j.calc as NonNullable<JournalData['calc']>;
  const args = splitShellWords(calc.parameters);
  let current = j;
  const r = await runCommand({
    command: calc.command, args, workdir, env: ctx.opts.childEnv, killSignal: killSignalOf(ctx, hb), killGraceMs: ctx.opts.killGraceMs, prefork,
    onSpawn: (pid) => {
      current = advance(workdir, current, 'running', { pid });
      ctx.emit({ type: 'command-start', acceptId: j.acceptId, command: calc.command, args, pid, workdir });
    },
  });
  ctx.emit({ type: 'command-exit', acceptId: j.acceptId, exitCode: r.exitCode, signal: r.signal, killedByAgent: r.killedByAgent });
  let outcome: CalcOutcome;
  // the agent's own reasons go into the stderr file too: it is what the workflow side reads
  let note = true;
  if (r.spawnError !== null) outcome = abnormal(`the command could not be started: ${r.spawnError}`);
  else if (r.killedByAgent && hb?.stopReason) outcome = abnormal(`the command was stopped: ${hb.stopReason.reason}`, r.exitCode, r.signal);
  else if (r.killedByAgent) outcome = abnormal('the command was stopped on the external computer (second Ctrl+C of its agent)', r.exitCode, r.signal);
  else if (r.statusLost) outcome = abnormal("the command's exit status is unknown: the agent's exec zygote process ended while it ran");
  else if (r.signal !== null) outcome = abnormal(`the command was killed by signal ${r.signal}`, null, r.signal);
  else if (r.exitCode !== 0) {
    outcome = abnormal(`the command ended with exit code ${String(r.exitCode)}`, r.exitCode);
    note = false;
  } else if (!collectResults(workdir, calc.resultNames, ctx.opts.rules).deliversRequested) {
    outcome = abnormal('none of the requested result files was produced', 0);
  } else {
    outcome = { result: 'calc end', reason: null, exitCode: 0, signal: null };
    note = false;
  }
  if (note) noteInStderr(workdir, `distcomp agent: ${outcome.reason}`);
  return { j: current, outcome };
}

/** A command that was (maybe) running when the previous agent died: never rerun; wait for it to end; abnormal. */
async function afterLostCommand(ctx: CalcContext, j: JournalData, hb: Heartbeat | null): Promise<CalcOutcome> {
  const kill = killSignalOf(ctx, hb);
  if (j.pid !== undefined) {
    while (groupAlive(j.pid)) {
      if (kill.aborted) {
        killGroup(j.pid, 'SIGTERM');
        await sleep(ctx.opts.killGraceMs).catch(() => {});
        killGroup(j.pid, 'SIGKILL');
        break;
      }
      await sleep(500, kill).catch(() => {});
    }
  }
  return abnormal('the agent was restarted while the command was running, so its exit status is unknown; the command was not run again');
}

/**
 * Walks the calc from the journal's phase to `done` (heartbeating a leased calc all along).
 * `fromDisk` = resuming after a restart. Throws client errors that retrying could not fix
 * (network gone, 403): the journal keeps the phase, and the next start of the agent continues.
 */
/** How inputs should come: large ones as blob references when the relay has `blobs`. */
export function inputRefs(client: RelayClient, minBytes: number): RefsPolicy {
  return client.has('blobs') ? { refs: true, inlineUnder: minBytes } : {};
}

export async function driveCalc(ctx: CalcContext, workdir: string, start: JournalData, fromDisk: boolean, claimedInfo: Record<string, unknown> | null = null, prefork: PreforkedExec | null = null): Promise<void> {
  const hb = start.lease && start.attempt !== null
    ? new Heartbeat({ client: ctx.client, siteId: ctx.opts.siteId, acceptId: start.acceptId, attempt: start.attempt, heartbeatMs: start.lease.heartbeatMs, emit: ctx.emit })
    : null;
  try {
    await walk(ctx, workdir, start, fromDisk, hb, claimedInfo, prefork);
  } finally {
    prefork?.dismiss(); // when the command did not run through it
    await hb?.stop();
  }
}

async function walk(ctx: CalcContext, workdir: string, start: JournalData, fromDisk: boolean, hb: Heartbeat | null, claimedInfo: Record<string, unknown> | null, prefork: PreforkedExec | null): Promise<void> {
  const { client, opts } = ctx;
  const site = opts.siteId;
  const id = start.acceptId;
  let j = start;
  let outcome: CalcOutcome | null = j.outcome ?? null;
  // a leased calc names its attempt on every call, and a stop from the relay aborts the call's retries
  const ro: RemoteCallOptions = hb ? { attempt: j.attempt, signal: hb.signal } : {};
  const gone = (why: string): void => {
    j = advance(workdir, j, 'abandoned');
    discardSpareOutputs(workdir);
    if (hb?.stopReason) noteInStderr(workdir, `distcomp agent: nothing was sent back: ${why}`);
    ctx.emit({ type: 'calc-abandoned', acceptId: id, reason: why });
  };
  const step = async (name: string, target: Progress, call: () => Promise<unknown>): Promise<boolean> => {
    const r = await relayStep(ctx, j, hb, name, target, call);
    if (r === 'ok') return true;
    gone(r.stop);
    return false;
  };

  const finish = (at: JournalData, o: CalcOutcome): JournalData => {
    const done = advance(workdir, at, 'done');
    ctx.emit({ type: 'calc-done', acceptId: id, result: o.result, reason: o.reason });
    if (o.result === 'calc end' && opts.rules.afterSuccess === 'remove') {
      removeWorkdir(workdir);
      ctx.emit({ type: 'workdir-removed', path: workdir });
    }
    return done;
  };

  for (;;) {
    if (hb?.stopReason && j.phase !== 'done' && j.phase !== 'abandoned' && j.phase !== 'running' && j.phase !== 'starting') return gone(hb.stopReason.reason);
    switch (j.phase) {
      case 'claimed': {
        // A new claim is journalled here, before the first call that moves the calc on the relay
        // or the first download. When the calc-info came with the claim and its inputs are inline,
        // the first record is `params`: a crash before it leaves a claim that lapses and is handed
        // out again (the command never ran), and the pickup saves a journal write.
        let journalled = fromDisk;
        const journal = (): void => {
          if (!journalled) writeJournal(workdir, j);
          journalled = true;
        };
        const fetchParams = async (): Promise<{ info: Record<string, unknown> } | { stop: string }> => {
          try {
            return { info: await client.calcParams(site, id, { ...ro, ...inputRefs(client, opts.blobMinBytes) }) };
          } catch (err) {
            const why = stopReason(err, hb);
            if (why !== null) return { stop: why };
            const p = progressNamedIn(err);
            if (p !== null) {
              return { stop: `calc-params was answered before (progress "${p}") but the answer never reached this agent, so the calc's input is lost; cancel it from the workflow side (cancel-wait-calc with delete=force)` };
            }
            throw err;
          }
        };
        // the calc-info that came with the claim (`combined`), else calc-params (also after a restart)
        let withClaim = claimedInfo !== null;
        if (!withClaim) journal();
        const got = claimedInfo !== null ? { info: claimedInfo } : await fetchParams();
        if ('stop' in got) return gone(got.stop);
        const p = prepare(ctx, workdir, got.info);
        let refusal = p.refusal;
        if (p.downloads.length > 0) journal();
        if (withClaim && p.downloads.length > 0) {
          // large inputs take a while: calc-params' step first, so that meanwhile the workflow
          // side sees `sending params` and the 30-minute rule for unstarted calcs is over
          const again = await fetchParams();
          if ('stop' in again) return gone(again.stop);
          withClaim = false;
        }
        // large inputs stream from the relay, verified and resumable (also across a restart:
        // the journal stays `claimed` until every input is in place)
        for (const d of p.downloads) {
          try {
            await downloadBlob(client, d, inputFilePath(workdir, d.name), partFilePath(workdir, d.sha256), { signal: ro.signal });
          } catch (err) {
            const why = stopReason(err, hb);
            if (why !== null) return gone(why);
            refusal = `cannot fetch the input file ${d.name}: ${(err as Error).message}`;
            break;
          }
        }
        j = advance(workdir, j, 'params', { calc: p.calc, refusal, ...(withClaim ? { paramsWithClaim: true } : {}) });
        break;
      }
      case 'params': {
        if (client.has('combined')) {
          // calc-params' step too when the calc-info came with the claim; after a lost answer
          // the relay names the progress it reached, and `running` counts as done
          const combined = { params: j.paramsWithClaim === true, start: true };
          if (!await step('calc-params-complete + calc-start', 'running', () => client.calcParamsComplete(site, id, { ...ro, combined }))) return;
        } else {
          if (!await step('calc-params-complete', 'complete send', () => client.calcParamsComplete(site, id, ro))) return;
          if (!await step('calc-start', 'running', () => client.calcStart(site, id, ro))) return;
        }
        j = advance(workdir, j, 'starting');
        break;
      }
      case 'starting': {
        if (hb?.stopReason) return gone(hb.stopReason.reason);
        if (fromDisk) {
          outcome = await afterLostCommand(ctx, j, hb);
          noteInStderr(workdir, `distcomp agent: ${outcome.reason}`);
        } else if (j.refusal) {
          ctx.emit({ type: 'calc-refused', acceptId: id, reason: j.refusal });
          noteInStderr(workdir, `distcomp agent: this calc was not run on the external computer: ${j.refusal}`);
          outcome = abnormal(j.refusal);
        } else if (ctx.lifecycle.stopSignal.aborted) {
          outcome = abnormal('the agent was stopped before the command started');
          noteInStderr(workdir, `distcomp agent: ${outcome.reason}`);
        } else {
          const r = await runAndJudge(ctx, workdir, j, hb, prefork);
          j = r.j;
          outcome = r.outcome;
        }
        discardSpareOutputs(workdir); // left when the command did not run
        if (hb?.stopReason) return gone(hb.stopReason.reason);
        j = advance(workdir, j, 'exited', { outcome });
        break;
      }
      case 'running': {
        outcome = await afterLostCommand(ctx, j, hb);
        if (hb?.stopReason) return gone(hb.stopReason.reason);
        noteInStderr(workdir, `distcomp agent: ${outcome.reason}`);
        j = advance(workdir, j, 'exited', { outcome });
        break;
      }
      case 'exited': {
        const o = outcome as CalcOutcome;
        if (client.has('combined') && !hasBlobResults(client, workdir, j, opts)) {
          // calc-end goes with send-results (`combined`): one call from `running` to `got return`.
          // Not when results go up as blobs first: the workflow side is to see `calc end` meanwhile.
          // Nothing to journal: a restart at `exited` takes the same decision again.
          j = { ...j, phase: 'ended', endWithResults: true };
          break;
        }
        if (!await step(`calc-end (${o.result})`, 'calc end', () => client.calcEnd(site, id, o.result, ro))) return;
        j = advance(workdir, j, 'ended');
        break;
      }
      case 'ended': {
        const names = j.calc?.resultNames ?? [STDOUT_FILE, STDERR_FILE];
        const c = collectResults(workdir, names, opts.rules);
        let uploads = resultUploads(workdir, c, opts.rules);
        if (client.has('blobs')) {
          // each large result streams up on its own, verified and resumable; send-results then names them
          try {
            uploads = await asBlobReferences(client, uploads, opts.blobMinBytes, ro.signal);
          } catch (err) {
            const why = stopReason(err, hb);
            if (why !== null) return gone(why);
            throw err;
          }
        }
        const o = outcome ?? abnormal('unknown');
        const withEnd = j.endWithResults === true;
        if (client.has('combined')) {
          const combined = { ...(withEnd ? { calcEnd: o.result } : {}), endSend: true };
          const name = `${withEnd ? 'calc-end + ' : ''}send-results + end-send`;
          const sent = await relayCall(ctx, j, hb, name, 'got return', () => client.sendResults(site, id, uploads, { ...ro, combined }), true);
          if (typeof sent === 'object') return gone(sent.stop);
          if (sent === 'ok') {
            ctx.emit({ type: 'results', acceptId: id, sent: c.files.map((f) => f.name), missing: c.missing, refused: c.refused });
            finish(j, o);
            return;
          }
          // the relay is part-way (an earlier run of this agent, or a lost answer, took a step):
          // go on with the separate calls from where it is
        }
        if (withEnd && !await step(`calc-end (${o.result})`, 'calc end', () => client.calcEnd(site, id, o.result, ro))) return;
        if (!await step('send-results', 'getting return', () => client.sendResults(site, id, uploads, ro))) return;
        ctx.emit({ type: 'results', acceptId: id, sent: c.files.map((f) => f.name), missing: c.missing, refused: c.refused });
        j = advance(workdir, j, 'sent');
        break;
      }
      case 'sent': {
        if (!await step('end-send', 'got return', () => client.endSend(site, id, ro))) return;
        j = finish(j, outcome ?? abnormal('unknown'));
        return;
      }
      case 'done':
      case 'abandoned':
        return;
    }
    fromDisk = false;
  }
}
