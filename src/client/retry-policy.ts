// The one retry policy of every relay client: ONE table of the conditions worth retrying,
// and ONE jittered, abortable wait between tries. Nothing else in the code base loops on
// failures by itself.
//
// The interval is constant (not exponential) on purpose: the manual's `retry:COUNT,INTERVAL`
// tells the administrator "COUNT more tries, INTERVAL seconds apart", and the default
// (5 tries, 60 s) already spans five minutes of outage. Jitter (±10 %) keeps many agents
// that lost the same relay from coming back in lock-step.
import { CallAborted, ClientError, RelayUnavailable, RelayUnreachable } from './client-errors.ts';

/** Error codes (Node's `err.code`, also found on `err.cause`) that mean "no answer; try again". */
export const RETRYABLE_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH',
  'ENETDOWN', 'EHOSTDOWN', 'EAI_AGAIN', 'ENOTFOUND',
  // http-transport.ts's own deadlines
  'CONNECT_TIMEOUT', 'HEADERS_TIMEOUT', 'BODY_TIMEOUT', 'BODY_INCOMPLETE',
]);

/** HTTP statuses that mean "the relay (or a proxy before it) is there but cannot answer now". */
export const RETRYABLE_HTTP_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

/** Why `err` is worth another try (a short text for the screen), or null when it is not. */
export function retryableReason(err: unknown): string | null {
  if (err instanceof RelayUnreachable) return err.reason;
  if (err instanceof RelayUnavailable) return RETRYABLE_HTTP_STATUSES.has(err.httpStatus) ? `HTTP ${err.httpStatus}` : null;
  if (err instanceof ClientError) return null;
  const code = errorCode(err);
  return code !== null && RETRYABLE_ERROR_CODES.has(code) ? code : null;
}

/** The first `code` found on an error or its chain of causes. */
export function errorCode(err: unknown): string | null {
  for (let e = err, depth = 0; e !== null && e !== undefined && depth < 5; depth++) {
    const c = (e as { code?: unknown }).code;
    if (typeof c === 'string') return c;
    e = (e as { cause?: unknown }).cause;
  }
  return null;
}

export interface RetryPolicy {
  /** How many more tries after the first failure (the manual's COUNT). @default 5 */
  retries: number;
  /** Wait between tries, ms (the manual's INTERVAL). @default 60000 */
  intervalMs: number;
  /** Relative jitter of each wait, 0..1. @default 0.1 */
  jitter: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 5, intervalMs: 60_000, jitter: 0.1 };

/** The wait before try `retry` (1-based); never negative. */
export function backoffDelay(policy: RetryPolicy, retry: number, random: () => number = Math.random): number {
  void retry; // constant interval: see the header comment
  const j = policy.intervalMs * policy.jitter * (random() * 2 - 1);
  return Math.max(0, Math.round(policy.intervalMs + j));
}

/** Resolves after `ms`, or rejects with CallAborted as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal, what = 'wait'): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new CallAborted(what));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new CallAborted(what));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RetryEvent {
  /** 1-based number of the retry about to be made. */
  retry: number;
  retries: number;
  delayMs: number;
  reason: string;
  error: unknown;
}

export interface RetryHooks {
  signal?: AbortSignal;
  /** Called before each wait: one line per attempt on the agent's screen. */
  onRetry?: (e: RetryEvent) => void;
  random?: () => number;
}

/**
 * Runs `fn` until it succeeds, fails in a way that is not retryable, or the policy's retries
 * are used up (then the last error is thrown as is). An abort stops the wait at once.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, policy: RetryPolicy, hooks: RetryHooks = {}): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const reason = retryableReason(err);
      if (reason === null || attempt >= policy.retries || hooks.signal?.aborted) throw err;
      let delayMs = backoffDelay(policy, attempt + 1, hooks.random);
      if (err instanceof RelayUnavailable && err.retryAfterMs !== null) delayMs = Math.max(delayMs, Math.min(err.retryAfterMs, 10 * policy.intervalMs));
      hooks.onRetry?.({ retry: attempt + 1, retries: policy.retries, delayMs, reason, error: err });
      await sleep(delayMs, hooks.signal, 'retry wait');
    }
  }
}
