// The poll loop: `concurrency` workers, each asking the relay for a calc of this site and
// running it to the end before asking again. Against our relay a worker long-polls
// (`calc-request ... &wait=60`), so a calc starts as soon as it is allowed; against a deployed
// relay (no `x-distcomp-features: long-poll` header) it polls every `pollIntervalMs`.
// Draining aborts the idle polls at once; calcs already claimed run to the end. While a poll
// waits, each worker keeps two spare working directories (spare-workdir.ts), one of which
// becomes the next calc's at the claim; the one used is made again shortly after its calc.
import { CallAborted } from '../client/client-errors.ts';
import { sleep } from '../client/retry-policy.ts';
import { startJournal } from './journal.ts';
import { driveCalc, inputRefs, type CalcContext } from './process-calc.ts';
import type { PreforkedExec } from './prefork-exec.ts';
import { ZygoteSupply } from './exec-zygote.ts';
import { removeStaleSpares, WorkerSpares } from './spare-workdir.ts';
import { createWorkdir, workdirPath, WorkdirError } from './workdir.ts';

export interface PollState {
  /** accept_ids being worked on now. */
  running: Set<string>;
  /** Whether the 'long-poll' event was told already. */
  toldLongPoll: boolean;
  /** Whether a first poll was made. */
  polled: boolean;
}

/** How long after a calc its worker makes the spare it used again (WorkerSpares). */
const REFILL_AFTER_CALC_MS = 25;

async function worker(ctx: CalcContext, state: PollState, spares: WorkerSpares): Promise<void> {
  const { client, opts, lifecycle } = ctx;
  let calcJustEnded = false;
  while (lifecycle.takesNewCalcs) {
    let ans;
    try {
      // the first poll answers at once, so the screen shows at start that the site id and token are good
      const waitS = state.polled ? opts.waitS : 0;
      state.polled = true;
      // with a relay that has `combined`, the calc-info comes with the claim (one round trip less)
      const poll = client.calcRequest(opts.siteId, { waitS, signal: lifecycle.drainSignal, lease: true, params: inputRefs(client, opts.blobMinBytes) });
      // the next calc is asked for at once (queued calcs go on without a pause)
      spares.fill(calcJustEnded, REFILL_AFTER_CALC_MS);
      calcJustEnded = false;
      ans = await poll;
    } catch (err) {
      if (err instanceof CallAborted && lifecycle.drainSignal.aborted) return;
      throw err;
    }
    if (!state.toldLongPoll) {
      state.toldLongPoll = true;
      ctx.emit({ type: 'long-poll', available: client.longPoll });
    }
    if (ans.kind === 'idle') {
      ctx.emit({ type: 'idle', code: ans.code, message: ans.message });
      // a relay that long-polls has already made us wait; a deployed one answers at once
      if (!client.longPoll) await sleep(opts.pollIntervalMs, lifecycle.drainSignal).catch(() => {});
      continue;
    }
    if (!lifecycle.takesNewCalcs) {
      // claimed in the same instant as the stop request: leave it; the relay hands it out
      // again when the claim lapses (60 s)
      ctx.emit({ type: 'warning', text: `accept_id ${ans.acceptId} arrived together with the stop request; left to the relay to hand out again` });
      return;
    }
    let workdir: string;
    let prefork: PreforkedExec | null = null;
    try {
      workdir = workdirPath(opts.calcBase, ans.acceptId);
      const taken = (await spares.forClaim()).take(workdir);
      if (taken) prefork = taken.prefork;
      else createWorkdir(workdir);
    } catch (err) {
      if (!(err instanceof WorkdirError)) throw err;
      ctx.emit({ type: 'warning', text: `calc ${JSON.stringify(ans.acceptId.slice(0, 80))} not taken: ${err.message}` });
      continue;
    }
    ctx.emit({ type: 'claimed', acceptId: ans.acceptId, attempt: ans.attempt });
    const j = startJournal({
      acceptId: ans.acceptId, siteId: opts.siteId, origin: opts.origin,
      attempt: ans.lease?.attempt ?? ans.attempt, lease: ans.lease ? { heartbeatMs: ans.lease.heartbeatMs } : null,
    });
    state.running.add(ans.acceptId);
    try {
      await driveCalc(ctx, workdir, j, false, ans.calcInfo, prefork);
    } finally {
      state.running.delete(ans.acceptId);
      calcJustEnded = true;
    }
  }
}

/**
 * Runs the workers until the lifecycle stops taking calcs. The first worker error that
 * retrying could not fix drains the others and is rethrown once they are done.
 */
export async function pollLoop(ctx: CalcContext, state: PollState): Promise<void> {
  let first: unknown = null;
  removeStaleSpares(ctx.opts.calcBase);
  const zygotes = new ZygoteSupply();
  const workers = Array.from({ length: ctx.opts.concurrency }, async (_, i) => {
    const spares = new WorkerSpares(ctx.opts.calcBase, i, zygotes);
    try {
      await worker(ctx, state, spares);
    } catch (err: unknown) {
      if (first === null) first = err;
      ctx.lifecycle.drain('error');
    } finally {
      spares.dispose();
    }
  });
  await Promise.all(workers);
  zygotes.stop();
  if (first !== null) throw first;
}
