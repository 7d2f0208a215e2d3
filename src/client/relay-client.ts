// Typed calls of every endpoint of the relay protocol (webapi-protocol.md), workflow side,
// remote side, and our extensions; shared by `distcomp agent` and `distcomp submit`.
// Each method sends one request (retried under the one retry policy), reads the envelope,
// and either returns what the caller needs or throws one of client-errors.ts.
// The token goes only into the Authorization header: never into a URL, a message or a log.
import { Readable } from 'node:stream';
import { firstEntry, type EnvelopeEntry } from '../protocol/envelope.ts';
import { WHOLE_BODY_MAX } from '../protocol/features.ts';
import { isProgress, type Progress } from '../protocol/states.ts';
import {
  BadAnswer, CallAborted, ProtocolFailure, RelayRefused, RelayTlsFailure, RelayUnavailable, RelayUnreachable,
} from './client-errors.ts';
import { createTransport, DEFAULT_HTTP_OPTIONS, type HttpOptions } from './http-options.ts';
import type { HttpTransport, TransportResponse } from './http-transport.ts';
import { DEFAULT_RETRY_POLICY, errorCode, withRetry, type RetryEvent, type RetryPolicy } from './retry-policy.ts';
import { sendResultsBody, type ResultUpload } from './result-upload.ts';

export const API_PATH = '/mi-distcomp-api/';
/** The public port of the relay (the manual's default); 443 is the documented alternative. */
export const DEFAULT_RELAY_PORT = 50443;
/** Answer header through which our relay lists its extensions. */
export const FEATURES_HEADER = 'x-distcomp-features';

export class BaseUrlError extends Error {
  override readonly name = 'BaseUrlError';
}

/**
 * The relay's origin as the manual builds it: the base URL, plus `:port` when the URL names
 * no port. `https://relay.example` → `https://relay.example:50443`. A URL that names a port
 * keeps it. Only `http(s)://host[:port]` (a trailing `/` is dropped) is accepted.
 */
export function relayOrigin(baseUrl: string, port: number = DEFAULT_RELAY_PORT): string {
  const m = /^(https?):\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]+)(?::(\d{1,5}))?\/?$/.exec(baseUrl.trim());
  if (!m) {
    throw new BaseUrlError(`base url must look like https://host or https://host:port (no path, no user), got ${JSON.stringify(baseUrl)}`);
  }
  const [, scheme, host, given] = m as unknown as [string, string, string, string | undefined];
  const p = given === undefined ? port : Number(given);
  if (!Number.isInteger(p) || p < 1 || p > 65535) throw new BaseUrlError(`port must be 1..65535, got ${given ?? port}`);
  return `${scheme.toLowerCase()}://${host.toLowerCase()}:${p}`;
}

export interface RelayClientOptions {
  /** `http(s)://host[:port]`; see relayOrigin(). */
  baseUrl: string;
  /** Port added when baseUrl names none. @default 50443 */
  port?: number;
  /** The API token (64 hex). null until login() for clients started with a login. */
  token: string | null;
  http?: Partial<HttpOptions>;
  /** Retries of every call, unless a call says otherwise. @default 5 retries, 60 s apart */
  retry?: RetryPolicy;
  /** Told before each retry wait (the agent prints one line per attempt). */
  onRetry?: (e: RetryEvent & { endpoint: string }) => void;
  /** Told about every request sent (the agent's `debug` view). Gets the URL without secrets. */
  onSend?: (e: { method: string; url: string; endpoint: string }) => void;
  /** User-Agent header. @default "distcomp" */
  userAgent?: string;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Overrides the client's policy for this call; false = a single try. */
  retry?: RetryPolicy | false;
}

/** The lease of a lease-aware claim (ours), as the relay states it. */
export interface LeaseTerms {
  attempt: number;
  /** How long one heartbeat holds the calc, ms. */
  leaseMs: number;
  /** How long after the lease ran out the relay still waits before ending the calc abnormal, ms. */
  graceMs: number;
  /** How often to heartbeat, ms. */
  heartbeatMs: number;
  /** The relay's clock at the answer (display only: expiry is judged by the relay alone). */
  serverTime: number | null;
}

/** A calc handed to this poller by calc-request. */
export interface ClaimedCalc {
  kind: 'calc';
  acceptId: string;
  /** How many times the relay has handed this calc out (ours; null from a deployed relay). */
  attempt: number | null;
  /** The lease, when asked for and the relay grants leases (ours); null otherwise. */
  lease: LeaseTerms | null;
  message: string;
  /**
   * The calc-info, when asked for with `params` and the relay has the `combined` feature (ours);
   * the calc is still `not start`: calcParamsComplete() with `params` takes calc-params' step.
   */
  calcInfo: Record<string, unknown> | null;
}

/** Which inputs come as blob references (the `blobs` feature): those of at least this many bytes. */
export interface RefsPolicy {
  refs?: boolean;
  /** With `refs`: files under this size stay inline (base64). @default 0 (all are references) */
  inlineUnder?: number;
}

/** `result-info.result_files` of an answer (get-calc-result, calc-progress?results=1). */
function resultFilesOf(c: Call, e: Record<string, unknown>): ResultFilesWire {
  const info = e['result-info'] as { result_files?: unknown } | undefined;
  const files = info?.result_files;
  if (typeof files !== 'object' || files === null || Array.isArray(files)) throw new BadAnswer(c.endpoint, 200, 'no result-info.result_files object');
  return files as ResultFilesWire;
}

function refsQuery(o: RefsPolicy): Record<string, string> {
  if (!o.refs) return {};
  return o.inlineUnder ? { blobs: '1', inline_under: String(o.inlineUnder) } : { blobs: '1' };
}

/** Options of remote-side calls: a lease-aware poller names its attempt on each. */
export interface RemoteCallOptions extends CallOptions {
  attempt?: number | null;
}

/** True when the relay says the calc was cancelled by its workflow side (ours: `cancelled: true`). */
export function isCancelled(err: unknown): boolean {
  return err instanceof ProtocolFailure && err.entry['cancelled'] === true;
}

/** True when the relay says this attempt no longer holds the calc (ours: code 409, `lease: "lost"`). */
export function isLeaseLost(err: unknown): boolean {
  return err instanceof ProtocolFailure && err.entry['lease'] === 'lost';
}

function leaseTermsOf(e: Record<string, unknown>): LeaseTerms | null {
  const n = (k: string): number | null => (typeof e[k] === 'number' && Number.isFinite(e[k]) ? (e[k] as number) : null);
  const attempt = n('attempt');
  const leaseMs = n('lease_ms');
  const heartbeatMs = n('heartbeat_ms');
  if (attempt === null || leaseMs === null || heartbeatMs === null || heartbeatMs <= 0) return null;
  return { attempt, leaseMs, graceMs: n('lease_grace_ms') ?? 0, heartbeatMs, serverTime: n('server_time') };
}
/** calc-request's "nothing to do" ("0300"). */
export interface NoCalc {
  kind: 'idle';
  code: string | number;
  message: string;
}

export interface ProgressAnswer {
  progress: Progress;
  /** calc_status, when the relay sends it (ours). */
  status: string | null;
  /** Why a calc ended abnormal, when the relay knows (ours). */
  reason: string | null;
  /** For a leased calc in flight (ours): `alive` or `disconnected, still computing`. */
  liveness: string | null;
  /**
   * With `results` (the `combined` feature): the result files, in the answer that reports got
   * return; the relay has then collected the calc, as after get-calc-result.
   */
  files?: ResultFilesWire;
}

export type ResultFilesWire = Record<string, { content: string; mimetype1: string; mimetype2: string }>;

/** The wire calc-info object (see the spec's "The calc-info object"). */
export interface CalcInfoWire {
  command: string;
  'remote-site': string;
  parameters: string;
  /** `[base64, mime type, charset]` (deployed), or a reference to an uploaded blob (ours). */
  parameter_files: Record<string, [string, string, string] | { blob: string; size: number; mimetype1: string; mimetype2: string }>;
  result_files: Record<string, { content: string; mimetype1: string; mimetype2: string }>;
}

interface Answer {
  status: number;
  json: unknown;
  text: string;
}

interface Call {
  method: 'GET' | 'POST';
  endpoint: string;
  query?: Record<string, string>;
  json?: unknown;
  /** A streamed body (built afresh for each try). */
  stream?: () => AsyncIterable<Uint8Array>;
  /** Extra time to wait for the answer, ms (long polls). */
  holdMs?: number;
  auth?: boolean;
}

const TLS_CODE = /CERT|SELF_SIGNED|UNABLE_TO_|ERR_TLS|ERR_SSL|HOSTNAME/;

/** For messages: a body cut to a readable length. */
function clip(text: string): string {
  const t = text.trim();
  return t.length > 600 ? `${t.slice(0, 597)}...` : t;
}

/**
 * If a remote-side step was refused because the calc already moved on (a retried call whose
 * first answer was lost, or a restarted agent), the progress the relay named; else null.
 * Our relay says `... refused: the calc is in progress "running" (status "none") ...`.
 */
export function progressNamedIn(err: unknown): Progress | null {
  if (!(err instanceof ProtocolFailure)) return null;
  const m = /in progress "([^"]+)"/.exec(err.protocolMessage);
  return m && isProgress(m[1]) ? m[1] : null;
}

export class RelayClient {
  /** `scheme://host:port` of the relay. */
  readonly origin: string;
  private token: string | null;
  private readonly transport: HttpTransport;
  private readonly http: HttpOptions;
  private readonly retry: RetryPolicy;
  private readonly userAgent: string;
  private featureSet: ReadonlySet<string> | null = null;

  constructor(private readonly o: RelayClientOptions) {
    this.origin = relayOrigin(o.baseUrl, o.port ?? DEFAULT_RELAY_PORT);
    this.token = o.token;
    this.http = { ...DEFAULT_HTTP_OPTIONS, ...o.http };
    this.transport = createTransport(this.http);
    this.retry = o.retry ?? DEFAULT_RETRY_POLICY;
    this.userAgent = o.userAgent ?? 'distcomp';
  }

  /** Uses this token from now on (after login()). */
  setToken(token: string): void {
    this.token = token;
  }

  /** The URL of an endpoint, with a query (for screens: carries no secret). */
  url(endpoint: string, query: Record<string, string> = {}): string {
    const qs = new URLSearchParams(query).toString();
    return `${this.origin}${API_PATH}${endpoint}${qs ? `?${qs}` : ''}`;
  }

  /** Extensions the relay announced on its last answer; null before the first answer. */
  get features(): ReadonlySet<string> | null {
    return this.featureSet;
  }

  /** Whether calc-request / calc-progress may carry `wait=` (known after the first answer). */
  get longPoll(): boolean {
    return this.has('long-poll');
  }

  /** Ends every connection at once, idle or busy (a call still running fails as RelayUnreachable). */
  async close(): Promise<void> {
    this.transport.close();
  }

  // ------------------------------------------------------------------ transport

  private async once(c: Call, signal: AbortSignal | undefined): Promise<Answer> {
    const url = this.url(c.endpoint, c.query);
    const headers: Record<string, string> = { 'user-agent': this.userAgent, accept: 'application/json' };
    if (c.auth !== false && this.token !== null) headers['authorization'] = `Bearer ${this.token}`;
    let body: string | Buffer | Readable | undefined;
    if (c.json !== undefined) body = JSON.stringify(c.json);
    if (body !== undefined || c.stream) headers['content-type'] = 'application/json';
    this.o.onSend?.({ method: c.method, url, endpoint: c.endpoint });
    let res: TransportResponse;
    let text: string;
    try {
      if (c.stream) {
        // one that ends within WHOLE_BODY_MAX goes whole (one write instead of a chunk per piece and
        // an empty last chunk; the relay then parses it with JSON.parse); a failure to read what
        // the stream sends is this request's failure, as when it streamed
        const start = await headOf(c.stream()[Symbol.asyncIterator](), WHOLE_BODY_MAX);
        body = start.rest === null ? start.head : Readable.from(start.rest, { objectMode: false });
      }
      res = await this.transport.request({
        method: c.method, url, headers, body, signal,
        headersTimeoutMs: this.http.headersTimeoutMs + (c.holdMs ?? 0),
      });
      text = await res.text();
    } catch (err) {
      throw this.transportError(c.endpoint, url, err);
    }
    const feat = res.headers[FEATURES_HEADER];
    const featText = Array.isArray(feat) ? feat.join(',') : feat;
    this.featureSet = new Set((featText ?? '').split(',').map((s) => s.trim()).filter((s) => s !== ''));
    let json: unknown = undefined;
    try {
      json = text === '' ? undefined : (JSON.parse(text) as unknown);
    } catch {
      json = undefined;
    }
    const status = res.status;
    if (status === 403) {
      throw new RelayRefused(c.endpoint, status, firstEntry(json)?.code ?? null, clip(text));
    }
    if (status >= 400 && (status >= 500 || status === 429 || firstEntry(json) === null)) {
      const ra = res.headers['retry-after'];
      const raS = typeof ra === 'string' && /^\d+$/.test(ra) ? Number(ra) * 1000 : null;
      throw new RelayUnavailable(c.endpoint, status, clip(text), raS);
    }
    return { status, json, text };
  }

  /**
   * One raw request (our streaming file endpoints): the answer's body is left to the caller.
   * 403 and 5xx are thrown as for every other call; other statuses are returned.
   */
  async raw(method: 'GET' | 'PUT', endpoint: string, o: { query?: Record<string, string>; body?: Readable; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<TransportResponse> {
    const url = this.url(endpoint, o.query);
    const headers: Record<string, string> = { 'user-agent': this.userAgent, ...o.headers };
    if (this.token !== null) headers['authorization'] = `Bearer ${this.token}`;
    if (o.body) headers['content-type'] = 'application/octet-stream';
    this.o.onSend?.({ method, url, endpoint });
    let res: TransportResponse;
    try {
      res = await this.transport.request({ method, url, headers, body: o.body, signal: o.signal });
    } catch (err) {
      throw this.transportError(endpoint, url, err);
    }
    if (res.status === 403 || res.status >= 500) {
      const text = await res.text().catch(() => '');
      if (res.status === 403) throw new RelayRefused(endpoint, 403, firstEntry(safeJson(text))?.code ?? null, clip(text));
      throw new RelayUnavailable(endpoint, res.status, clip(text), null);
    }
    return res;
  }

  /** The retry policy of this client, for callers that retry whole transfers. */
  get retryPolicy(): RetryPolicy {
    return this.retry;
  }

  private transportError(endpoint: string, url: string, err: unknown): Error {
    const e = err as Error & { name?: string };
    if (e?.name === 'AbortError') return new CallAborted(endpoint, { cause: err });
    const code = errorCode(err);
    if (code !== null && TLS_CODE.test(code)) return new RelayTlsFailure(endpoint, url, `${code}: ${e.message}`, { cause: err });
    const msg = e?.message ?? String(err);
    const reason = code === null || msg.includes(code) ? msg : `${code}: ${msg}`;
    return new RelayUnreachable(endpoint, this.origin, reason, { cause: err });
  }

  private async call(c: Call, o: CallOptions = {}): Promise<Answer> {
    const policy = o.retry === false ? { ...this.retry, retries: 0 } : (o.retry ?? this.retry);
    return withRetry(() => this.once(c, o.signal), policy, {
      signal: o.signal,
      onRetry: (e) => this.o.onRetry?.({ ...e, endpoint: c.endpoint }),
    });
  }

  /** errors[0] of an answer; throws ProtocolFailure unless its code is 200. */
  private ok(c: Call, a: Answer): EnvelopeEntry {
    const entry = firstEntry(a.json);
    if (entry === null) throw new BadAnswer(c.endpoint, a.status, `no {"errors":[{code, message}]} envelope in ${JSON.stringify(clip(a.text))}`);
    if (entry.code !== 200) throw new ProtocolFailure(c.endpoint, a.status, entry.code, entry.message, entry);
    return entry;
  }

  private async envelopeCall(c: Call, o?: CallOptions): Promise<EnvelopeEntry> {
    return this.ok(c, await this.call(c, o));
  }

  private static statusText(c: Call, entry: EnvelopeEntry): string {
    const m = /^status:(.*)$/s.exec(entry.message);
    if (!m) throw new BadAnswer(c.endpoint, 200, `message ${JSON.stringify(entry.message)} is not "status:<value>"`);
    return m[1] as string;
  }

  // ------------------------------------------------------------------ workflow side

  /** POST add-calcinfo: registers a calc; returns its accept_id. */
  async addCalcInfo(calcInfo: CalcInfoWire, o?: CallOptions): Promise<string> {
    const c: Call = { method: 'POST', endpoint: 'add-calcinfo', json: { 'calc-info': calcInfo } };
    const e = await this.envelopeCall(c, o);
    if (typeof e['accept_id'] !== 'string') throw new BadAnswer(c.endpoint, 200, 'no accept_id in the answer');
    return e['accept_id'];
  }

  /**
   * POST add-calcinfo?allow=1 (ours, `combined`): registers the calc and allows it in one call.
   * A relay without that extension ignores the key and only registers (`allowed: false`): then
   * call allowWaitCalc().
   */
  async addCalcInfoAndAllow(calcInfo: CalcInfoWire, o?: CallOptions): Promise<{ acceptId: string; allowed: boolean }> {
    const c: Call = { method: 'POST', endpoint: 'add-calcinfo', query: { allow: '1' }, json: { 'calc-info': calcInfo } };
    const e = await this.envelopeCall(c, o);
    if (typeof e['accept_id'] !== 'string') throw new BadAnswer(c.endpoint, 200, 'no accept_id in the answer');
    return { acceptId: e['accept_id'], allowed: e['allowed'] === true };
  }

  /** POST allow-wait-calc: lets a poller take the calc. */
  async allowWaitCalc(acceptId: string, o?: CallOptions): Promise<void> {
    await this.envelopeCall({ method: 'POST', endpoint: 'allow-wait-calc', json: { accept_id: acceptId } }, o);
  }

  /** POST cancel-wait-calc: deletes the calc (`force` also while it runs). */
  async cancelWaitCalc(acceptId: string, opts: { force?: boolean } & CallOptions = {}): Promise<void> {
    const json: Record<string, string> = { accept_id: acceptId };
    if (opts.force) json['delete'] = 'force';
    await this.envelopeCall({ method: 'POST', endpoint: 'cancel-wait-calc', json }, opts);
  }

  /** GET calc-status: `none`, `completed` or `abnormal` (plus the reason, from our relay). */
  async calcStatus(acceptId: string, o?: CallOptions): Promise<{ status: string; reason: string | null }> {
    const c: Call = { method: 'GET', endpoint: 'calc-status', query: { accept_id: acceptId } };
    const e = await this.envelopeCall(c, o);
    return { status: RelayClient.statusText(c, e), reason: typeof e['reason'] === 'string' ? e['reason'] : null };
  }

  /**
   * GET calc-progress. With `since` and `waitS` (and a relay that long-polls), the answer
   * comes as soon as the progress differs from `since`, or after `waitS` seconds.
   */
  async calcProgress(acceptId: string, opts: { since?: Progress; until?: Progress; waitS?: number; results?: RefsPolicy | null } & CallOptions = {}): Promise<ProgressAnswer> {
    const query: Record<string, string> = { accept_id: acceptId };
    const hold = opts.waitS !== undefined && opts.since !== undefined && this.longPoll;
    if (hold) {
      query['since'] = opts.since as string;
      query['wait'] = String(opts.waitS);
      // ours: held until that progress too (a relay that does not know the key answers at the
      // first change, as before)
      if (opts.until !== undefined) query['until'] = opts.until;
    }
    // ours: the results with the answer that reports got return (a deployed relay ignores the key)
    if (opts.results != null && this.has('combined')) Object.assign(query, { results: '1', ...refsQuery(opts.results) });
    const c: Call = { method: 'GET', endpoint: 'calc-progress', query, holdMs: hold ? (opts.waitS as number) * 1000 : 0 };
    const e = await this.envelopeCall(c, opts);
    const p = RelayClient.statusText(c, e);
    if (!isProgress(p)) throw new BadAnswer(c.endpoint, 200, `unknown progress ${JSON.stringify(p)}`);
    const a: ProgressAnswer = {
      progress: p,
      status: typeof e['calc_status'] === 'string' ? e['calc_status'] : null,
      reason: typeof e['reason'] === 'string' ? e['reason'] : null,
      liveness: typeof e['liveness'] === 'string' ? e['liveness'] : null,
    };
    if (query['results'] !== undefined && p === 'got return' && e['result-info'] !== undefined) a.files = resultFilesOf(c, e);
    return a;
  }

  /** GET get-calc-result: the result files (once progress is `got return`; the relay then collects the calc). */
  /** GET get-calc-result; with `refs` (the `blobs` feature) file contents come as `{blob, size}` references. */
  async getCalcResult(acceptId: string, o: CallOptions & RefsPolicy = {}): Promise<ResultFilesWire> {
    const c: Call = { method: 'GET', endpoint: 'get-calc-result', query: { accept_id: acceptId, ...refsQuery(o) } };
    return resultFilesOf(c, await this.envelopeCall(c, o));
  }

  /** GET get-calcinfo: the relay's dump of the caller's calcs (a debugging aid). */
  async getCalcInfo(o?: CallOptions): Promise<unknown> {
    const c: Call = { method: 'GET', endpoint: 'get-calcinfo' };
    return (await this.call(c, o)).json;
  }

  // ------------------------------------------------------------------ remote side

  /**
   * GET calc-request: claims the next allowed calc of the site. With `waitS` and a relay that
   * long-polls, the relay holds the request until a calc is there or `waitS` has passed.
   * Answers "0300" as `{kind:'idle'}`; throws ProtocolFailure for any other code
   * (e.g. "400": unknown site id).
   */
  async calcRequest(siteId: string, opts: { waitS?: number; lease?: boolean; params?: RefsPolicy | null } & CallOptions = {}): Promise<ClaimedCalc | NoCalc> {
    const query: Record<string, string> = { site_id: siteId };
    const hold = opts.waitS !== undefined && opts.waitS > 0 && this.longPoll;
    if (hold) query['wait'] = String(opts.waitS);
    // ours; a deployed relay ignores an unknown query key (and answers without lease terms)
    if (opts.lease) query['lease'] = '1';
    const withParams = opts.params != null && this.has('combined');
    if (withParams) Object.assign(query, { params: '1', ...refsQuery(opts.params as RefsPolicy) });
    const c: Call = { method: 'GET', endpoint: 'calc-request', query, holdMs: hold ? (opts.waitS as number) * 1000 : 0 };
    const a = await this.call(c, opts);
    const entry = firstEntry(a.json);
    if (entry !== null && String(entry.code) === '0300') return { kind: 'idle', code: entry.code, message: entry.message };
    const e = this.ok(c, a);
    const id = e['accept_id'];
    if (typeof id !== 'string' || id === '') throw new BadAnswer(c.endpoint, a.status, 'code 200 without an accept_id');
    const attempt = typeof e['attempt'] === 'number' ? e['attempt'] : null;
    const ci = withParams ? (a.json as Record<string, unknown>)['calc-info'] : undefined;
    const calcInfo = typeof ci === 'object' && ci !== null && !Array.isArray(ci) ? ci as Record<string, unknown> : null;
    return { kind: 'calc', acceptId: id, attempt, lease: opts.lease ? leaseTermsOf(e) : null, message: e.message, calcInfo };
  }

  /** Whether the relay announced this extension on its last answer. */
  has(feature: string): boolean {
    return this.featureSet?.has(feature) ?? false;
  }

  /**
   * GET calc-params: the calc-info (unchecked: the caller validates it); moves the calc to
   * `sending params`. With `refs` (relays with the `blobs` feature) file contents come as
   * `{blob, size, mimetype1, mimetype2}` references to download with downloadBlob().
   */
  async calcParams(siteId: string, acceptId: string, o: RemoteCallOptions & RefsPolicy = {}): Promise<Record<string, unknown>> {
    const query: Record<string, string> = { site_id: siteId, accept_id: acceptId, ...refsQuery(o) };
    if (o.attempt != null) query['attempt'] = String(o.attempt);
    const c: Call = { method: 'GET', endpoint: 'calc-params', query };
    const a = await this.call(c, o);
    const j = a.json as Record<string, unknown> | undefined;
    const ci = j?.['calc-info'];
    if (typeof ci === 'object' && ci !== null && !Array.isArray(ci)) return ci as Record<string, unknown>;
    this.ok(c, a); // throws the relay's refusal if it was one
    throw new BadAnswer(c.endpoint, a.status, 'no calc-info object in the answer');
  }

  private step(endpoint: string, siteId: string, acceptId: string, extra: Record<string, string>, o: RemoteCallOptions = {}, query?: Record<string, string>): Promise<EnvelopeEntry> {
    const json: Record<string, string | number> = { accept_id: acceptId, site_id: siteId, ...extra };
    if (o.attempt != null) json['attempt'] = o.attempt;
    return this.envelopeCall({ method: 'POST', endpoint, json, ...(query ? { query } : {}) }, o);
  }

  /**
   * POST calc-params-complete: `sending params` → `complete send`. With `combined` (a relay
   * with that feature; ours): `params` takes calc-params' step first (`not start` → `sending
   * params`, for a calc whose calc-info came with its claim) and `start` calc-start's after
   * (→ `running`).
   */
  calcParamsComplete(siteId: string, acceptId: string, o: RemoteCallOptions & { combined?: { params: boolean; start: boolean } } = {}): Promise<EnvelopeEntry> {
    const q = o.combined ? { ...(o.combined.params ? { params: '1' } : {}), ...(o.combined.start ? { start: '1' } : {}) } : undefined;
    return this.step('calc-params-complete', siteId, acceptId, {}, o, q);
  }

  /** POST calc-start: `complete send` → `running`. */
  calcStart(siteId: string, acceptId: string, o?: RemoteCallOptions): Promise<EnvelopeEntry> {
    return this.step('calc-start', siteId, acceptId, {}, o);
  }

  /** POST calc-end: `running` → `calc end`, status completed (`calc end`) or abnormal. */
  calcEnd(siteId: string, acceptId: string, result: 'calc end' | 'abnormal', o?: RemoteCallOptions): Promise<EnvelopeEntry> {
    return this.step('calc-end', siteId, acceptId, { result }, o);
  }

  /**
   * POST send-results: the result files, streamed (file contents are base64-encoded on the
   * fly). Names the relay did not ask for are dropped by it (listed in the answer's `ignored`).
   */
  sendResults(siteId: string, acceptId: string, files: readonly ResultUpload[], o: RemoteCallOptions & { combined?: { calcEnd?: 'calc end' | 'abnormal'; endSend: boolean } } = {}): Promise<EnvelopeEntry> {
    const fields: Record<string, string | number> = { accept_id: acceptId, site_id: siteId };
    if (o.attempt != null) fields['attempt'] = o.attempt;
    // ours (`combined`): calc-end before and end-send after, in the same call
    const query = o.combined ? { ...(o.combined.calcEnd ? { calc_end: o.combined.calcEnd } : {}), ...(o.combined.endSend ? { end_send: '1' } : {}) } : undefined;
    return this.envelopeCall({ method: 'POST', endpoint: 'send-results', stream: () => sendResultsBody(fields, files), ...(query ? { query } : {}) }, o);
  }

  /** POST end-send: → `got return`; the workflow side may now fetch the results. */
  endSend(siteId: string, acceptId: string, o?: RemoteCallOptions): Promise<EnvelopeEntry> {
    return this.step('end-send', siteId, acceptId, { result: 'end send' }, o);
  }

  /**
   * POST x/heartbeat (ours): renews the lease of `attempt`. Throws ProtocolFailure when the
   * relay refuses: see isCancelled() and isLeaseLost(). One try unless the caller says otherwise
   * (a missed heartbeat is made up by the next one).
   */
  async heartbeat(siteId: string, acceptId: string, attempt: number, o: CallOptions = {}): Promise<{ terms: LeaseTerms | null; progress: string | null; liveness: string | null }> {
    const c: Call = { method: 'POST', endpoint: 'x/heartbeat', json: { accept_id: acceptId, site_id: siteId, attempt } };
    const e = await this.envelopeCall(c, { retry: false, ...o });
    return {
      terms: leaseTermsOf(e),
      progress: typeof e['calc_progress'] === 'string' ? e['calc_progress'] : null,
      liveness: typeof e['liveness'] === 'string' ? e['liveness'] : null,
    };
  }

  // ------------------------------------------------------------------ extensions (ours)

  /** POST x/login: a new token for a login id and password (sent without a token). */
  async login(loginId: string, password: string, label: string, o?: CallOptions): Promise<string> {
    const c: Call = { method: 'POST', endpoint: 'x/login', json: { login: loginId, password, label }, auth: false };
    const e = await this.envelopeCall(c, o);
    if (typeof e['token'] !== 'string') throw new BadAnswer(c.endpoint, 200, 'no token in the answer');
    return e['token'];
  }

  /** GET x/features: the extensions and the longest wait the relay accepts. */
  async serverFeatures(o?: CallOptions): Promise<{ features: string[]; maxWaitS: number | null }> {
    const e = await this.envelopeCall({ method: 'GET', endpoint: 'x/features', auth: false }, o);
    const f = Array.isArray(e['features']) ? (e['features'] as unknown[]).filter((x): x is string => typeof x === 'string') : [];
    return { features: f, maxWaitS: typeof e['max_wait_s'] === 'number' ? e['max_wait_s'] : null };
  }

  /** GET x/whoami: the user of the token. */
  async whoami(o?: CallOptions): Promise<string> {
    const e = await this.envelopeCall({ method: 'GET', endpoint: 'x/whoami' }, o);
    return String(e['user'] ?? '');
  }
}


function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Reads `it` until it ends or passes `max` bytes: the whole body (rest null), or what was read
 * followed by the rest of `it`, as one stream of pieces.
 */
async function headOf(it: AsyncIterator<Uint8Array>, max: number): Promise<{ head: Buffer; rest: null } | { head: null; rest: AsyncIterable<Uint8Array> }> {
  const read: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const r = await it.next();
    if (r.done) return { head: Buffer.concat(read, n), rest: null };
    read.push(r.value);
    n += r.value.length;
    if (n > max) {
      return {
        head: null,
        rest: (async function* () {
          try {
            yield* read;
            for (let r2 = await it.next(); !r2.done; r2 = await it.next()) yield r2.value;
          } finally {
            // a request cut short ends `it` too (its files are closed)
            await it.return?.();
          }
        })(),
      };
    }
  }
}
