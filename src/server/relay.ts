// The relay's rules: what each protocol call may do to a calc, given the configuration and
// the caller. Routes translate HTTP to these calls and back; the store makes each state
// change one guarded statement; the hub wakes long polls.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import {
  STDERR_FILE, missingResultEntry, parseAddCalcInfoBody, parseResultFiles,
} from '../protocol/calc-info.ts';
import { Errors, type ProtocolError } from '../protocol/errors.ts';
import { CALC_END_RESULTS, IN_FLIGHT, STEPS, progressAtLeast, type Progress, type Step, type StepName } from '../protocol/states.ts';
import type { BlobStore } from '../store/blob-store.ts';
import type { Calc, CalcFile, Store, User } from '../store/store.ts';
import type { ConfigWatcher } from './config-watcher.ts';
import { LongPollHub, calcKey, siteKey } from './long-poll-hub.ts';
import { withContents } from './file-contents.ts';
import { Base64Of } from './json-stream/streamed-json-answer.ts';

export interface RelayOptions {
  /** How long calc-request's answer holds a calc for the poller that got it, ms. Default 60 000. */
  claimMs: number;
  /** Longest long poll a client may ask for, ms. Default 60 000. */
  maxWaitMs: number;
  /** How long a collected result can be fetched again (a lost answer), ms. Default 600 000. */
  collectedRetentionMs: number;
  now: () => number;
}

export const DEFAULT_RELAY_OPTIONS: RelayOptions = {
  claimMs: 60_000,
  maxWaitMs: 60_000,
  collectedRetentionMs: 3_600_000,
  now: Date.now,
};

type Body = Record<string, unknown>;

/** What a lease-aware poller is told about its lease (all times from the server's clock). */
export interface LeaseTerms {
  attempt: number;
  lease_ms: number;
  lease_grace_ms: number;
  /** How often to heartbeat, ms: 4 times per lease, at least every 5 s. */
  heartbeat_ms: number;
  /** The server's clock now and the lease's end, ms since epoch: for display only, never for judging expiry. */
  server_time: number;
  lease_until: number | null;
}

/** `liveness` of a leased calc in flight: separate from progress (a cut-off agent may still be computing). */
export type Liveness = 'alive' | 'disconnected, still computing';

/** `attempt` of a lease-aware call (a number, or digits in a query); undefined for deployed pollers. */
export function attemptOf(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,9}$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw Errors.badAttempt(`expected a whole number >= 1, got ${JSON.stringify(v)}`);
  return n;
}

/** The status a calc-end `result` sets; refused when missing or unknown. */
function calcEndStatus(result: unknown): Calc['status'] {
  if (result === undefined) throw Errors.noResultKey();
  const status = typeof result === 'string' ? CALC_END_RESULTS[result] : undefined;
  if (!status) throw Errors.unknownCalcEndResult(String(result));
  return status;
}

/** Whether a remote-side step may run on the calc as it is (the store checks again when it writes). */
function stepAllows(name: StepName, c: Calc): boolean {
  const s: Step = STEPS[name];
  return s.from.includes(c.progress) || (s.orAbnormal === true && c.status === 'abnormal' && IN_FLIGHT.includes(c.progress));
}

function str(body: Body, key: string): string | undefined {
  const v = body[key];
  return typeof v === 'string' ? v : v === undefined || v === null ? undefined : String(v);
}

export class Relay {
  readonly hub = new LongPollHub();
  private readonly opts: RelayOptions;

  constructor(
    private readonly store: Store,
    readonly blobs: BlobStore,
    private readonly config: ConfigWatcher,
    private readonly log: Logger,
    opts: Partial<RelayOptions> = {},
  ) {
    this.opts = { ...DEFAULT_RELAY_OPTIONS, ...opts };
  }

  /** Logs a state change and wakes its long polls (and `alsoWake`'s), once it has committed. */
  private logChange(c: Calc, user: User | null, from: string, event: string, alsoWake?: string): void {
    const tell = (): void => {
      this.log.info({ acceptId: c.acceptId, siteId: c.site, user: user?.name, from, progress: c.progress, status: c.status, event }, 'calc state change');
      // a removed calc (cancelled, collected) wakes every wait on it, whatever it waits for
      this.hub.notify(calcKey(c.acceptId), c.deletedAt === null ? c.progress : undefined);
      if (alsoWake !== undefined) this.hub.notify(alsoWake);
    };
    if (this.afterCommit) this.afterCommit.push(tell);
    else tell();
  }

  /** Log lines and wake-ups of the state changes inside atomically(), told once they committed. */
  private afterCommit: (() => void)[] | null = null;

  /** Refusals recorded inside atomically(), written after it ends: a refusal rolls the rest back, not itself. */
  private refusals: (() => void)[] | null = null;

  private recordRefusal(acceptId: string, userId: number, detail: Record<string, unknown>): void {
    const write = (): void => this.store.recordRefusal(acceptId, userId, 'refused', detail);
    if (this.refusals) this.refusals.push(write);
    else write();
  }

  /** Several steps as one transaction (the combined calls): all or nothing, one commit. */
  private atomically<T>(fn: () => T): T {
    if (this.afterCommit) return fn();
    const told: (() => void)[] = [];
    const refused: (() => void)[] = [];
    this.afterCommit = told;
    this.refusals = refused;
    let r: T;
    try {
      r = this.store.atomically(fn);
    } finally {
      this.afterCommit = null;
      this.refusals = null;
      for (const write of refused) write();
    }
    for (const tell of told) tell();
    return r;
  }

  /** Lease settings, from the INI as it is now (an operator's edit takes effect at once). */
  private leaseSettings(): { leaseMs: number; graceMs: number; heartbeatMs: number } {
    const cfg = this.config.current();
    const leaseMs = Math.round(cfg.leaseSeconds * 1000);
    // 4 heartbeats per lease, but at least one per 5 s: the heartbeat's answer is how an agent
    // learns that its calc was cancelled, so this bounds the time to stop a cancelled command
    return { leaseMs, graceMs: Math.round(cfg.leaseGraceSeconds * 1000), heartbeatMs: Math.min(5000, Math.max(50, Math.round(leaseMs / 4))) };
  }

  leaseTerms(c: Calc): LeaseTerms {
    const s = this.leaseSettings();
    return { attempt: c.attempt, lease_ms: s.leaseMs, lease_grace_ms: s.graceMs, heartbeat_ms: s.heartbeatMs, server_time: this.opts.now(), lease_until: c.leaseUntil };
  }

  /** Whether the lease-aware agent of a calc in flight is heard from; undefined when not leased or not in flight. */
  liveness(c: Calc): Liveness | undefined {
    if (c.leaseUntil === null || !IN_FLIGHT.includes(c.progress)) return undefined;
    return this.opts.now() <= c.leaseUntil ? 'alive' : 'disconnected, still computing';
  }

  // ---------------------------------------------------------------- workflow side

  /** add-calcinfo; with `allow` (ours, add-calcinfo?allow=1) also allow-wait-calc, in the same transaction. */
  async register(user: User, body: unknown, allow = false): Promise<Calc> {
    const info = parseAddCalcInfoBody(body);
    const cfg = this.config.current(true);
    const site = cfg.sites.get(info.site);
    if (!site) throw Errors.siteNotRegistered(info.site);
    if (site.users !== null && !site.users.includes(user.name)) throw Errors.siteNotForUser(info.site, user.name);
    if (!site.commands.includes(info.command)) throw Errors.commandNotAllowed(info.command);
    const files = info.parameterFiles;
    const calc = await withContents(this.blobs, files.map((f) => f.content), (sha) => this.store.blobVisibleTo(user.id, sha), (stored) => {
      const inputs: CalcFile[] = files.map((f, i) => {
        const b = stored[i];
        if (!b) return { name: f.name, direction: 'in', sha256: null, size: 0, mime1: '', mime2: '' };
        return { name: f.name, direction: 'in', sha256: b.sha256, size: b.size, mime1: f.mime1, mime2: f.mime2 };
      });
      return this.atomically(() => {
        const c = this.store.insertCalc({
          acceptId: randomUUID(), userId: user.id, site: info.site, command: info.command,
          parameters: info.parameters, resultNames: info.resultNames, inputs,
        });
        this.logChange(c, user, '-', 'registered');
        return allow ? this.allowId(user, c.acceptId) : c;
      });
    });
    return calc;
  }

  private acceptIdFromBody(body: unknown): string {
    if (typeof body !== 'object' || body === null || !('accept_id' in body)) throw Errors.noAcceptIdInBody();
    const id = (body as Body)['accept_id'];
    if (typeof id !== 'string' || id === '') throw Errors.noAcceptIdInBody();
    return id;
  }

  allow(user: User, body: unknown): Calc {
    return this.allowId(user, this.acceptIdFromBody(body));
  }

  /** allow-wait-calc of one calc (also add-calcinfo?allow=1, ours). */
  allowId(user: User, id: string): Calc {
    const r = this.store.allow(id, user.id);
    if (!r.ok) {
      if (!r.found) throw Errors.unknownAcceptId(id);
      if (r.found.progress !== 'not start') throw Errors.alreadyStarted(id);
      throw Errors.alreadyAllowed(id);
    }
    this.logChange(r.calc, user, 'not start', 'allowed', siteKey(r.calc.site, user.id));
    return r.calc;
  }

  cancel(user: User, body: unknown): Calc {
    const id = this.acceptIdFromBody(body);
    const force = (body as Body)['delete'] === 'force';
    let refusal: ProtocolError | null = null;
    const r = this.store.markDeleted(id, user.id, 'cancelled', (c) => {
      if (force) return true;
      if (IN_FLIGHT.includes(c.progress) && c.status !== 'abnormal') refusal = Errors.cancelInFlight(c.progress, id);
      else if (c.allowedAt === null) refusal = Errors.cancelNotAllowed(id);
      return refusal === null;
    });
    if (!r.ok) throw refusal ?? Errors.unknownAcceptId(id);
    this.logChange(r.calc, user, r.calc.progress, force ? 'cancelled (force)' : 'cancelled');
    return r.calc;
  }

  /** The calc for calc-status / calc-progress; unknown ids get the deployed HTTP 200 / code 400. */
  lookup(user: User, acceptId: string): Calc {
    const c = this.store.getCalc(acceptId, user.id);
    if (!c) throw this.workflowGone(user, acceptId);
    return c;
  }

  /** The deployed "no information" answer; for a cancelled calc the same code, saying so (ours). */
  private workflowGone(user: User, acceptId: string): ProtocolError {
    const any = this.store.getCalcAnyState(acceptId, user.id);
    return any?.deleteReason === 'cancelled' ? Errors.cancelled(acceptId) : Errors.noInformation(acceptId);
  }

  /**
   * calc-progress with our `wait` extension: answers as soon as progress differs from
   * `since` (or at once without `since`) and, with `until`, has reached that progress (or gone
   * past it), else after `waitMs`.
   */
  async waitProgress(user: User, acceptId: string, since: string | undefined, waitMs: number, signal: AbortSignal, until?: Progress): Promise<Calc> {
    const done = (p: Progress): boolean => (since === undefined || p !== since) && (until === undefined || progressAtLeast(p, until));
    const deadline = this.opts.now() + Math.min(waitMs, this.opts.maxWaitMs);
    for (;;) {
      const c = this.lookup(user, acceptId);
      const remaining = deadline - this.opts.now();
      if (done(c.progress) || remaining <= 0 || signal.aborted) return c;
      await this.hub.wait(calcKey(acceptId), Math.min(remaining, 5000), signal, done);
    }
  }

  /**
   * calc-progress?results=1 (ours): as calc-progress, and once the calc has got return, also its
   * result files as get-calc-result answers them (the calc is then collected). A calc collected
   * moments ago (a lost answer, asked again) is answered again with its results, as
   * get-calc-result does.
   */
  async progressOrResults(user: User, acceptId: string, since: string | undefined, waitMs: number, signal: AbortSignal,
    refsOver: number | null, until?: Progress): Promise<{ calc: Calc; files?: Record<string, unknown> }> {
    const again = this.store.getCalc(acceptId, user.id) === null ? this.collectedRecently(user, acceptId) : null;
    const c = again ?? await this.waitProgress(user, acceptId, since, waitMs, signal, until);
    if (c.progress !== 'got return') return { calc: c };
    return { calc: c, files: this.collect(user, c, refsOver) };
  }

  /** The calc, if it was collected within the retention (its results may be asked for again). */
  private collectedRecently(user: User, acceptId: string): Calc | null {
    const gone = this.store.getCalcAnyState(acceptId, user.id);
    const again = gone?.deleteReason === 'collected' && gone.deletedAt !== null &&
      gone.deletedAt > this.opts.now() - this.opts.collectedRetentionMs;
    return again ? gone : null;
  }

  /** get-calc-result: the result files once progress is `got return`; then the calc is collected. */
  async result(user: User, acceptId: string, refsOver: number | null = null, waitMs = 0, signal?: AbortSignal): Promise<Record<string, unknown>> {
    // our `wait` extension: hold the call until the results are there (one call instead of
    // calc-progress polls followed by get-calc-result)
    // (a collected calc is not waited for: its results are answered again below, as without wait)
    let c = this.store.getCalc(acceptId, user.id);
    if (c && c.progress !== 'got return' && waitMs > 0 && signal) {
      c = await this.waitProgress(user, acceptId, undefined, waitMs, signal, 'got return');
    }
    if (!c) {
      c = this.collectedRecently(user, acceptId);
      if (!c) throw this.workflowGone(user, acceptId);
    }
    if (c.progress !== 'got return') throw Errors.cannotReturn(c.progress, acceptId);
    return this.collect(user, c, refsOver);
  }

  /**
   * The result files of a calc that has got return (as read just now by the caller), as
   * get-calc-result answers them; a calc not collected yet is collected.
   */
  private collect(user: User, c: Calc, refsOver: number | null): Record<string, unknown> {
    const acceptId = c.acceptId;
    const stored = new Map(this.store.files(acceptId, 'out').map((f) => [f.name, f]));
    const out: Record<string, unknown> = {};
    const names = [...c.resultNames, ...[...stored.keys()].filter((n) => !c.resultNames.includes(n))];
    for (const name of names) {
      const f = stored.get(name);
      if (!f) out[name] = missingResultEntry(name);
      else if (f.sha256 === null) out[name] = { content: '', mimetype1: f.mime1, mimetype2: f.mime2 };
      else if (refsOver !== null && f.size >= refsOver) out[name] = { blob: f.sha256, size: f.size, mimetype1: f.mime1, mimetype2: f.mime2 };
      else out[name] = { content: new Base64Of(f.sha256, f.size), mimetype1: f.mime1, mimetype2: f.mime2 };
    }
    if (c.deletedAt === null) {
      const r = this.store.markDeleted(acceptId, user.id, 'collected', undefined, c);
      if (r.ok) this.logChange(r.calc, user, 'got return', 'collected');
    }
    return out;
  }

  /** get-calcinfo: the caller's own calcs, in the deployed dump's shape. */
  dump(user: User): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const c of this.store.listCalcs(user.id)) {
      out[c.acceptId] = {
        'calc-info': {
          command: c.command, 'remote-site': c.site, parameters: c.parameters,
          parameter_files: Object.fromEntries(this.store.files(c.acceptId, 'in').map((f) => [f.name, { size: f.size, mimetype1: f.mime1, mimetype2: f.mime2 }])),
          result_files: Object.fromEntries(c.resultNames.map((n) => [n, {}])),
        },
        accept_time: new Date(c.createdAt).toISOString(),
        wait_allow: c.allowedAt === null ? 'none' : new Date(c.allowedAt).toISOString(),
        calc_progress: c.progress,
        calc_status: c.status,
        reason: c.reason,
        attempt: c.attempt,
        liveness: this.liveness(c),
        lease_until: c.leaseUntil === null ? undefined : new Date(c.leaseUntil).toISOString(),
        last_heartbeat: c.heartbeatAt === null ? undefined : new Date(c.heartbeatAt).toISOString(),
      };
    }
    return out;
  }

  // ---------------------------------------------------------------- remote side

  private checkSite(user: User, siteId: string): void {
    const site = this.config.current().sites.get(siteId);
    if (!site) throw Errors.unknownSite(siteId);
    if (site.users !== null && !site.users.includes(user.name)) throw Errors.siteClosedToUser(siteId);
  }

  /**
   * calc-request, with our `wait` extension (long poll) and `lease` (the caller heartbeats, and
   * names its attempt on every later call). Returns the claimed calc.
   */
  async request(user: User, siteId: string, waitMs: number, signal: AbortSignal, lease = false): Promise<Calc> {
    this.checkSite(user, siteId);
    const deadline = this.opts.now() + Math.min(Math.max(waitMs, 0), this.opts.maxWaitMs);
    for (;;) {
      if (signal.aborted) throw Errors.nothingToDo(siteId);
      const c = this.store.claimNext(siteId, user.id, this.opts.claimMs, lease ? this.leaseSettings().leaseMs : null);
      if (c) {
        this.log.info({ acceptId: c.acceptId, siteId, user: user.name, attempt: c.attempt, lease, event: 'claimed' }, 'calc claimed');
        return c;
      }
      const remaining = deadline - this.opts.now();
      if (remaining <= 0) throw Errors.nothingToDo(siteId);
      await this.hub.wait(siteKey(siteId, user.id), Math.min(remaining, 5000), signal);
    }
  }

  /**
   * The calc of a remote-side call, after the deployed checks in the deployed order; for a
   * lease-aware call (`attempt` given) also that the claim is still the caller's.
   */
  private remoteCalc(user: User, siteId: string, acceptId: string, endpoint: string, attempt?: number): Calc {
    this.checkSite(user, siteId);
    const c = this.store.getCalc(acceptId, user.id);
    if (!c || c.site !== siteId) throw this.remoteGone(user, siteId, acceptId, endpoint, attempt);
    if (c.allowedAt === null) throw Errors.notAllowedYet(siteId);
    if (attempt !== undefined) {
      const why = this.leaseRefusal(c, attempt);
      if (why !== null) throw this.refuseLease(user, c, endpoint, attempt, why);
    }
    return c;
  }

  /** Why attempt `attempt` no longer holds the calc, or null when it does. */
  private leaseRefusal(c: Calc, attempt: number): string | null {
    if (c.attempt !== attempt) return `the calc was handed out again (attempt ${c.attempt})`;
    if (c.reason?.startsWith('lease expired') && c.progress === 'got return') return `the lease expired and the calc ended abnormal (${c.reason})`;
    return null;
  }

  /** A remote-side call on a calc the caller cannot see: cancelled (said so, ours) or unknown (deployed). */
  private remoteGone(user: User, siteId: string, acceptId: string, endpoint: string, attempt?: number): ProtocolError {
    const any = this.store.getCalcAnyState(acceptId, user.id);
    if (any && any.site === siteId && any.deleteReason === 'cancelled') {
      this.recordRefusal(acceptId, user.id, { endpoint, attempt: attempt ?? null, why: 'cancelled' });
      return Errors.remoteCancelled(acceptId, siteId);
    }
    if (any && any.site === siteId && attempt !== undefined) {
      // ended, and its results already collected (e.g. after a lease expiry): the late agent is told its lease is gone
      return this.refuseLease(user, any, endpoint, attempt, this.leaseRefusal(any, attempt) ?? 'the calc has ended and its results were collected');
    }
    return Errors.remoteUnknownAcceptId(acceptId, siteId);
  }

  private refuseLease(user: User, c: Calc, endpoint: string, attempt: number, why: string): ProtocolError {
    this.recordRefusal(c.acceptId, user.id, { endpoint, attempt, why });
    this.log.info({ acceptId: c.acceptId, siteId: c.site, user: user.name, attempt, currentAttempt: c.attempt, endpoint, why, event: 'stale lease refused' }, 'call refused');
    return Errors.leaseLost(endpoint, c.acceptId, attempt, why, { attempt: c.attempt, progress: c.progress, status: c.status });
  }

  /**
   * One remote-side state change. `known` is the calc as this call already read it (after
   * remoteCalc()'s checks, with nothing in between): the change is then a compare-and-set on
   * it, without reading it again (a combined call chains its steps this way).
   */
  private step(user: User, siteId: string, acceptId: string, name: StepName, extra: { status?: Calc['status']; outputs?: CalcFile[] } = {},
    attempt?: number, from?: readonly Progress[], known?: Calc): Calc {
    const before = known ?? this.remoteCalc(user, siteId, acceptId, name, attempt);
    const s = STEPS[name];
    const r = this.store.transition({
      acceptId, userId: user.id, from: from ?? s.from, orAbnormal: 'orAbnormal' in s ? s.orAbnormal : false, to: s.to, kind: name, ...extra,
      ...(attempt !== undefined ? { lease: { attempt, leaseMs: this.leaseSettings().leaseMs } } : {}),
      before,
    });
    if (!r.ok) {
      // another call or the expiry timer committed first: say why from the calc as it is now
      if (!r.found) throw this.remoteGone(user, siteId, acceptId, name, attempt);
      if (attempt !== undefined) {
        const why = this.leaseRefusal(r.found, attempt);
        if (why !== null) throw this.refuseLease(user, r.found, name, attempt, why);
      }
      throw Errors.wrongState(name, r.found.progress, r.found.status, siteId);
    }
    this.logChange(r.calc, user, before.progress, name);
    return r.calc;
  }

  /**
   * x/heartbeat (ours): renews the lease of the caller's attempt. Refused (never a state
   * change) when the calc was cancelled, handed out again, or ended.
   */
  heartbeat(user: User, body: unknown): { calc: Calc; terms: LeaseTerms; liveness: Liveness | undefined } {
    const { acceptId, siteId } = this.remoteIds(body);
    const attempt = attemptOf((body as Body)['attempt']);
    if (attempt === undefined) throw Errors.badAttempt('x/heartbeat needs the attempt calc-request answered');
    this.checkSite(user, siteId);
    const s = this.leaseSettings();
    const r = this.store.heartbeat(acceptId, user.id, attempt, s.leaseMs, this.opts.claimMs);
    if (!r.ok) {
      const c = r.found;
      if (!c || c.site !== siteId || c.deletedAt !== null) throw this.remoteGone(user, siteId, acceptId, 'x/heartbeat', attempt);
      const why = this.leaseRefusal(c, attempt)
        ?? (c.progress === 'got return' ? 'the calc has ended' : c.leaseUntil === null ? 'the calc was not claimed with a lease' : `the calc is in progress ${c.progress}`);
      throw this.refuseLease(user, c, 'x/heartbeat', attempt, why);
    }
    return { calc: r.calc, terms: this.leaseTerms(r.calc), liveness: this.liveness(r.calc) };
  }

  /**
   * calc-params: the calc-info, with parameter files as base64 (or blob references with `asRefs`). The lease holder may ask again
   * while `sending params` (its first answer was lost: a cut link, a restarted relay).
   */
  params(user: User, siteId: string, acceptId: string, attempt?: number, refsOver: number | null = null): Record<string, unknown> {
    const c = this.step(user, siteId, acceptId, 'calc-params', {}, attempt, attempt !== undefined ? ['not start', 'sending params'] : undefined);
    return this.paramsOf(c, refsOver);
  }

  /**
   * The calc-info of a calc, as calc-params answers it, without its state change (for
   * calc-request?params=1, ours: the claimed calc stays `not start`, so that when this answer
   * is lost the claim lapses and the calc is handed out again, as after a lost deployed claim).
   */
  paramsOf(c: Calc, refsOver: number | null = null): Record<string, unknown> {
    const files = this.store.files(c.acceptId, 'in');
    return {
      command: c.command,
      'remote-site': c.site,
      parameters: c.parameters,
      parameter_files: Object.fromEntries(files.map((f) => {
        if (f.sha256 === null) return [f.name, ['', '', '']];
        if (refsOver !== null && f.size >= refsOver) return [f.name, { blob: f.sha256, size: f.size, mimetype1: f.mime1, mimetype2: f.mime2 }];
        return [f.name, [new Base64Of(f.sha256, f.size), f.mime1, f.mime2]];
      })),
      result_files: Object.fromEntries(c.resultNames.map((n) => [n, { content: '', mimetype1: '', mimetype2: '' }])),
    };
  }

  private remoteIds(body: unknown): { acceptId: string; siteId: string; attempt: number | undefined } {
    const acceptId = this.acceptIdFromBody(body);
    const siteId = str(body as Body, 'site_id');
    if (!siteId) throw Errors.noSiteIdInBody();
    return { acceptId, siteId, attempt: attemptOf((body as Body)['attempt']) };
  }

  simpleStep(user: User, name: 'calc-params-complete' | 'calc-start', body: unknown): Calc {
    const { acceptId, siteId, attempt } = this.remoteIds(body);
    return this.step(user, siteId, acceptId, name, {}, attempt);
  }

  /**
   * calc-params-complete?params=1&start=1 (ours), for a poller that got the calc-info with its
   * claim (calc-request?params=1): calc-params, calc-params-complete, then calc-start, each its
   * own state change and history row, as if called one after the other.
   */
  paramsCompleteCombined(user: User, body: unknown, also: { params: boolean; start: boolean }): Calc {
    const { acceptId, siteId, attempt } = this.remoteIds(body);
    return this.atomically(() => {
      // each step starts from the calc as the previous one left it (one read for the whole call)
      let c = this.remoteCalc(user, siteId, acceptId, also.params ? 'calc-params' : 'calc-params-complete', attempt);
      // the lease holder may repeat this call after a lost answer, as it may repeat calc-params
      if (also.params && c.progress === 'not start') c = this.step(user, siteId, acceptId, 'calc-params', {}, attempt, undefined, c);
      c = this.step(user, siteId, acceptId, 'calc-params-complete', {}, attempt, undefined, c);
      return also.start ? this.step(user, siteId, acceptId, 'calc-start', {}, attempt, undefined, c) : c;
    });
  }

  calcEnd(user: User, body: unknown): Calc {
    const { acceptId, siteId, attempt } = this.remoteIds(body);
    const c = this.remoteCalc(user, siteId, acceptId, 'calc-end', attempt);
    return this.step(user, siteId, acceptId, 'calc-end', { status: calcEndStatus((body as Body)['result']) }, attempt, undefined, c);
  }

  /**
   * send-results; with `also` (ours, send-results?calc_end=<result>&end_send=1) calc-end first
   * and end-send after, each its own state change, all after the files are stored.
   */
  async sendResults(user: User, body: unknown, also: { calcEnd?: unknown; endSend?: boolean } = {}): Promise<{ calc: Calc; ignored: string[] }> {
    const { acceptId, siteId, attempt } = this.remoteIds(body);
    const before = this.remoteCalc(user, siteId, acceptId, 'send-results', attempt);
    const endStatus = also.calcEnd === undefined ? null : calcEndStatus(also.calcEnd);
    const raw = (body as Body)['result_files'];
    if (raw === undefined) throw Errors.noResultFilesKey();
    const { files, ignored } = parseResultFiles(raw, before.resultNames);
    // check the state before writing blobs, so that a late call stores nothing
    const first: StepName = endStatus !== null ? 'calc-end' : 'send-results';
    if (!stepAllows(first, before)) throw Errors.wrongState(first, before.progress, before.status, siteId);
    if (ignored.length > 0) this.log.warn({ acceptId, siteId, ignored }, 'result files that were not requested were dropped');
    return withContents(this.blobs, files.map((f) => f.content), (sha) => this.store.blobVisibleTo(user.id, sha), (stored) => {
      const outputs: CalcFile[] = files.map((f, i) => {
        const b = stored[i];
        if (!b) return { name: f.name, direction: 'out', sha256: null, size: 0, mime1: f.mime1, mime2: f.mime2 };
        return { name: f.name, direction: 'out', sha256: b.sha256, size: b.size, mime1: f.mime1, mime2: f.mime2 };
      });
      return this.atomically(() => {
        // read again: other calls may have run while the files were written
        let c = this.remoteCalc(user, siteId, acceptId, first, attempt);
        if (endStatus !== null) c = this.step(user, siteId, acceptId, 'calc-end', { status: endStatus }, attempt, undefined, c);
        const sent = this.step(user, siteId, acceptId, 'send-results', { outputs }, attempt, undefined, c);
        return { calc: also.endSend ? this.step(user, siteId, acceptId, 'end-send', {}, attempt, undefined, sent) : sent, ignored };
      });
    });
  }

  endSend(user: User, body: unknown): Calc {
    const { acceptId, siteId, attempt } = this.remoteIds(body);
    const c = this.remoteCalc(user, siteId, acceptId, 'end-send', attempt);
    const result = (body as Body)['result'];
    if (result === undefined) throw Errors.noResultKey();
    if (result !== 'end send') throw Errors.unknownEndSendResult(String(result));
    return this.step(user, siteId, acceptId, 'end-send', {}, attempt, undefined, c);
  }

  // ---------------------------------------------------------------- timers

  /** The 30-minute rule: an unstarted calc ends abnormal with an explanation. Returns how many. */
  async expireUnstarted(): Promise<number> {
    const cfg = this.config.current();
    const minutes = cfg.expireMinutes;
    let n = 0;
    for (const c of this.store.unstartedBefore(this.opts.now() - minutes * 60_000)) {
      const why = c.allowedAt === null
        ? `the workflow side did not allow it (allow-wait-calc) within ${minutes} minutes of registration`
        : `no polling program of site "${c.site}" took it within ${minutes} minutes of registration`;
      const text = `distcomp: 計算 ${c.acceptId} は登録から ${minutes} 分以内に外部計算機で開始されなかったため、期限切れとして異常終了しました。\n` +
        `distcomp: calc ${c.acceptId} expired: ${why}.\n`;
      const done = await this.blobs.withBlobs([Buffer.from(text, 'utf8')], ([b]) => {
        const file: CalcFile = { name: STDERR_FILE, direction: 'out', sha256: b!.sha256, size: b!.size, mime1: 'text/plain;', mime2: 'charset=utf-8' };
        return this.store.expire(c.acceptId, `expired: ${why}`, file);
      });
      if (done) {
        n++;
        this.log.info({ acceptId: c.acceptId, siteId: c.site, from: 'not start', progress: 'got return', status: 'abnormal', event: 'expired', reason: why }, 'calc state change');
        this.hub.notify(calcKey(c.acceptId));
      }
    }
    return n;
  }

  /**
   * Lease expiry: a leased calc in flight whose agent has not been heard from for the lease
   * plus the grace period ends got return / abnormal, with a stderr file that says why (so even
   * the deployed workflow program exits 1 with the explanation). Returns how many.
   */
  async expireLeases(): Promise<number> {
    const { leaseMs, graceMs } = this.leaseSettings();
    let n = 0;
    for (const c of this.store.leasesExpired(this.opts.now(), graceMs)) {
      const last = c.heartbeatAt === null ? 'never' : new Date(c.heartbeatAt).toISOString();
      const silentS = c.heartbeatAt === null ? null : Math.round((this.opts.now() - c.heartbeatAt) / 100) / 10;
      const why = `the polling agent of site "${c.site}" (attempt ${c.attempt}) was not heard from for ${silentS ?? '?'} s ` +
        `(last heartbeat ${last}, server clock; lease ${leaseMs / 1000} s + grace ${graceMs / 1000} s) while the calc was "${c.progress}"; ` +
        'the command may still have run on the external computer, but its results will not be accepted';
      const text = `distcomp: 計算 ${c.acceptId} は外部計算機のエージェントとの通信が途絶えたまま猶予時間を過ぎたため、異常終了しました。\n` +
        `distcomp: calc ${c.acceptId} ended abnormal: ${why}.\n`;
      const done = await this.blobs.withBlobs([Buffer.from(text, 'utf8')], ([b]) => {
        const file: CalcFile = { name: STDERR_FILE, direction: 'out', sha256: b!.sha256, size: b!.size, mime1: 'text/plain;', mime2: 'charset=utf-8' };
        return this.store.expireLease(c, graceMs, `lease expired: ${why}`, file);
      });
      if (done) {
        n++;
        this.log.info({ acceptId: c.acceptId, siteId: c.site, attempt: c.attempt, from: c.progress, progress: 'got return', status: 'abnormal', event: 'lease expired', reason: why }, 'calc state change');
        this.hub.notify(calcKey(c.acceptId));
      }
    }
    return n;
  }

  /** At start: the relay's own downtime does not count against agents' leases. */
  forgiveDowntime(): number {
    const n = this.store.extendLeases(this.opts.now() + this.leaseSettings().leaseMs);
    if (n > 0) this.log.info({ leases: n }, 'leases extended by one lease period after the relay was down');
    return n;
  }

  /** Removes collected and cancelled calcs for good once the retention has passed. */
  purge(): number {
    const unused = this.store.purgeDeleted(this.opts.now() - this.opts.collectedRetentionMs);
    return unused.filter((sha) => this.blobs.removeIfUnused(sha, () => this.store.blobInUse(sha))).length;
  }
}
