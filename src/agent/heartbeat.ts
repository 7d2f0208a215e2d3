// The heartbeat of one leased calc: from the claim until the calc is done, the agent tells the
// relay every `heartbeatMs` (the relay's figure) that it still holds the calc. The answer is
// also how the agent learns that the calc was cancelled, or that its lease is gone (the relay
// ended the calc while the agent was cut off, or handed it out again): then `signal` aborts
// with the reason, the command's process group is stopped and nothing more is sent.
//
// A heartbeat that gets no answer is only a missed heartbeat: the command keeps running and the
// next one is sent on schedule, without end (the relay, not the agent, decides when the lease
// is over: the agent never compares its own clock with the relay's). One try each, bounded by
// twice the interval, so a stalled link cannot pile heartbeats up.
import { CallAborted, ProtocolFailure } from '../client/client-errors.ts';
import { isCancelled, isLeaseLost, type RelayClient } from '../client/relay-client.ts';
import { sleep } from '../client/retry-policy.ts';
import type { AgentEvent } from './agent-events.ts';

/** Why a leased calc must stop. */
/** The deployed answer for a calc the relay no longer has (code 400, "There is no information for accept_id(..."). */
export function calcIsGone(err: unknown): boolean {
  return err instanceof ProtocolFailure && String(err.code) === '400' && err.protocolMessage.startsWith('There is no information for accept_id(');
}

export type CalcStop = { kind: 'cancelled'; reason: string } | { kind: 'lease-lost'; reason: string };

export interface HeartbeatOptions {
  client: RelayClient;
  siteId: string;
  acceptId: string;
  attempt: number;
  /** First interval, ms; each answer may change it. */
  heartbeatMs: number;
  emit: (e: AgentEvent) => void;
}

export class Heartbeat {
  private readonly stopAc = new AbortController();
  private readonly calcAc = new AbortController();
  private readonly done: Promise<void>;
  private intervalMs: number;
  /** Why the calc must stop, once the relay said so. */
  stopReason: CalcStop | null = null;

  constructor(private readonly o: HeartbeatOptions) {
    this.intervalMs = o.heartbeatMs;
    this.done = this.loop();
  }

  /** Aborts when the relay says the calc was cancelled or the lease is gone. */
  get signal(): AbortSignal {
    return this.calcAc.signal;
  }

  /** Ends the heartbeats (the calc is done or abandoned). */
  async stop(): Promise<void> {
    this.stopAc.abort();
    await this.done;
  }

  private halt(stop: CalcStop): void {
    if (this.stopReason !== null) return;
    this.stopReason = stop;
    this.o.emit({ type: 'lease', acceptId: this.o.acceptId, state: stop.kind, reason: stop.reason });
    this.calcAc.abort(stop);
  }

  /** Sends one heartbeat now (also used by the walk right after a resume). Never throws. */
  private async beat(): Promise<'ok' | 'failed' | 'stop'> {
    const { client, siteId, acceptId, attempt } = this.o;
    const timeout = AbortSignal.timeout(Math.max(1000, 2 * this.intervalMs));
    try {
      const a = await client.heartbeat(siteId, acceptId, attempt, { signal: AbortSignal.any([this.stopAc.signal, timeout]) });
      if (a.terms !== null) this.intervalMs = a.terms.heartbeatMs;
      return 'ok';
    } catch (err) {
      if (this.stopAc.signal.aborted) return 'stop';
      if (isCancelled(err)) {
        this.halt({ kind: 'cancelled', reason: 'the calc was cancelled by its workflow side' });
        return 'stop';
      }
      if (isLeaseLost(err) || calcIsGone(err)) {
        const why = (err as { protocolMessage?: string }).protocolMessage ?? String(err);
        this.halt({ kind: 'lease-lost', reason: `the relay no longer counts this agent's claim: ${why}` });
        return 'stop';
      }
      const reason = err instanceof CallAborted ? `no answer within ${Math.max(1000, 2 * this.intervalMs)} ms` : (err as Error).message;
      this.lastFailure = reason;
      return 'failed';
    }
  }

  private lastFailure = '';

  private async loop(): Promise<void> {
    let failing = false;
    for (;;) {
      try {
        await sleep(this.intervalMs, this.stopAc.signal);
      } catch {
        return;
      }
      const r = await this.beat();
      if (r === 'stop') return;
      if (r === 'failed' && !failing) {
        failing = true;
        this.o.emit({ type: 'lease', acceptId: this.o.acceptId, state: 'no-contact', reason: this.lastFailure });
      } else if (r === 'ok' && failing) {
        failing = false;
        this.o.emit({ type: 'lease', acceptId: this.o.acceptId, state: 'reconnected', reason: 'the relay answered again; the lease is still this agent\'s' });
      }
    }
  }
}
