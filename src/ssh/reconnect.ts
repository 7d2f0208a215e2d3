// Surviving a dropped connection: when a step ends the way a drop ends, ask the master
// whether the connection is still up; if not, reconnect with bounded, jittered, abortable
// backoff and run the step again. Every step is safe to repeat: mkdir is idempotent, rsync
// resumes (--partial-dir), and the fetch verb starts program C only once.
import type { ControlMaster } from './control-master.ts';
import { ConnectionLostError, InterruptedError, type SshMethodError, type SshStep } from './errors.ts';
import { MaybeDroppedError } from './remote-steps.ts';
import type { SshOptions } from './ssh-options.ts';

/** Delay before reconnect attempt `attempt` (0-based): equal jitter on a doubling delay. */
export function backoffDelayMs(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** attempt);
  return ceiling / 2 + random() * (ceiling / 2);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

export interface ReconnectContext {
  master: ControlMaster;
  options: SshOptions;
  signal?: AbortSignal;
  /** Human progress lines. */
  say: (line: string) => void;
  /** Reconnects so far in this run (shared over steps, capped by options.reconnect.maxPerRun). */
  reconnects: number;
}

async function connectionIsUp(master: ControlMaster): Promise<boolean> {
  // A master that is going down can still answer once; ask twice, 200 ms apart.
  if (!(await master.isAlive())) return false;
  await sleep(200);
  return master.isAlive();
}

async function reconnect(ctx: ReconnectContext, step: SshStep): Promise<void> {
  const { attempts, initialDelayMs, maxDelayMs, maxPerRun } = ctx.options.reconnect;
  if (ctx.reconnects >= maxPerRun) {
    throw new ConnectionLostError(`connection lost during ${step}, and this run already reconnected ${ctx.reconnects} times`, { step });
  }
  let last: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const delay = backoffDelayMs(attempt, initialDelayMs, maxDelayMs);
    ctx.say(`connection lost during ${step}; reconnecting in ${(delay / 1000).toFixed(1)} s (attempt ${attempt + 1} of ${attempts})`);
    await sleep(delay, ctx.signal);
    if (ctx.signal?.aborted) throw new InterruptedError('SIGINT', { step });
    try {
      await ctx.master.connect(ctx.signal);
      ctx.reconnects++;
      ctx.say(`reconnected; resuming ${step}`);
      return;
    } catch (err) {
      last = err;
    }
  }
  const why = last instanceof Error ? `: ${last.message}` : '';
  throw new ConnectionLostError(`connection lost during ${step}; ${attempts} reconnect attempts failed${why}`, { step, cause: last });
}

/** Run `attempt` until it succeeds, fails for a reason other than a drop, or reconnecting fails. */
export async function withReconnect<T>(ctx: ReconnectContext, step: SshStep, attempt: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof MaybeDroppedError)) throw err;
      if (ctx.signal?.aborted) throw new InterruptedError('SIGINT', { step });
      if (await connectionIsUp(ctx.master)) throw err.otherwise as SshMethodError;
      await reconnect(ctx, step);
    }
  }
}
