// For tests only (the hidden flag --clock-skew-ms): makes this process's wall clock wrong by a
// fixed offset, as on an external computer whose clock is off. Date.now() and `new Date()`
// move; timers (monotonic) do not. The agent must work all the same, since lease expiry is
// judged by the relay's clock alone; the fault suite runs an agent an hour off to prove it.
export function installClockSkew(offsetMs: number): void {
  if (offsetMs === 0) return;
  const RealDate = Date;
  const realNow = RealDate.now.bind(RealDate);
  class SkewedDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(realNow() + offsetMs);
      else super(...(args as [string | number | Date]));
    }
    static override now(): number {
      return realNow() + offsetMs;
    }
  }
  globalThis.Date = SkewedDate as DateConstructor;
}
