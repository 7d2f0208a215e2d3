// One class per way a call to a relay can fail. Callers branch on the class, never on
// message text: `RelayUnreachable` and `RelayUnavailable` are worth retrying (see
// retry-policy.ts), the others are answers that retrying cannot change.
import type { WireCode } from '../protocol/errors.ts';

export abstract class ClientError extends Error {
  /** The endpoint called, e.g. `calc-request` (never with a query string: no secrets in messages). */
  abstract readonly endpoint: string;
}

/** No answer at all: connection refused or reset, DNS failure, timeout. */
export class RelayUnreachable extends ClientError {
  override readonly name = 'RelayUnreachable';
  constructor(readonly endpoint: string, readonly url: string, readonly reason: string, options?: { cause?: unknown }) {
    super(`cannot reach ${url}: ${reason}`, options);
  }
}

/** The TLS handshake failed (untrusted or expired certificate, wrong host name): not retried. */
export class RelayTlsFailure extends ClientError {
  override readonly name = 'RelayTlsFailure';
  constructor(readonly endpoint: string, readonly url: string, readonly reason: string, options?: { cause?: unknown }) {
    super(`TLS check of ${url} failed: ${reason}`, options);
  }
}

/**
 * An HTTP error status that is not an envelope answer of the protocol (a proxy's 502, a
 * gateway's 504, a 429). `retryAfterMs` carries a Retry-After header when there was one.
 */
export class RelayUnavailable extends ClientError {
  override readonly name = 'RelayUnavailable';
  constructor(readonly endpoint: string, readonly httpStatus: number, readonly body: string, readonly retryAfterMs: number | null = null) {
    super(`status code = ${httpStatus} / reason = ${body}`);
  }
}

/** HTTP 403: the token is missing, unknown, revoked, or a login was refused. */
export class RelayRefused extends ClientError {
  override readonly name = 'RelayRefused';
  constructor(readonly endpoint: string, readonly httpStatus: number, readonly code: WireCode | null, readonly body: string) {
    super(`status code = ${httpStatus} / reason = ${body}`);
  }
}

/**
 * The relay answered with an envelope whose code is not 200: the protocol's way of saying
 * no (unknown site "400", nothing to do "0300", wrong state 401, ...).
 */
export class ProtocolFailure extends ClientError {
  override readonly name = 'ProtocolFailure';
  constructor(
    readonly endpoint: string,
    readonly httpStatus: number,
    readonly code: WireCode,
    /** The envelope's message, verbatim. */
    readonly protocolMessage: string,
    /** errors[0] as received, for extra fields. */
    readonly entry: Record<string, unknown> = {},
  ) {
    super(`code = ${String(code)} / message = ${protocolMessage}`);
  }
}

/** The answer was not what the protocol says (not JSON, no envelope, a field missing). */
export class BadAnswer extends ClientError {
  override readonly name = 'BadAnswer';
  constructor(readonly endpoint: string, readonly httpStatus: number, readonly detail: string, options?: { cause?: unknown }) {
    super(`unexpected answer from ${endpoint} (HTTP ${httpStatus}): ${detail}`, options);
  }
}

/** The caller aborted the call (shutdown, drain). */
export class CallAborted extends ClientError {
  override readonly name = 'CallAborted';
  constructor(readonly endpoint: string, options?: { cause?: unknown }) {
    super(`${endpoint}: call aborted`, options);
  }
}
