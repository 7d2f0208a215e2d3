// One HTTP/1.1 request to a relay, over Node's own node:http / node:https, with the deadlines
// our clients need and a private keep-alive Agent (never Node's global one).
//
// Why not undici (used here until 2026-11): importing it cost ~170 ms of every process start on
// our 2-CPU machines (`node -e "await import('undici')"` 0.29 s vs 0.12 s for an empty
// script), more than all the round trips of a `distcomp submit`; and its WebAssembly HTTP
// parser made short-lived processes wait for V8's background tier-up before they could exit.
// node:http is built into the node binary. The deadlines follow what undici did, so that
// retries and messages stay the same:
//
// - connect: a new connection (TCP, and TLS for https) must be up within connectTimeoutMs;
// - headers: the answer's headers must come within `headersTimeoutMs` of the request being
//   sent; while a streamed body is still being sent, every chunk that goes out restarts this
//   wait, so a long upload is not cut, but one that stalls is;
// - body: once the answer has begun, the relay may stay silent at most bodyTimeoutMs between
//   two pieces of it; time the caller takes to read (the body's buffer is full) is not counted.
import http from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { finished, pipeline } from 'node:stream';
import type { Readable } from 'node:stream';

/** Codes of the failures this module detects itself (Node's own, like ECONNREFUSED, pass through). */
export type TransportErrorCode = 'CONNECT_TIMEOUT' | 'HEADERS_TIMEOUT' | 'BODY_TIMEOUT' | 'TRANSPORT_CLOSED' | 'BODY_INCOMPLETE';

export class TransportError extends Error {
  override readonly name = 'TransportError';
  constructor(readonly code: TransportErrorCode, message: string) {
    super(message);
  }
}

/** The caller's AbortSignal fired; `cause` is the signal's reason. Named as the platform names it. */
export class RequestAbortedError extends Error {
  override readonly name = 'AbortError';
  readonly code = 'ABORT_ERR';
  constructor(reason: unknown) {
    super('the request was aborted', { cause: reason });
  }
}

export interface TransportOptions {
  /** Verify the server's TLS certificate. */
  verifyTls: boolean;
  /** The CA certificates (PEM) to trust instead of Node's default set; undefined = the default set. */
  ca: string[] | undefined;
  /** Time to open a TCP (+TLS) connection, ms. */
  connectTimeoutMs: number;
  /** Default time to wait for an answer's headers once the request is sent, ms. */
  headersTimeoutMs: number;
  /** Longest silence of the relay while an answer's body streams, ms. */
  bodyTimeoutMs: number;
  /** How long an idle connection is kept for reuse, ms (shortened by a server's `Keep-Alive: timeout=` hint). */
  keepAliveMs: number;
}

export interface TransportRequest {
  method: string;
  /** An absolute http(s) URL. */
  url: string;
  headers: Record<string, string>;
  /** A whole body (sent with Content-Length) or a stream (sent chunked). */
  body?: string | Buffer | Readable;
  signal?: AbortSignal;
  /** This request's wait for the answer's headers, ms (long polls add their hold). @default TransportOptions.headersTimeoutMs */
  headersTimeoutMs?: number;
}

export interface TransportResponse {
  status: number;
  /** Lower-case names, as Node gives them. */
  headers: http.IncomingHttpHeaders;
  /** The answer's body; read it, pipe it, or drain() it, so the connection can be reused. */
  body: Readable;
  /** The whole body as UTF-8 text. */
  text(): Promise<string>;
  /** Reads the body to its end and drops it. */
  drain(): Promise<void>;
}

// node:https loads node:tls and the crypto bindings: paid only by clients of an https relay
const requireBuiltin = createRequire(import.meta.url);

export class HttpTransport {
  private httpAgent: http.Agent | null = null;
  private httpsAgent: HttpsAgent | null = null;
  private closed = false;

  constructor(private readonly o: TransportOptions) {}

  private agentFor(tls: boolean): http.Agent {
    // `timeout` of a keep-alive Agent is the idle time of a pooled connection (Node applies it
    // when the socket goes back to the pool; it only emits events while a request runs)
    const common = { keepAlive: true, timeout: this.o.keepAliveMs };
    if (!tls) return (this.httpAgent ??= new http.Agent(common));
    if (this.httpsAgent === null) {
      const https = requireBuiltin('node:https') as typeof import('node:https');
      this.httpsAgent = new https.Agent({ ...common, rejectUnauthorized: this.o.verifyTls, ...(this.o.ca ? { ca: this.o.ca } : {}) });
    }
    return this.httpsAgent;
  }

  /** Sends one request; resolves once the answer's headers are in (the body is left to the caller). */
  request(r: TransportRequest): Promise<TransportResponse> {
    return new Promise<TransportResponse>((resolve, reject) => {
      if (this.closed) return reject(new TransportError('TRANSPORT_CLOSED', 'the client was closed'));
      if (r.signal?.aborted) return reject(new RequestAbortedError(r.signal.reason));
      const url = new URL(r.url);
      const tls = url.protocol === 'https:';
      const agent = this.agentFor(tls);
      const mod: typeof http = tls ? (requireBuiltin('node:https') as typeof http) : http;
      const headersMs = r.headersTimeoutMs ?? this.o.headersTimeoutMs;

      let res: http.IncomingMessage | null = null;
      let settled = false;
      let connectTimer: NodeJS.Timeout | undefined;
      let bodyTimer: NodeJS.Timeout | undefined;
      const headersTimer = setTimeout(() => fail(new TransportError('HEADERS_TIMEOUT', `no answer within ${headersMs} ms`)), headersMs);
      const whole = typeof r.body === 'string' || Buffer.isBuffer(r.body) ? r.body : null;
      const stream = whole === null && r.body !== undefined ? (r.body as Readable) : null;

      let req: http.ClientRequest;
      try {
        req = mod.request(url, { method: r.method, headers: r.headers, agent });
      } catch (err) {
        // e.g. a header value Node refuses (ERR_INVALID_CHAR): nothing was sent
        clearTimeout(headersTimer);
        return reject(err as Error);
      }

      function clearTimers(): void {
        clearTimeout(headersTimer);
        clearTimeout(connectTimer);
        clearTimeout(bodyTimer);
      }
      function fail(err: Error): void {
        clearTimers();
        r.signal?.removeEventListener('abort', onAbort);
        if (!settled) {
          settled = true;
          req.destroy(err);
          stream?.destroy();
          reject(err);
        } else if (res !== null && !res.complete) {
          // the answer has begun: its reader learns of the failure
          res.destroy(err);
        }
      }
      function onAbort(): void {
        fail(new RequestAbortedError(r.signal?.reason));
      }
      r.signal?.addEventListener('abort', onAbort, { once: true });

      req.on('error', fail);
      req.on('socket', (socket: Socket) => {
        if (req.reusedSocket) return;
        connectTimer = setTimeout(() => fail(new TransportError('CONNECT_TIMEOUT', `no connection to ${url.host} within ${this.o.connectTimeoutMs} ms`)), this.o.connectTimeoutMs);
        socket.once(tls ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
      });
      // the whole request is out: the full wait for the answer starts now
      req.on('finish', () => headersTimer.refresh());

      req.on('response', (m: http.IncomingMessage) => {
        clearTimeout(headersTimer);
        clearTimeout(connectTimer);
        res = m;
        settled = true;
        const socket = m.socket;
        const bodyMs = this.o.bodyTimeoutMs;
        const onData = (): void => {
          bodyTimer?.refresh();
        };
        bodyTimer = setTimeout(function check() {
          if (m.complete) return;
          // a full buffer means the reader is the slow one, not the relay
          if (m.readableLength >= m.readableHighWaterMark) return void bodyTimer?.refresh();
          fail(new TransportError('BODY_TIMEOUT', `the answer's body stalled for ${bodyMs} ms`));
        }, bodyMs);
        socket?.on('data', onData);
        const stopBodyWatch = (): void => {
          clearTimeout(bodyTimer);
          socket?.off('data', onData);
          r.signal?.removeEventListener('abort', onAbort);
        };
        // on 'end' itself: the connection may go back to the pool right after it
        m.once('end', stopBodyWatch);
        m.once('close', stopBodyWatch);
        resolve(answer(m));
      });

      if (stream !== null) {
        // each chunk handed to the socket shows the upload is moving (undici did the same)
        stream.on('data', () => headersTimer.refresh());
        pipeline(stream, req, (err) => {
          if (err) fail(err);
        });
      } else if (whole !== null) {
        req.setHeader('content-length', Buffer.byteLength(whole));
        req.end(whole);
      } else {
        req.end();
      }
    });
  }

  /** Refuses further requests and destroys every connection, idle or busy. */
  close(): void {
    this.closed = true;
    this.httpAgent?.destroy();
    this.httpsAgent?.destroy();
  }
}

function answer(m: http.IncomingMessage): TransportResponse {
  return {
    status: m.statusCode ?? 0,
    headers: m.headers,
    body: m,
    text(): Promise<string> {
      // settled on 'end' itself: stream.finished() would also wait for 'close', which a
      // keep-alive answer emits only later (~5 ms on a busy machine, for every call)
      return new Promise<string>((resolve, reject) => {
        const incomplete = (): TransportError => new TransportError('BODY_INCOMPLETE', 'the connection closed before the whole answer came');
        if (m.destroyed) return reject(m.errored ?? incomplete());
        const chunks: Buffer[] = [];
        m.on('data', (c: Buffer) => chunks.push(c));
        m.once('error', reject);
        // a connection closed mid-body can end the stream without an error: do not take half an answer
        m.once('end', () => (m.complete ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(incomplete())));
        m.once('close', () => reject(m.errored ?? incomplete())); // no effect after 'end'
      });
    },
    async drain(): Promise<void> {
      await new Promise<void>((resolve, reject) => {
        finished(m.resume(), (err) => (err ? reject(err) : resolve()));
      });
    },
  };
}
