// The agent's life as an explicit state with named transitions:
//
//   RUNNING --drain()--> DRAINING --stop()--> STOPPING --finish()--> STOPPED
//      \__________________stop()__________________/
//
// RUNNING takes calcs. DRAINING (first Ctrl+C or SIGTERM) takes no new calc, aborts an
// idle poll at once, and lets running calcs finish and send their results. STOPPING (the
// second) kills the commands' process groups; their calcs are reported abnormal. A third
// interrupt asks the caller to exit at once (each calc's journal lets a restart pick it up).

export type AgentState = 'RUNNING' | 'DRAINING' | 'STOPPING' | 'STOPPED';

export type InterruptOutcome = 'drain' | 'stop' | 'exit-now';

export class Lifecycle {
  private current: AgentState = 'RUNNING';
  private readonly drainAc = new AbortController();
  private readonly stopAc = new AbortController();
  private readonly listeners = new Set<(to: AgentState, from: AgentState, why: string) => void>();
  private interrupts = 0;

  get state(): AgentState {
    return this.current;
  }

  /** Aborts when the agent stops taking new calcs (DRAINING or later): cancels idle polls and waits. */
  get drainSignal(): AbortSignal {
    return this.drainAc.signal;
  }

  /** Aborts when running commands must be stopped (STOPPING or later). */
  get stopSignal(): AbortSignal {
    return this.stopAc.signal;
  }

  get takesNewCalcs(): boolean {
    return this.current === 'RUNNING';
  }

  onChange(fn: (to: AgentState, from: AgentState, why: string) => void): void {
    this.listeners.add(fn);
  }

  private move(to: AgentState, why: string): void {
    const from = this.current;
    this.current = to;
    for (const fn of this.listeners) fn(to, from, why);
  }

  /** RUNNING → DRAINING. */
  drain(why: string): boolean {
    if (this.current !== 'RUNNING') return false;
    this.move('DRAINING', why);
    this.drainAc.abort();
    return true;
  }

  /** RUNNING | DRAINING → STOPPING. */
  stop(why: string): boolean {
    if (this.current !== 'RUNNING' && this.current !== 'DRAINING') return false;
    this.move('STOPPING', why);
    this.drainAc.abort();
    this.stopAc.abort();
    return true;
  }

  /** Any → STOPPED (the poll loop has ended). */
  finish(why: string): void {
    if (this.current === 'STOPPED') return;
    if (!this.drainAc.signal.aborted) this.drainAc.abort();
    this.move('STOPPED', why);
  }

  /** A Ctrl+C or SIGTERM: the first drains, the second stops, the third asks for an immediate exit. */
  interrupt(signal: string): InterruptOutcome {
    this.interrupts++;
    if (this.interrupts === 1 && this.drain(`${signal} (1st)`)) return 'drain';
    if (this.interrupts <= 2 && this.stop(`${signal} (2nd)`)) return 'stop';
    return 'exit-now';
  }
}
