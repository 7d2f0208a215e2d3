// The relay's rules: what each protocol call may do to a calc, given the configuration and
// the caller. Routes translate HTTP to these calls and back; the store makes each state
// change one guarded statement; the hub wakes long polls.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import {
  STDERR_FILE, missingResultEntry, parseAddCalcInfoBody, parseResultFiles,
} from '../protocol/calc-info.ts';
import { Errors, type ProtocolError } from '../protocol/errors.ts';
import { CALC_END_RESULTS, IN_FLIGHT, STEPS, type StepName } from '../protocol/states.ts';
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
  collectedRetentionMs: 600_000,
  now: Date.now,
};

type Body = Record<string, unknown>;

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

  private logChange(c: Calc, user: User | null, from: string, event: string): void {
    this.log.info({ acceptId: c.acceptId, siteId: c.site, user: user?.name, from, progress: c.progress, status: c.status, event }, 'calc state change');
    this.hub.notify(calcKey(c.acceptId));
  }

  // ---------------------------------------------------------------- workflow side

  async register(user: User, body: unknown): Promise<Calc> {
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
      return this.store.insertCalc({
        acceptId: randomUUID(), userId: user.id, site: info.site, command: info.command,
        parameters: info.parameters, resultNames: info.resultNames, inputs,
      });
    });
    this.logChange(calc, user, '-', 'registered');
    return calc;
  }

  private acceptIdFromBody(body: unknown): string {
    if (typeof body !== 'object' || body === null || !('accept_id' in body)) throw Errors.noAcceptIdInBody();
    const id = (body as Body)['accept_id'];
    if (typeof id !== 'string' || id === '') throw Errors.noAcceptIdInBody();
    return id;
  }

  allow(user: User, body: unknown): Calc {
    const id = this.acceptIdFromBody(body);
    const r = this.store.allow(id, user.id);
    if (!r.ok) {
      if (!r.found) throw Errors.unknownAcceptId(id);
      if (r.found.progress !== 'not start') throw Errors.alreadyStarted(id);
      throw Errors.alreadyAllowed(id);
    }
    this.logChange(r.calc, user, 'not start', 'allowed');
    this.hub.notify(siteKey(r.calc.site, user.id));
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
    if (!c) throw Errors.noInformation(acceptId);
    return c;
  }

  /**
   * calc-progress with our `wait` extension: answers as soon as progress differs from
   * `since` (or at once without `since`), else after `waitMs`.
   */
  async waitProgress(user: User, acceptId: string, since: string | undefined, waitMs: number, signal: AbortSignal): Promise<Calc> {
    const deadline = this.opts.now() + Math.min(waitMs, this.opts.maxWaitMs);
    for (;;) {
      const c = this.lookup(user, acceptId);
      const remaining = deadline - this.opts.now();
      if (since === undefined || c.progress !== since || remaining <= 0 || signal.aborted) return c;
      await this.hub.wait(calcKey(acceptId), Math.min(remaining, 5000), signal);
    }
  }

  /** get-calc-result: the result files once progress is `got return`; then the calc is collected. */
  async result(user: User, acceptId: string, asRefs = false): Promise<Record<string, unknown>> {
    let c = this.store.getCalc(acceptId, user.id);
    if (!c) {
      const gone = this.store.getCalcAnyState(acceptId, user.id);
      const again = gone?.deleteReason === 'collected' && gone.deletedAt !== null &&
        gone.deletedAt > this.opts.now() - this.opts.collectedRetentionMs;
      if (!again) throw Errors.noInformation(acceptId);
      c = gone;
    }
    if (c.progress !== 'got return') throw Errors.cannotReturn(c.progress, acceptId);
    const stored = new Map(this.store.files(acceptId, 'out').map((f) => [f.name, f]));
    const out: Record<string, unknown> = {};
    const names = [...c.resultNames, ...[...stored.keys()].filter((n) => !c.resultNames.includes(n))];
    for (const name of names) {
      const f = stored.get(name);
      if (!f) out[name] = missingResultEntry(name);
      else if (f.sha256 === null) out[name] = { content: '', mimetype1: f.mime1, mimetype2: f.mime2 };
      else if (asRefs) out[name] = { blob: f.sha256, size: f.size, mimetype1: f.mime1, mimetype2: f.mime2 };
      else out[name] = { content: new Base64Of(f.sha256, f.size), mimetype1: f.mime1, mimetype2: f.mime2 };
    }
    if (c.deletedAt === null) {
      const r = this.store.markDeleted(acceptId, user.id, 'collected');
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

  /** calc-request, with our `wait` extension (long poll). Returns the claimed calc. */
  async request(user: User, siteId: string, waitMs: number, signal: AbortSignal): Promise<Calc> {
    this.checkSite(user, siteId);
    const deadline = this.opts.now() + Math.min(Math.max(waitMs, 0), this.opts.maxWaitMs);
    for (;;) {
      if (signal.aborted) throw Errors.nothingToDo(siteId);
      const c = this.store.claimNext(siteId, user.id, this.opts.claimMs);
      if (c) {
        this.log.info({ acceptId: c.acceptId, siteId, user: user.name, attempt: c.attempt, event: 'claimed' }, 'calc claimed');
        return c;
      }
      const remaining = deadline - this.opts.now();
      if (remaining <= 0) throw Errors.nothingToDo(siteId);
      await this.hub.wait(siteKey(siteId, user.id), Math.min(remaining, 5000), signal);
    }
  }

  /** The calc of a remote-side call, after the deployed checks in the deployed order. */
  private remoteCalc(user: User, siteId: string, acceptId: string): Calc {
    this.checkSite(user, siteId);
    const c = this.store.getCalc(acceptId, user.id);
    if (!c || c.site !== siteId) throw Errors.remoteUnknownAcceptId(acceptId, siteId);
    if (c.allowedAt === null) throw Errors.notAllowedYet(siteId);
    return c;
  }

  private step(user: User, siteId: string, acceptId: string, name: StepName, extra: { status?: Calc['status']; outputs?: CalcFile[] } = {}): Calc {
    const before = this.remoteCalc(user, siteId, acceptId);
    const s = STEPS[name];
    const r = this.store.transition({
      acceptId, userId: user.id, from: s.from, orAbnormal: 'orAbnormal' in s ? s.orAbnormal : false, to: s.to, kind: name, ...extra,
    });
    if (!r.ok) {
      const found = r.found ?? before;
      throw Errors.wrongState(name, found.progress, found.status, siteId);
    }
    this.logChange(r.calc, user, before.progress, name);
    return r.calc;
  }

  /** calc-params: the calc-info, with parameter files as base64. */
  params(user: User, siteId: string, acceptId: string, asRefs = false): Record<string, unknown> {
    const c = this.step(user, siteId, acceptId, 'calc-params');
    const files = this.store.files(acceptId, 'in');
    return {
      command: c.command,
      'remote-site': c.site,
      parameters: c.parameters,
      parameter_files: Object.fromEntries(files.map((f) => {
        if (f.sha256 === null) return [f.name, ['', '', '']];
        if (asRefs) return [f.name, { blob: f.sha256, size: f.size, mimetype1: f.mime1, mimetype2: f.mime2 }];
        return [f.name, [new Base64Of(f.sha256, f.size), f.mime1, f.mime2]];
      })),
      result_files: Object.fromEntries(c.resultNames.map((n) => [n, { content: '', mimetype1: '', mimetype2: '' }])),
    };
  }

  private remoteIds(body: unknown): { acceptId: string; siteId: string } {
    const acceptId = this.acceptIdFromBody(body);
    const siteId = str(body as Body, 'site_id');
    if (!siteId) throw Errors.noSiteIdInBody();
    return { acceptId, siteId };
  }

  simpleStep(user: User, name: 'calc-params-complete' | 'calc-start', body: unknown): Calc {
    const { acceptId, siteId } = this.remoteIds(body);
    return this.step(user, siteId, acceptId, name);
  }

  calcEnd(user: User, body: unknown): Calc {
    const { acceptId, siteId } = this.remoteIds(body);
    this.remoteCalc(user, siteId, acceptId);
    const result = (body as Body)['result'];
    if (result === undefined) throw Errors.noResultKey();
    const status = typeof result === 'string' ? CALC_END_RESULTS[result] : undefined;
    if (!status) throw Errors.unknownCalcEndResult(String(result));
    return this.step(user, siteId, acceptId, 'calc-end', { status });
  }

  async sendResults(user: User, body: unknown): Promise<{ calc: Calc; ignored: string[] }> {
    const { acceptId, siteId } = this.remoteIds(body);
    const before = this.remoteCalc(user, siteId, acceptId);
    const raw = (body as Body)['result_files'];
    if (raw === undefined) throw Errors.noResultFilesKey();
    const { files, ignored } = parseResultFiles(raw, before.resultNames);
    // check the state before writing blobs, so that a late call stores nothing
    const s = STEPS['send-results'];
    if (!s.from.includes(before.progress as never) && !(before.status === 'abnormal' && IN_FLIGHT.includes(before.progress))) {
      throw Errors.wrongState('send-results', before.progress, before.status, siteId);
    }
    if (ignored.length > 0) this.log.warn({ acceptId, siteId, ignored }, 'result files that were not requested were dropped');
    return withContents(this.blobs, files.map((f) => f.content), (sha) => this.store.blobVisibleTo(user.id, sha), (stored) => {
      const outputs: CalcFile[] = files.map((f, i) => {
        const b = stored[i];
        if (!b) return { name: f.name, direction: 'out', sha256: null, size: 0, mime1: f.mime1, mime2: f.mime2 };
        return { name: f.name, direction: 'out', sha256: b.sha256, size: b.size, mime1: f.mime1, mime2: f.mime2 };
      });
      return { calc: this.step(user, siteId, acceptId, 'send-results', { outputs }), ignored };
    });
  }

  endSend(user: User, body: unknown): Calc {
    const { acceptId, siteId } = this.remoteIds(body);
    this.remoteCalc(user, siteId, acceptId);
    const result = (body as Body)['result'];
    if (result === undefined) throw Errors.noResultKey();
    if (result !== 'end send') throw Errors.unknownEndSendResult(String(result));
    return this.step(user, siteId, acceptId, 'end-send');
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

  /** Removes collected and cancelled calcs for good once the retention has passed. */
  purge(): number {
    const unused = this.store.purgeDeleted(this.opts.now() - this.opts.collectedRetentionMs);
    return unused.filter((sha) => this.blobs.removeIfUnused(sha, () => this.store.blobInUse(sha))).length;
  }
}
